"""The methods text, Markdown and LaTeX: written from the manifest, exact, and safe to paste."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from capsule import manifest
from capsule.build import BuildOptions, build
from capsule.model import (
    FORMAT_VERSION,
    Activity,
    CallSite,
    Determinism,
    FigureInfo,
    FileEntry,
    Generation,
    GitState,
    Lock,
    Manifest,
    OutputEntry,
    Pin,
    Plan,
    Provenance,
    Step,
    StepRun,
)
from capsule.report.methods_text import (
    INFRASTRUCTURE,
    MAX_DATA_LISTED,
    TABLE_COLUMNS,
    key_packages,
    methods_text,
    render_markdown,
    render_tex,
    tables,
    tex_escape,
)
from capsule.wording import SHORT_HASH
from capsule.wording import size_text as human_size

from conftest import MakeProject, make_environment

HOSTILE = r'Cost "$5" & 10% off_#1 {x} \ ~y^2 <a|b> “q” … ≥ ' + "\N{GREEK SMALL LETTER ALPHA} → é"
CAPSULE_ID = "ab" * 32

# Standard library only: one step reads the data and writes a table and a text file.
TINY = {
    "data/numbers.csv": "x\n1\n2\n3\n",
    "scripts/01_total.py": """
        import csv, pathlib

        def write(rows):
            pathlib.Path("results").mkdir(exist_ok=True)
            pathlib.Path("results/total.csv").write_text("total\\n%d\\n" % sum(rows))
            pathlib.Path("results/note.txt").write_text("done\\n")

        write([int(r["x"]) for r in csv.DictReader(open("data/numbers.csv"))])
    """,
    "capsule.toml": """
        [analysis]
        title = "Totals"
        [files]
        data = ["data/**"]
        outputs = ["results/**"]
        [[steps]]
        script = "scripts/01_total.py"
    """,
}


def _pin(name: str, version: str, imported: bool = True, source: str = "index") -> Pin:
    return Pin(
        name=name,
        version=version,
        source="built" if source == "built" else "index",
        wheel=f"{name}-{version}-py3-none-any.whl",
        wheel_sha256="0" * 64,
        imported=imported,
    )


def _run(name: str, wrote: tuple[str, ...]) -> StepRun:
    return StepRun(
        name=name,
        argv=("python", f"scripts/{name}.py"),
        exit_code=0,
        started_at="t0",
        duration_s=1.0,
        log_stdout=f"logs/{name}.stdout",
        log_stderr=f"logs/{name}.stderr",
        wrote=wrote,
    )


def sample(title: str = "Accuracy vs vocabulary size", data_files: int = 2) -> Manifest:
    """Two steps (a script, a notebook) and a shell step, with pins of every kind."""
    figure = FigureInfo(
        library="matplotlib",
        title=title,
        axis_labels=("size", "accuracy"),
        width_in=6.0,
        height_in=4.0,
        dpi=150.0,
    )
    data = tuple(
        FileEntry(
            path=f"data/part{i}.csv",
            sha256=hashlib.sha256(str(i).encode()).hexdigest(),
            size=1234 * (i + 1),
            role="data",
        )
        for i in range(data_files)
    )
    outputs = (
        OutputEntry("fig/sweep.pdf", "c" * 64, 2_000, "02_plot", "identical"),
        OutputEntry("fig/sweep.png", "d" * 64, 2_000, "02_plot", "identical"),
        OutputEntry("out/copy.txt", "e" * 64, 5, "03_copy", "identical"),
        OutputEntry("tables/t1.csv", "f" * 64, 10, "01_table", "identical"),
    )
    generated = (
        Generation(
            entity="tables/t1.csv",
            activity="01_table/p1",
            seq=2,
            observed="traced",
            call_site=CallSite(file="scripts/01_table.py", line=17, function="write_table"),
        ),
        Generation(
            entity="fig/sweep.pdf",
            activity="02_plot/p2",
            seq=4,
            observed="traced",
            call_site=CallSite(file="nb/02_plot.ipynb", line=35, function="<module>", cell=7),
            figure=figure,
        ),
        Generation(
            entity="fig/sweep.png",
            activity="02_plot/p2",
            seq=5,
            observed="traced",
            call_site=CallSite(file="nb/02_plot.ipynb", line=36, function="<module>", cell=7),
            figure=figure,
        ),
        Generation(entity="out/copy.txt", activity="03_copy", seq=0, observed="snapshot"),
    )
    return Manifest(
        format=FORMAT_VERSION,
        capsule_version="0.1.0",
        name="demo",
        plan=Plan(
            title=title,
            steps=(
                Step(name="01_table", kind="script", path="scripts/01_table.py"),
                Step(name="02_plot", kind="notebook", path="nb/02_plot.ipynb"),
                Step(name="03_copy", kind="command", args=("bash", "copy.sh")),
            ),
            data=("data/**",),
            outputs=("**",),
            exclude=(),
        ),
        determinism=Determinism(
            env=(
                ("OMP_NUM_THREADS", "1"),
                ("OPENBLAS_NUM_THREADS", "1"),
                ("PYTHONHASHSEED", "0"),
                ("SOURCE_DATE_EPOCH", "1700000000"),
                ("TZ", "UTC"),
            ),
            source_date_epoch_from="git commit",
        ),
        environment=make_environment(
            python_version="3.12.4",
            os="Linux-6.1-x86_64",
            os_release="Debian GNU/Linux 12 (bookworm)",
            cpu_model="Some CPU",
            cpu_cores_logical=8,
            cpu_cores_physical=4,
            memory_bytes=16 * 2**30,
            git=GitState(commit="1234abcd" * 5, branch="main", dirty=True, commit_time=1700000000),
        ),
        lock=Lock(
            python_version="3.12.4",
            pins=(
                _pin("contourpy", "1.3.0", imported=False),
                _pin("ipykernel", "6.29.5"),
                _pin("mylib", "0.3.1", source="built"),
                _pin("numpy", "2.1.0"),
                _pin("pillow", "11.0.0"),
                _pin("tornado", "6.4.1"),
            ),
            imported_modules=("PIL", "ipykernel", "mylib", "numpy", "tornado"),
            tool="pip-tools 7.4.1",
        ),
        base_image="python:3.12.4-slim-bookworm",
        files=(
            *data,
            FileEntry(path="scripts/01_table.py", sha256="a" * 64, size=100, role="code"),
        ),
        outputs=outputs,
        steps=(
            _run("01_table", ("tables/t1.csv",)),
            _run("02_plot", ("fig/sweep.pdf", "fig/sweep.png")),
            _run("03_copy", ("out/copy.txt",)),
        ),
        capsule_files=(FileEntry(path="matplotlibrc", sha256="b" * 64, size=1, role="other"),),
        provenance=Provenance(
            activities=(
                Activity(id="01_table/p1", step="01_table", argv=("python", "x")),
                Activity(id="02_plot/p1", step="02_plot", argv=("python", "y")),
                Activity(
                    id="02_plot/p2", step="02_plot", argv=("python", "z"), parent="02_plot/p1"
                ),
                Activity(id="03_copy", step="03_copy", argv=("bash", "copy.sh"), kind="step"),
            ),
            used=(),
            generated=generated,
        ),
    )


def _text(found: Manifest, capsule_id: str = CAPSULE_ID) -> str:
    return "\n\n".join(methods_text(found, capsule_id).paragraphs)


# ── the methods text ──────────────────────────────────────────────────────────────────────


def test_names_python_machine_and_the_packages_that_matter() -> None:
    found = sample()
    text = _text(found)
    assert f"Python {found.lock.python_version} (CPython)" in text
    assert found.environment.os_release in text
    assert "8 logical cores, 16.0 GiB memory" in text
    named = key_packages(found)
    assert [p.name for p in named] == ["mylib", "numpy"]  # pillow is support, tornado infra
    for pin in named:
        assert f"{pin.name} {pin.version}" in text
    assert f"among {len(found.lock.pins)} pinned Python distributions" in text
    for pin in found.lock.pins:
        if pin.name in INFRASTRUCTURE or not pin.imported:
            assert pin.name not in text
    assert "mylib 0.3.1 was built from local source" in text
    assert f"git commit {found.environment.git.commit}" in text  # type: ignore[union-attr]
    assert "with uncommitted changes" in text


def test_support_libraries_are_named_when_nothing_else_is() -> None:
    found = sample()
    only_pillow = tuple(p for p in found.lock.pins if p.name in {"pillow", "ipykernel"})
    found = dataclasses.replace(found, lock=dataclasses.replace(found.lock, pins=only_pillow))
    assert [p.name for p in key_packages(found)] == ["pillow"]
    bare = dataclasses.replace(found, lock=dataclasses.replace(found.lock, pins=()))
    assert "only the Python standard library" in _text(bare)


def test_data_files_by_checksum_prefix_or_counted() -> None:
    found = sample()
    text = _text(found)
    for entry in found.files:
        if entry.role == "data":
            assert f"{entry.path}, {human_size(entry.size)}" in text
            assert entry.sha256[:SHORT_HASH] + "…" in text
    many = sample(data_files=MAX_DATA_LISTED + 1)
    text = _text(many)
    assert f"({MAX_DATA_LISTED + 1} files, " in text
    assert "data/part0.csv" not in text


def test_each_output_is_tied_to_its_code() -> None:
    found = sample()
    text = _text(found)
    assert (
        "scripts/01_table.py (step 01_table) produced the table tables/t1.csv "
        "(line 17, in write_table)." in text
    )
    assert (
        "nb/02_plot.ipynb (step 02_plot) produced the figure “Accuracy vs vocabulary size” as "
        "fig/sweep.pdf (cell 7, line 35) and fig/sweep.png (cell 7, line 36)." in text
    )
    assert "Step 03_copy produced the file out/copy.txt, not traced" in text


def test_determinism_and_capsule_paragraphs() -> None:
    found = sample()
    text = _text(found, "sha256:" + CAPSULE_ID)
    assert "PYTHONHASHSEED=0, TZ=UTC" in text
    assert "single-threaded BLAS and OpenMP (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS=1)" in text
    assert "fixed SVG hash salt" in text
    assert "SOURCE_DATE_EPOCH=1700000000 (the time of git commit 1234abcd1234" in text
    assert "2023-11-14 22:13:20 UTC" in text
    assert f"capsule id sha256:{CAPSULE_ID};" in text
    assert "sha256:sha256" not in text
    assert "“capsule verify demo.capsule”" in text
    assert "each of the 4 outputs bit for bit" in text


def test_sizes_in_the_methods_text_are_decimal() -> None:
    assert [human_size(n) for n in (1, 999, 1000, 529_500, 999_999, 1_234_567)] == [
        "1 byte",
        "999 bytes",
        "1.0 kB",
        "529.5 kB",
        "1.0 MB",
        "1.2 MB",
    ]


# ── tables and Markdown ───────────────────────────────────────────────────────────────────


def test_tables_hold_every_pin_data_file_and_output() -> None:
    found = sample()
    rows = tables(found)
    assert rows["software"][1] == ("ipykernel", "6.29.5", "index", "yes")
    assert len(rows["software"]) == len(found.lock.pins)
    assert rows["data"][0] == ("data/part0.csv", "1.2 kB", found.files[0].sha256)
    assert [r[0] for r in rows["outputs"]] == [o.path for o in found.outputs]
    sites = {r[0]: r[2] for r in rows["outputs"]}
    assert sites["tables/t1.csv"] == "scripts/01_table.py:17 in write_table()"
    assert sites["fig/sweep.pdf"] == "nb/02_plot.ipynb cell 7, line 35"
    assert sites["out/copy.txt"] == "(not traced)"
    for name, columns in TABLE_COLUMNS.items():
        assert all(len(row) == len(columns) for row in rows[name])


def test_markdown_tables_have_one_row_per_entry_and_escape_pipes() -> None:
    found = sample()
    first = found.lock.pins[0]
    found = dataclasses.replace(
        found,
        lock=dataclasses.replace(
            found.lock, pins=(dataclasses.replace(first, version="1|2"), *found.lock.pins[1:])
        ),
    )
    text = render_markdown(found, CAPSULE_ID)
    for paragraph in methods_text(found, CAPSULE_ID).paragraphs:
        assert paragraph in text
    sections = text.split("\n## ")[1:]
    assert [s.splitlines()[0] for s in sections] == ["Software", "Data", "Outputs"]
    counts = {name: len(rows) for name, rows in tables(found).items()}
    for section, name in zip(sections, ("software", "data", "outputs"), strict=True):
        table_lines = [line for line in section.splitlines() if line.startswith("|")]
        assert len(table_lines) == counts[name] + 2  # header and rule
        pipes = len(TABLE_COLUMNS[name]) + 1
        assert all(len(re.findall(r"(?<!\\)\|", line)) == pipes for line in table_lines)
    assert r"| contourpy | 1\|2 | index | no |" in text


# ── LaTeX ─────────────────────────────────────────────────────────────────────────────────


def test_tex_escape_handles_every_special_character() -> None:
    assert tex_escape(r"$ & % _ # { } \ ~ ^") == (
        r"\$ \& \% \_ \# \{ \} \textbackslash{} \textasciitilde{} \textasciicircum{}"
    )
    assert tex_escape('a<b>c|d"') == r'a\textless{}b\textgreater{}c\textbar{}d\texttt{"}'
    assert tex_escape("… ≥ ← é") == r"\ldots{} $\geq$ $\leftarrow$ é"


def test_hostile_title_is_escaped_in_tex() -> None:
    found = sample(title=HOSTILE)
    tex = render_tex(found, CAPSULE_ID)
    assert HOSTILE not in tex
    escaped = tex_escape(HOSTILE)
    assert escaped.replace("_", r"_\allowbreak{}") in tex or escaped in tex
    body = "\n".join(line for line in tex.splitlines() if not line.startswith("%"))
    for raw in ("$5", " & 10", "10% ", "off_#", "{x}", r" \ ", "~y", "^2", "<a", "|b"):
        assert raw not in body.replace(r"\$", "").replace(r"\&", "").replace(r"\%", "")


def test_tex_tables_shorten_hashes() -> None:
    found = sample()
    tex = render_tex(found, CAPSULE_ID, section="Reproducibility")
    assert r"\subsection*{Reproducibility}" in tex
    for entry in found.outputs:
        assert entry.sha256[:SHORT_HASH] in tex
        assert entry.sha256 not in tex


T1_PREAMBLE = "\\usepackage[utf8]{inputenc}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"


def _compile(
    tex: str, folder: Path, preamble: str = T1_PREAMBLE
) -> subprocess.CompletedProcess[str]:
    """Compile the fragment inside a minimal article with pdflatex."""
    (folder / "methods.tex").write_text(tex, encoding="utf-8")
    (folder / "paper.tex").write_text(
        f"\\documentclass{{article}}\n{preamble}"
        "\\begin{document}\n\\input{methods.tex}\n\\end{document}\n",
        encoding="utf-8",
    )
    return subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _need_pdflatex() -> None:
    """Skip without pdflatex, unless CAPSULE_REQUIRE_LATEX=1 asks to fail instead."""
    if shutil.which("pdflatex") is None:
        message = (
            "pdflatex is not installed (Debian: apt-get install texlive-latex-base "
            "texlive-latex-recommended texlive-fonts-recommended)"
        )
        if os.environ.get("CAPSULE_REQUIRE_LATEX") == "1":
            pytest.fail(message + "; CAPSULE_REQUIRE_LATEX=1 requires it")
        pytest.skip(message)


@pytest.mark.slow
@pytest.mark.parametrize(
    "preamble", [T1_PREAMBLE, "\\usepackage{booktabs}\n"], ids=["T1", "default-OT1"]
)
def test_tex_compiles_with_pdflatex(tmp_path: Path, preamble: str) -> None:
    _need_pdflatex()
    result = _compile(render_tex(sample(title=HOSTILE), CAPSULE_ID), tmp_path, preamble)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 0


# ── a real capsule ────────────────────────────────────────────────────────────────────────


@pytest.fixture
def built(make_project: MakeProject, tmp_path: Path) -> tuple[Manifest, str]:
    """A capsule of the tiny analysis: its manifest and capsule id."""
    out = tmp_path / "tiny.capsule"
    summary = build(BuildOptions(source=make_project(TINY), output=out))
    found = manifest.read(out)
    digest = hashlib.sha256((out / "capsule.json").read_bytes()).hexdigest()
    assert summary.capsule_id.removeprefix("sha256:") == digest
    return found, digest


def test_methods_of_a_built_capsule(built: tuple[Manifest, str]) -> None:
    found, digest = built
    text = _text(found, digest)
    assert f"Python {found.environment.python_version}" in text
    assert "only the Python standard library" in text  # the tiny analysis imports nothing else
    (data,) = [f for f in found.files if f.role == "data"]
    assert f"{data.path}, {human_size(data.size)}" in text
    assert data.sha256[:SHORT_HASH] in text
    sites = {g.entity: g.call_site for g in found.provenance.generated}
    for output in found.outputs:
        site = sites[output.path]
        assert site is not None
        assert f"{output.path} (line {site.line}, in {site.function})" in text
        assert f"{site.file} (step {output.step})" in text
    assert f"capsule id sha256:{digest}" in text
    markdown = render_markdown(found, digest)
    assert markdown.count("\n| results/") == len(found.outputs)


@pytest.mark.slow
def test_tex_of_a_built_capsule_compiles(built: tuple[Manifest, str], tmp_path: Path) -> None:
    _need_pdflatex()
    found, digest = built
    folder = tmp_path / "paper"
    folder.mkdir()
    result = _compile(render_tex(found, digest), folder)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (folder / "paper.pdf").is_file()

"""Lineage: which process, which line and which data made each output, read from the manifest."""

from __future__ import annotations

import dataclasses
import json

import pytest

from capsule.errors import EXIT_BAD_INPUT, CapsuleError
from capsule.model import (
    FORMAT_VERSION,
    Activity,
    CallSite,
    Determinism,
    FigureInfo,
    FileEntry,
    Generation,
    Lock,
    Manifest,
    OutputEntry,
    Plan,
    Provenance,
    Step,
    StepRun,
    Usage,
)
from capsule.report.facts import EXTERNAL_NOTE, MISSING_NOTE
from capsule.report.lineage import (
    LINEAGE_FORMAT,
    TABLE_COLUMNS,
    InputRef,
    Lineage,
    LineageError,
    all_lineages,
    lineage,
    render_one,
    render_table,
    to_json,
)

from conftest import make_environment

SHA = {name: name[0] * 64 for name in ("raw", "late", "t1", "fig", "fig2", "copy", "code")}
FIG_SITE = CallSite(file="scripts/02_plot.py", line=66, function="plot_sweep", source_sha256="c")
FIG2_SITE = CallSite(file="notebooks/04.ipynb", line=35, function="<module>", cell=7)
FIGURE = FigureInfo(
    library="matplotlib",
    title="Accuracy vs vocabulary size",
    axis_labels=("vocabulary size", "accuracy"),
    width_in=6.0,
    height_in=4.0,
    dpi=150.0,
)


def _run(name: str, argv: tuple[str, ...], wrote: tuple[str, ...]) -> StepRun:
    return StepRun(
        name=name,
        argv=argv,
        exit_code=0,
        started_at="t0",
        duration_s=1.0,
        log_stdout=f"logs/{name}.stdout",
        log_stderr=f"logs/{name}.stderr",
        wrote=wrote,
    )


def _output(path: str, sha: str, step: str) -> OutputEntry:
    return OutputEntry(path=path, sha256=sha, size=1, step=step, on_disk="identical")


def sample_provenance() -> Provenance:
    """01 reads data/raw.csv and writes tables/t1.csv; 02 plots from it; 03 is a shell step."""
    return Provenance(
        activities=(
            Activity(id="01_table/p1", step="01_table", argv=("python", "scripts/01_table.py")),
            Activity(
                id="02_plot/p1", step="02_plot", argv=("python", "scripts/02_plot.py", "--fast")
            ),
            Activity(
                id="02_plot/p2",
                step="02_plot",
                argv=("python", "-m", "ipykernel_launcher"),
                parent="02_plot/p1",
            ),
            Activity(
                id="03_copy",
                step="03_copy",
                argv=("bash", "scripts/03_copy.sh"),
                kind="step",
            ),
        ),
        used=(
            Usage(activity="01_table/p1", entity="data/raw.csv", seq=1),
            Usage(activity="02_plot/p1", entity="tables/t1.csv", seq=3),
            Usage(activity="02_plot/p1", entity="tables/t1.csv", seq=4),  # read twice: one input
            Usage(activity="02_plot/p1", entity="data/late.csv", seq=9),  # after fig.png
            Usage(activity="02_plot/p2", entity="tables/t1.csv", seq=1),
            Usage(activity="02_plot/p2", entity="/home/x/ext.csv", seq=2, external=True),
        ),
        generated=(
            Generation(entity="tables/t1.csv", activity="01_table/p1", seq=2, observed="traced"),
            Generation(
                entity="fig.png",
                activity="02_plot/p1",
                seq=7,
                observed="traced",
                call_site=FIG_SITE,
                figure=FIGURE,
            ),
            Generation(
                entity="fig2.png",
                activity="02_plot/p2",
                seq=3,
                observed="traced",
                call_site=FIG2_SITE,
            ),
            Generation(entity="out/copy.txt", activity="03_copy", seq=0, observed="snapshot"),
        ),
    )


def sample(provenance: Provenance | None = None) -> Manifest:
    """A small manifest of three steps, with a provenance graph."""
    steps = (
        Step(name="01_table", kind="script", path="scripts/01_table.py"),
        Step(name="02_plot", kind="script", path="scripts/02_plot.py", args=("--fast",)),
        Step(name="03_copy", kind="command", args=("bash", "scripts/03_copy.sh")),
    )
    return Manifest(
        format=FORMAT_VERSION,
        capsule_version="0.1.0",
        name="demo",
        plan=Plan(title="Demo", steps=steps, data=("data/**",), outputs=("**",), exclude=()),
        determinism=Determinism(env=(("TZ", "UTC"),), source_date_epoch_from="default"),
        environment=make_environment(),
        lock=Lock(python_version="3.11.7", pins=(), imported_modules=(), tool="pip-tools 7"),
        base_image="python:3.11.7-slim-bookworm",
        files=(
            FileEntry(path="data/late.csv", sha256=SHA["late"], size=1, role="data"),
            FileEntry(path="data/raw.csv", sha256=SHA["raw"], size=1, role="data"),
            FileEntry(path="scripts/01_table.py", sha256=SHA["code"], size=1, role="code"),
            FileEntry(path="scripts/02_plot.py", sha256=SHA["code"], size=1, role="code"),
            FileEntry(path="scripts/03_copy.sh", sha256=SHA["code"], size=1, role="code"),
        ),
        outputs=(
            _output("fig.png", SHA["fig"], "02_plot"),
            _output("fig2.png", SHA["fig2"], "02_plot"),
            _output("out/copy.txt", SHA["copy"], "03_copy"),
            _output("tables/t1.csv", SHA["t1"], "01_table"),
        ),
        steps=(
            _run("01_table", ("python", "scripts/01_table.py"), ("tables/t1.csv",)),
            _run("02_plot", ("python", "scripts/02_plot.py", "--fast"), ("fig.png", "fig2.png")),
            _run("03_copy", ("bash", "scripts/03_copy.sh"), ("out/copy.txt",)),
        ),
        capsule_files=(),
        provenance=sample_provenance() if provenance is None else provenance,
    )


T1 = InputRef(path="tables/t1.csv", sha256=SHA["t1"], external=False, made_by="01_table")
RAW = InputRef(path="data/raw.csv", sha256=SHA["raw"], external=False, made_by="")
EXT = InputRef(path="/home/x/ext.csv", sha256="", external=True, made_by="")


def test_traced_output_reads_only_what_came_before_it() -> None:
    assert lineage(sample(), "fig.png") == Lineage(
        path="fig.png",
        sha256=SHA["fig"],
        step="02_plot",
        process="02_plot/p1",
        parent="",
        command=("python", "scripts/02_plot.py", "--fast"),
        observed="traced",
        call_site=FIG_SITE,
        figure=FIGURE,
        inputs=(T1,),  # data/late.csv was read after fig.png was written
        sources=("data/raw.csv",),  # through tables/t1.csv, made by 01_table
    )


def test_first_step_reads_original_data() -> None:
    found = lineage(sample(), "tables/t1.csv")
    assert found.inputs == (RAW,)
    assert found.sources == ("data/raw.csv",)
    assert found.command == ("python", "scripts/01_table.py")


def test_child_process_with_an_external_read() -> None:
    found = lineage(sample(), "fig2.png")
    assert (found.process, found.parent) == ("02_plot/p2", "02_plot/p1")
    assert found.command == ("python", "-m", "ipykernel_launcher")
    assert found.call_site == FIG2_SITE
    assert found.figure is None
    assert found.inputs == (T1, EXT)  # analysis files first, then external ones
    assert found.sources == ("data/raw.csv", "/home/x/ext.csv")


def test_snapshot_output_counts_everything_its_step_read() -> None:
    found = lineage(sample(), "out/copy.txt")
    assert (found.observed, found.call_site, found.process) == ("snapshot", None, "03_copy")
    assert found.command == ("bash", "scripts/03_copy.sh")
    assert found.inputs == ()
    assert found.sources == ()
    # a traced helper of the shell step read two files, one of them after the copy was made
    graph = sample_provenance()
    helper = Activity(id="03_copy/p1", step="03_copy", argv=("python", "h.py"), parent="03_copy")
    late = Usage(activity="03_copy/p1", entity="data/late.csv", seq=9)
    read = Usage(activity="03_copy/p1", entity="tables/t1.csv", seq=1)
    graph = dataclasses.replace(
        graph, activities=(*graph.activities, helper), used=(*graph.used, late, read)
    )
    found = lineage(sample(graph), "out/copy.txt")
    assert found.inputs == (
        InputRef(path="data/late.csv", sha256=SHA["late"], external=False, made_by=""),
        T1,
    )
    assert found.sources == ("data/late.csv", "data/raw.csv")


def test_without_provenance_the_step_is_all_there_is() -> None:
    found = lineage(sample(Provenance((), (), ())), "fig.png")
    assert (found.observed, found.process, found.call_site, found.inputs) == (
        "snapshot",
        "",
        None,
        (),
    )
    assert found.command == ("python", "scripts/02_plot.py", "--fast")
    assert "(not recorded: this capsule has no provenance for step 02_plot)" in render_one(found)


def test_all_lineages_in_manifest_order() -> None:
    found = all_lineages(sample())
    assert [item.path for item in found] == ["fig.png", "fig2.png", "out/copy.txt", "tables/t1.csv"]
    assert found[0] == lineage(sample(), "fig.png")


def test_an_overwritten_input_is_made_by_the_step_before_the_reader() -> None:
    # 03 overwrites tables/t1.csv after 02 read 01's version of it
    graph = sample_provenance()
    again = Generation(entity="tables/t1.csv", activity="03_copy", seq=0, observed="snapshot")
    graph = dataclasses.replace(graph, generated=(*graph.generated, again))
    manifest = sample(graph)
    outputs = tuple(
        dataclasses.replace(entry, step="03_copy") if entry.path == "tables/t1.csv" else entry
        for entry in manifest.outputs
    )
    manifest = dataclasses.replace(manifest, outputs=outputs)
    found = lineage(manifest, "fig.png")
    assert found.inputs == (dataclasses.replace(T1, sha256=""),)  # not the version kept
    assert found.sources == ("data/raw.csv",)  # 01's version, made from raw.csv
    assert "tables/t1.csv (a version since overwritten) ← made by step 01_table" in render_one(
        found
    )


def test_cycles_end() -> None:
    # two processes of one step, each reading the other's output before writing its own
    graph = Provenance(
        activities=(
            Activity(id="01_table/p1", step="01_table", argv=("python", "a.py")),
            Activity(id="01_table/p2", step="01_table", argv=("python", "b.py")),
        ),
        used=(
            Usage(activity="01_table/p1", entity="fig.png", seq=1),
            Usage(activity="01_table/p1", entity="data/raw.csv", seq=2),
            Usage(activity="01_table/p2", entity="tables/t1.csv", seq=1),
            Usage(activity="01_table/p2", entity="scripts/02_plot.py", seq=2),
        ),
        generated=(
            Generation(entity="tables/t1.csv", activity="01_table/p1", seq=3, observed="traced"),
            Generation(entity="fig.png", activity="01_table/p2", seq=3, observed="traced"),
        ),
    )
    manifest = sample(graph)
    outputs = tuple(dataclasses.replace(entry, step="01_table") for entry in manifest.outputs)
    manifest = dataclasses.replace(manifest, outputs=outputs)
    assert lineage(manifest, "tables/t1.csv").sources == ("data/raw.csv",)
    found = lineage(manifest, "fig.png")
    assert [ref.path for ref in found.inputs] == ["scripts/02_plot.py", "tables/t1.csv"]
    assert found.sources == ("data/raw.csv",)  # code is not a source


def test_an_input_the_capsule_lacks_is_flagged() -> None:
    graph = sample_provenance()
    secret = Usage(activity="02_plot/p1", entity=".env", seq=5)
    found = lineage(sample(dataclasses.replace(graph, used=(*graph.used, secret))), "fig.png")
    assert found.inputs[0] == InputRef(path=".env", sha256="", external=False, made_by="")
    assert found.sources == (".env", "data/raw.csv")
    assert f".env ({MISSING_NOTE})" in render_one(found)


@pytest.mark.parametrize(
    "typed", ["./fig.png", "expected/fig.png", "demo.capsule/expected/fig.png"]
)
def test_paths_into_the_capsule_name_the_output(typed: str) -> None:
    assert lineage(sample(), typed).path == "fig.png"


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("fig.pgn", "fig.png"),
        ("copy.txt", "out/copy.txt"),  # by file name
        ("tables/t2.csv", "tables/t1.csv"),
    ],
)
def test_unknown_output_suggests_close_ones(typed: str, suggested: str) -> None:
    with pytest.raises(LineageError) as error:
        lineage(sample(), typed)
    assert isinstance(error.value, CapsuleError)
    assert error.value.exit_code == EXIT_BAD_INPUT
    assert str(error.value) == f"{typed} is not an output of capsule demo"
    assert error.value.hint.startswith("did you mean ")
    assert suggested in error.value.hint


def test_unknown_output_without_a_close_one() -> None:
    with pytest.raises(LineageError) as error:
        lineage(sample(), "zzzzzz")
    assert "capsule show CAPSULE" in error.value.hint


def test_render_one_traced() -> None:
    text = render_one(lineage(sample(), "fig.png"))
    assert text == (
        f"fig.png  (sha256 {SHA['fig'][:12]})\n"
        "  made by   step 02_plot: python scripts/02_plot.py --fast\n"
        "  at        scripts/02_plot.py:66 in plot_sweep()\n"
        '  figure    "Accuracy vs vocabulary size" (6.0 x 4.0 in, 150 dpi)\n'
        f"  read      tables/t1.csv (sha256 {SHA['t1'][:12]}) ← made by step 01_table\n"
        "  sources   data/raw.csv\n"
    )


def test_render_one_notebook_child_and_external() -> None:
    text = render_one(lineage(sample(), "fig2.png"))
    assert "  process   02_plot/p2, started by 02_plot/p1\n" in text
    assert "  at        notebooks/04.ipynb cell 7, line 35\n" in text
    assert f"            /home/x/ext.csv ({EXTERNAL_NOTE})\n" in text
    assert "  sources   data/raw.csv\n            /home/x/ext.csv\n" in text


def test_render_one_snapshot() -> None:
    text = render_one(lineage(sample(), "out/copy.txt"))
    assert "  made by   step 03_copy: bash scripts/03_copy.sh\n" in text
    assert (
        "  at        (not traced: written in step 03_copy by a non-Python program or a C library)"
        in text
    )
    assert "  read      (nothing recorded)\n" in text
    assert "  sources   (none recorded)\n" in text


def test_render_table() -> None:
    rows = render_table(all_lineages(sample()))
    assert len(TABLE_COLUMNS) == 4
    assert rows == [
        ("fig.png", "02_plot", "scripts/02_plot.py:66 in plot_sweep()", "data/raw.csv"),
        (
            "fig2.png",
            "02_plot",
            "notebooks/04.ipynb cell 7, line 35",
            "data/raw.csv, /home/x/ext.csv",
        ),
        ("out/copy.txt", "03_copy", "(not traced)", "-"),
        ("tables/t1.csv", "01_table", "(no line of the analysis)", "data/raw.csv"),
    ]


def test_to_json_round_trips() -> None:
    found = all_lineages(sample())
    text = to_json(found)
    assert text.endswith("}\n")
    assert text == to_json(all_lineages(sample()))  # stable
    data = json.loads(text)
    assert data["format"] == LINEAGE_FORMAT
    assert [item["path"] for item in data["outputs"]] == [item.path for item in found]
    fig = data["outputs"][0]
    assert fig["sources"] == ["data/raw.csv"]
    assert fig["inputs"] == [dataclasses.asdict(T1)]
    assert fig["call_site"]["line"] == 66
    assert fig["figure"]["axis_labels"] == ["vocabulary size", "accuracy"]
    assert data["outputs"][2]["call_site"] is None

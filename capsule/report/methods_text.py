"""The methods text: what a careful author writes in a paper's Methods section, from the manifest.

Pure functions over a Manifest: `methods_text` gives the paragraphs as plain text, `tables` the
rows of the software, data and outputs tables, and `render_markdown` / `render_tex` put both into
templates/methods.md.j2 and templates/methods.tex.j2 (a LaTeX fragment for `\\input{}`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

from capsule import render, system
from capsule.model import (
    CallSite,
    FigureInfo,
    FileEntry,
    Generation,
    Manifest,
    OutputEntry,
    Pin,
)
from capsule.report.facts import memory_text
from capsule.wording import plural, short_hash, size_text

TITLE = "Computational methods"
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "software": ("name", "version", "source", "imported"),
    "data": ("path", "size", "sha256"),
    "outputs": ("path", "step", "written at", "sha256"),
}
SYSTEM_NAMED = 8  # system packages named in the text; beyond that they are counted
MAX_DATA_LISTED = 5  # data files named one by one in the text; beyond that they are counted
SMALLER_TABLE_OVER = 40  # TeX tables with more rows are set in \footnotesize to fit a page

# Imported by the machinery that runs notebooks and kernels, never by the analysis itself:
# never named in the methods text (they stay in the software table and requirements.lock).
INFRASTRUCTURE = frozenset(
    {
        "appnope",
        "asttokens",
        "comm",
        "debugpy",
        "decorator",
        "executing",
        "fastjsonschema",
        "ipykernel",
        "ipython",
        "ipython-pygments-lexers",
        "jedi",
        "jsonschema",
        "jsonschema-specifications",
        "jupyter-client",
        "jupyter-core",
        "matplotlib-inline",
        "nbclient",
        "nbformat",
        "nest-asyncio",
        "nest-asyncio2",
        "parso",
        "pexpect",
        "platformdirs",
        "prompt-toolkit",
        "psutil",
        "ptyprocess",
        "pure-eval",
        "pygments",
        "pyzmq",
        "referencing",
        "rpds-py",
        "stack-data",
        "tornado",
        "traitlets",
        "wcwidth",
        "pip",
        "setuptools",
        "wheel",
    }
)
# Imported by the libraries an analysis uses rather than by its own code (matplotlib's cycler
# and kiwisolver, scikit-learn's joblib, …): named only when nothing else is left to name.
SUPPORTING = frozenset(
    {
        "attrs",
        "certifi",
        "charset-normalizer",
        "cloudpickle",
        "contourpy",
        "cycler",
        "fonttools",
        "idna",
        "joblib",
        "kiwisolver",
        "markdown-it-py",
        "mdurl",
        "narwhals",
        "packaging",
        "pillow",
        "pyparsing",
        "python-dateutil",
        "pytz",
        "rich",
        "six",
        "threadpoolctl",
        "typing-extensions",
        "tzdata",
        "urllib3",
    }
)

CELL_OUTPUT = "<cell output>"  # the function of a figure a notebook cell displayed (provenance.py)
_FIGURE_SUFFIXES = frozenset(
    {".png", ".pdf", ".svg", ".eps", ".ps", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".webp"}
)
_TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".tex", ".xlsx", ".xls", ".parquet", ".feather"})
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
# Recorded but irrelevant to results: left out of the text (the full list is in capsule.json).
_UNSAID_VARS = frozenset({"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "LANG", "MPLBACKEND"})


@dataclass(frozen=True)
class MethodsText:
    """The methods section: a title and plain-text paragraphs (no markup)."""

    title: str
    paragraphs: tuple[str, ...]


def methods_text(manifest: Manifest, capsule_id: str) -> MethodsText:
    """The methods paragraphs from the manifest alone; capsule_id is the sha256 of capsule.json."""
    paragraphs = (
        _software_paragraph(manifest),
        _data_paragraph(manifest),
        _outputs_paragraph(manifest),
        _determinism_paragraph(manifest),
        _capsule_paragraph(manifest, capsule_id),
    )
    return MethodsText(title=TITLE, paragraphs=tuple(p for p in paragraphs if p))


def key_packages(manifest: Manifest) -> tuple[Pin, ...]:
    """Pins worth naming: imported, not INFRASTRUCTURE, and not SUPPORTING unless nothing else."""
    imported = [p for p in manifest.lock.pins if p.imported and p.name not in INFRASTRUCTURE]
    main = [p for p in imported if p.name not in SUPPORTING]
    return tuple(sorted(main or imported, key=lambda p: p.name))


def tables(manifest: Manifest) -> dict[str, list[tuple[str, ...]]]:
    """Rows of the "software", "data" and "outputs" tables (TABLE_COLUMNS), with full hashes."""
    software: list[tuple[str, ...]] = [
        (p.name, p.version, p.source, "yes" if p.imported else "no") for p in manifest.lock.pins
    ]
    data: list[tuple[str, ...]] = [
        (f.path, size_text(f.size), f.sha256) for f in _data_files(manifest)
    ]
    generations = _generations(manifest)
    outputs: list[tuple[str, ...]] = [
        (o.path, o.step, site_text(generations.get(o.path)), o.sha256) for o in manifest.outputs
    ]
    return {"software": software, "data": data, "outputs": outputs}


def site_text(generation: Generation | None) -> str:
    """Where an output was written: "scripts/a.py:93 in plot()", "nb.ipynb cell 7, line 35"."""
    if generation is None or generation.observed == "snapshot":
        return "(not traced)"
    site = generation.call_site
    if site is None:
        return "(no line of the analysis)"
    if site.function == CELL_OUTPUT:
        return f"{site.file} cell {site.cell} (displayed output)"
    if site.cell:
        where = f"{site.file} cell {site.cell}" + (f", line {site.line}" if site.line else "")
    else:
        where = f"{site.file}:{site.line}"
    return where + (f" in {site.function}()" if _named(site.function) else "")


# ── the paragraphs ────────────────────────────────────────────────────────────────────────


def _software_paragraph(manifest: Manifest) -> str:
    """Python, the machine, the packages that matter, and the git state of the code."""
    env = manifest.environment
    python = f"Python {manifest.lock.python_version or env.python_version}"
    if env.python_implementation:
        python += f" ({env.python_implementation})"
    machine = ", ".join(x for x in (env.os_release or env.os, env.architecture, env.cpu_model) if x)
    cores = plural(env.cpu_cores_logical, "logical core")
    memory = f"{memory_text(env.memory_bytes)} memory"
    text = f"All analyses were run with {python} on {machine} ({cores}, {memory})."
    if manifest.rerun_python:
        text += (
            f" The capsule's image reruns them with the same interpreter ({manifest.rerun_python})."
        )
    pins = manifest.lock.pins
    named = key_packages(manifest)
    lockfile = "the full list with SHA-256 hashes is in requirements.lock"
    if named:
        used = _join(f"{p.name} {p.version}" for p in named)
        text += (
            f" The analysis used {used}, among {plural(len(pins), 'pinned Python distribution')}"
            f" ({lockfile})."
        )
    elif pins:
        text += f" The run imported no analysis package itself; {len(pins)} pinned Python "
        text += f"distributions support it ({lockfile})."
    else:
        text += " The analysis used only the Python standard library."
    built = [p for p in pins if p.source == "built"]
    if built:
        text += " " + _join(f"{p.name} {p.version}" for p in built)
        text += " " + ("was" if len(built) == 1 else "were") + " built from local source."
    text += _system_sentence(manifest)
    git = env.git
    if git is not None:
        branch = f" (branch {git.branch})" if git.branch else " (detached HEAD)"
        state = (
            "with uncommitted changes in the analysis folder"
            if git.dirty
            else "with no uncommitted changes"
        )
        text += f" The code was taken from git commit {git.commit}{branch}, {state}."
    return text


def _system_sentence(manifest: Manifest) -> str:
    """The programs and fonts outside Python that the run needed beyond the base image."""
    section = manifest.system
    if section is None:
        return ""
    added = [p for p in section.packages if not p.in_base]
    if not added:
        return ""
    named = [p for p in added if any(_program_or_font(f) for f in p.files)]
    release = section.os_release.replace("debian", "Debian").replace("ubuntu", "Ubuntu")
    listed = _join(f"{p.name} {p.deb_version or p.version}" for p in named[:SYSTEM_NAMED])
    more = len(added) - min(len(named), SYSTEM_NAMED)
    text = (
        f" Outside Python, the steps used the {release} packages {listed}"
        if named
        else (f" Outside Python, the steps used {plural(len(added), f'{release} package')}")
    )
    if named and more:
        text += f" and {plural(more, 'other package')} they need"
    return text + " (vendored as .deb files in debs/, listed in capsule.json's system section)."


def _program_or_font(path: str) -> bool:
    """Whether a file of a package is a program or a font: what a reader would recognise."""
    return "/bin/" in path or path.lower().endswith(system.FONT_SUFFIXES)


def _data_paragraph(manifest: Manifest) -> str:
    """The input data and how they are identified."""
    files = _data_files(manifest)
    if not files:
        return (
            "The analysis declared no input data files; its code is identified by SHA-256 "
            "checksums in capsule.json."
        )
    if len(files) <= MAX_DATA_LISTED:
        listed = "; ".join(f"{f.path}, {size_text(f.size)}" for f in files)
        sums = _join(f"{short_hash(f.sha256)}…" for f in files)
        checksum = "checksum" if len(files) == 1 else "checksums"
        return (
            f"The input data ({listed}) are identified by their SHA-256 {checksum} ({sums}; "
            "full values in the data table and in capsule.json)."
        )
    counted = f"{plural(len(files), 'file')}, {size_text(sum(f.size for f in files))} in total"
    return (
        f"The input data ({counted}) are identified by their SHA-256 "
        "checksums, listed in full in the data table and in capsule.json."
    )


def _outputs_paragraph(manifest: Manifest) -> str:
    """One sentence per producing file (or untraced step): which code made which output."""
    if not manifest.outputs:
        return ""
    generations = _generations(manifest)
    order = {s.name: i for i, s in enumerate(manifest.steps)}
    groups: dict[tuple[int, str, str], list[OutputEntry]] = {}
    for output in manifest.outputs:
        gen = generations.get(output.path)
        site = gen.call_site if gen is not None and gen.observed == "traced" else None
        key = (order.get(output.step, len(order)), output.step, site.file if site else "")
        groups.setdefault(key, []).append(output)
    sentences = []
    for (_, step, file), outputs in sorted(groups.items()):
        items = _describe(outputs, generations)
        if file:
            sentences.append(f"{file} (step {step}) produced {items}.")
        else:
            sentences.append(
                f"Step {step} produced {items}, not traced to a line of the analysis' own code."
            )
    return " ".join(sentences)


def _describe(outputs: Sequence[OutputEntry], generations: dict[str, Generation]) -> str:
    """The outputs of one producing file: figures grouped by title, each with line and function."""
    titled: dict[str, list[str]] = {}
    parts: list[str] = []
    slots: dict[str, int] = {}
    for output in outputs:
        gen = generations.get(output.path)
        where = _location(gen.call_site if gen is not None else None)
        entry = f"{output.path} ({where})" if where else output.path
        title = _title(gen.figure if gen is not None else None)
        if title:
            if title not in titled:
                slots[title] = len(parts)
                parts.append("")
            titled.setdefault(title, []).append(entry)
        else:
            parts.append(f"{_kind(output.path, gen)} {entry}")
    for title, entries in titled.items():
        parts[slots[title]] = f"the figure “{title}” as {_join(entries)}"
    return _join(parts, final="; and " if any(" and " in p for p in parts) else " and ")


def _determinism_paragraph(manifest: Manifest) -> str:
    """The environment every step ran under, in words."""
    env = dict(manifest.determinism.env)
    said: list[str] = []
    for name in ("PYTHONHASHSEED", "TZ"):
        if name in env:
            said.append(f"{name}={env[name]}")
    locale = env.get("LC_ALL") or env.get("LANG")
    if locale:
        said.append(f"the {locale} locale")
    threads = [n for n in _THREAD_VARS if n in env]
    if threads and all(env[n] == "1" for n in threads):
        said.append(f"single-threaded BLAS and OpenMP ({', '.join(threads)}=1)")
    else:
        said.extend(f"{n}={env[n]}" for n in threads)
    if any(f.path == "matplotlibrc" for f in manifest.capsule_files):
        said.append("a matplotlibrc with a fixed SVG hash salt and the Agg backend")
    known = {"PYTHONHASHSEED", "TZ", "LC_ALL", "SOURCE_DATE_EPOCH", *_THREAD_VARS, *_UNSAID_VARS}
    said.extend(f"{n}={v}" for n, v in sorted(env.items()) if n not in known)
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch is not None:
        said.append(f"SOURCE_DATE_EPOCH={epoch} ({_epoch_origin(manifest, epoch)})")
    if not said:
        return "Every step ran in a fresh copy of the analysis."
    return f"Every step ran in a fresh copy of the analysis with {_join(said)}."


def _capsule_paragraph(manifest: Manifest, capsule_id: str) -> str:
    """The capsule itself and the one command that verifies it."""
    digest = capsule_id.removeprefix("sha256:")
    folder = f"{manifest.name}.capsule"
    pins = manifest.lock.pins
    wheels = any(f.path.startswith("wheels/") for f in manifest.capsule_files)
    if not pins:
        install = f"rebuilds the environment from {manifest.base_image}"
    elif wheels:
        install = (
            f"rebuilds the environment offline from {manifest.base_image} "
            f"and {plural(len(pins), 'vendored wheel')}"
        )
    else:
        install = f"rebuilds the environment from {manifest.base_image} and hash-checked pins"
    steps = plural(len(manifest.steps), "step")
    outputs = plural(len(manifest.outputs), "output")
    return (
        f"The computational capsule {folder} (capsule id sha256:{digest}; written by capsule "
        f"{manifest.capsule_version}, format {manifest.format}) {install} and reruns the "
        f"{steps} of the analysis; the command “capsule verify "
        f"{folder}” compares each of the {outputs} bit for "
        "bit with the stored one."
    )


# ── rendering ─────────────────────────────────────────────────────────────────────────────


def render_markdown(manifest: Manifest, capsule_id: str) -> str:
    """methods.md: the methods text and the software, data and outputs tables in Markdown."""
    text = methods_text(manifest, capsule_id)
    rows = {
        name: [tuple(_md_cell(c) for c in row) for row in found]
        for name, found in tables(manifest).items()
    }
    return render.render(
        "methods.md.j2",
        title=text.title,
        analysis=manifest.plan.title,
        paragraphs=text.paragraphs,
        columns=TABLE_COLUMNS,
        tables=rows,
    )


def render_tex(manifest: Manifest, capsule_id: str, section: str = TITLE) -> str:
    """methods.tex: a LaTeX fragment (needs booktabs) with escaped paragraphs and short hashes."""
    text = methods_text(manifest, capsule_id)
    found = tables(manifest)
    # Only the imported pins: all of them would not fit a page; requirements.lock has the rest.
    software = [
        (_tt(name), tex_escape(version), tex_escape(source))
        for name, version, source, imported in found["software"]
        if imported == "yes"
    ]
    data_rows = [(_tt(p), tex_escape(s), _tt(short_hash(h))) for p, s, h in found["data"]]
    output_rows = [(_tt(p), _tt(s), _tt(w), _tt(short_hash(h))) for p, s, w, h in found["outputs"]]
    return render.render(
        "methods.tex.j2",
        section=tex_escape(section),
        analysis=tex_escape(manifest.plan.title),
        paragraphs=[_breakable(tex_escape(p)) for p in text.paragraphs],
        software=software,
        software_size=r"\footnotesize" if len(software) > SMALLER_TABLE_OVER else r"\small",
        pins=len(found["software"]),
        data=data_rows,
        outputs=output_rows,
    )


_TEX_CHARS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': r'\texttt{"}',  # \textquotedbl needs T1; the typewriter " is straight in OT1 too
    "\n": " ",
    "\t": " ",
    # common non-ASCII symbols that utf8 inputenc does not set up by itself
    "\N{HORIZONTAL ELLIPSIS}": r"\ldots{}",
    "\N{LEFT DOUBLE QUOTATION MARK}": "``",
    "\N{RIGHT DOUBLE QUOTATION MARK}": "''",
    "\N{LEFT SINGLE QUOTATION MARK}": "`",
    "\N{RIGHT SINGLE QUOTATION MARK}": "'",
    "\N{EN DASH}": "--",
    "\N{EM DASH}": "---",
    "\N{MINUS SIGN}": r"$-$",
    "\u00a0": "~",
    "\N{GREATER-THAN OR EQUAL TO}": r"$\geq$",
    "\N{LESS-THAN OR EQUAL TO}": r"$\leq$",
    "\N{NOT EQUAL TO}": r"$\neq$",
    "\N{ALMOST EQUAL TO}": r"$\approx$",
    "\N{PLUS-MINUS SIGN}": r"$\pm$",
    "\N{MULTIPLICATION SIGN}": r"$\times$",
    "\N{DIVISION SIGN}": r"$\div$",
    "\N{MIDDLE DOT}": r"$\cdot$",
    "\N{LEFTWARDS ARROW}": r"$\leftarrow$",
    "\N{RIGHTWARDS ARROW}": r"$\rightarrow$",
    "\N{LEFT RIGHT ARROW}": r"$\leftrightarrow$",
    "\N{RIGHTWARDS DOUBLE ARROW}": r"$\Rightarrow$",
    "\N{INFINITY}": r"$\infty$",
    "\N{SQUARE ROOT}": r"$\surd$",
    "\N{N-ARY SUMMATION}": r"$\sum$",
    "\N{DEGREE SIGN}": r"\textdegree{}",
    "\N{BULLET}": r"\textbullet{}",
    "\N{MICRO SIGN}": r"$\mu$",
    "\N{GREEK SMALL LETTER ALPHA}": r"$\alpha$",
    "\N{GREEK SMALL LETTER BETA}": r"$\beta$",
    "\N{GREEK SMALL LETTER GAMMA}": r"$\gamma$",
    "\N{GREEK SMALL LETTER DELTA}": r"$\delta$",
    "\N{GREEK SMALL LETTER EPSILON}": r"$\varepsilon$",
    "\N{GREEK SMALL LETTER THETA}": r"$\theta$",
    "\N{GREEK SMALL LETTER LAMDA}": r"$\lambda$",
    "\N{GREEK SMALL LETTER MU}": r"$\mu$",
    "\N{GREEK SMALL LETTER PI}": r"$\pi$",
    "\N{GREEK SMALL LETTER RHO}": r"$\rho$",
    "\N{GREEK SMALL LETTER SIGMA}": r"$\sigma$",
    "\N{GREEK SMALL LETTER TAU}": r"$\tau$",
    "\N{GREEK SMALL LETTER PHI}": r"$\phi$",
    "\N{GREEK SMALL LETTER CHI}": r"$\chi$",
    "\N{GREEK SMALL LETTER OMEGA}": r"$\omega$",
    "\N{GREEK CAPITAL LETTER DELTA}": r"$\Delta$",
    "\N{GREEK CAPITAL LETTER SIGMA}": r"$\Sigma$",
    "\N{GREEK CAPITAL LETTER OMEGA}": r"$\Omega$",
}


def tex_escape(text: str) -> str:
    """Text safe inside a LaTeX paragraph or cell; other non-ASCII characters are kept as UTF-8."""
    return "".join(_TEX_CHARS.get(char, char) for char in text)


# ── helpers ───────────────────────────────────────────────────────────────────────────────


def _data_files(manifest: Manifest) -> list[FileEntry]:
    """The files of work/ with the data role, sorted by path."""
    return sorted((f for f in manifest.files if f.role == "data"), key=lambda f: f.path)


def _generations(manifest: Manifest) -> dict[str, Generation]:
    """For each output, the generation that left it: the last one in its own step."""
    step_of = {a.id: a.step for a in manifest.provenance.activities}
    wanted = {o.path: o.step for o in manifest.outputs}
    found: dict[str, Generation] = {}
    for gen in manifest.provenance.generated:
        step = step_of.get(gen.activity, gen.activity)
        if gen.entity not in wanted or step != wanted[gen.entity]:
            continue
        if gen.entity not in found or _prefer(gen, found[gen.entity]):
            found[gen.entity] = gen
    return found


def _prefer(new: Generation, old: Generation) -> bool:
    """A traced generation beats a snapshot one; among equals the later activity and event wins."""
    return (new.observed == "traced", new.activity, new.seq) > (
        old.observed == "traced",
        old.activity,
        old.seq,
    )


def _location(site: CallSite | None) -> str:
    """ "line 93, in plot_comparison", "cell 7, line 35", or "cell 7" for a displayed figure."""
    if site is None:
        return ""
    if site.function == CELL_OUTPUT:
        return f"displayed by cell {site.cell}"
    parts = [f"cell {site.cell}"] if site.cell else []
    if site.line:
        parts.append(f"line {site.line}")
    if _named(site.function):
        parts.append(f"in {site.function}")
    return ", ".join(parts)


def _named(function: str) -> bool:
    """A real function name, not "<module>" or "<cell output>"."""
    return bool(function) and not function.startswith("<")


def _title(figure: FigureInfo | None) -> str:
    """A figure's title on one line, or ""."""
    return " ".join(figure.title.split()) if figure is not None else ""


def _kind(path: str, gen: Generation | None) -> str:
    """ "the figure", "the table" or "the file", from what is known of the output."""
    suffix = PurePosixPath(path).suffix.lower()
    if (gen is not None and gen.figure is not None) or suffix in _FIGURE_SUFFIXES:
        return "the figure"
    return "the table" if suffix in _TABLE_SUFFIXES else "the file"


def _epoch_origin(manifest: Manifest, epoch: str) -> str:
    """Where SOURCE_DATE_EPOCH came from, with its date."""
    try:
        when = datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        when = ""
    origin = manifest.determinism.source_date_epoch_from
    git = manifest.environment.git
    if origin == "git commit" and git is not None:
        said = f"the time of git commit {short_hash(git.commit)}"
    elif origin == "git commit":
        said = "the time of the git commit"
    elif origin == "capsule.toml":
        said = "set in capsule.toml"
    else:
        said = "capsule's fixed default"
    return f"{said}, {when}" if when else said


def _join(items: Iterable[str], final: str = " and ") -> str:
    """ "a", "a and b", "a, b and c"."""
    listed = list(items)
    if len(listed) <= 1:
        return "".join(listed)
    separator = "; " if final.startswith(";") else ", "
    return separator.join(listed[:-1]) + final + listed[-1]


def _md_cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, on one line."""
    return " ".join(text.split()).replace("|", r"\|")


def _tt(text: str) -> str:
    """Monospaced TeX text that may break after / and _ (paths) and inside long hashes."""
    return r"\texttt{" + _breakable(tex_escape(text)) + "}"


_LONG_HEX = re.compile(r"[0-9a-f]{16,}")


def _breakable(tex: str) -> str:
    """Let LaTeX break escaped text after slashes and every 8 digits of a long hex string."""
    tex = tex.replace("/", r"/\allowbreak{}").replace(r"\_", r"\_\allowbreak{}")
    return _LONG_HEX.sub(
        lambda m: r"\allowbreak{}".join(m[0][i : i + 8] for i in range(0, len(m[0]), 8)), tex
    )

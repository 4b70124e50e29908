"""The methods report: report.html (and methods.md / methods.tex) rendered from a capsule alone.

Everything comes from the capsule folder: capsule.json, the files of expected/ and logs/, and the
verification.json that `capsule verify` leaves beside the capsule when there is one. The original
analysis is never read. The HTML page is self-contained (inline CSS, images as data: URIs, no
scripts) and a Content-Security-Policy in it forbids any request; the same capsule always renders
to the same bytes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from capsule import manifest, naming, render
from capsule.errors import CapsuleError, ManifestError
from capsule.fileio import write_text_atomic
from capsule.hashing import sha256_bytes
from capsule.model import STATUS_ORDER, Manifest, OnDiskStatus, OutputEntry, StepRun
from capsule.report import graph, methods_text
from capsule.report.facts import (
    EXTERNAL_NOTE,
    MAX_EMBED_BYTES,
    MISSING_NOTE,
    STATUS_LABELS,
    Fact,
    Image,
    data_uri,
    duration_text,
    host_facts,
    png_size,
    time_text,
)
from capsule.report.lineage import Lineage, all_lineages, render_table
from capsule.wording import short_hash, size_text

ReportFormat = Literal["html", "md", "tex"]

REPORT_HTML = "report.html"
METHODS_MD = "methods.md"
METHODS_TEX = "methods.tex"
# Written into the capsule after capsule.json, from it: the manifest cannot list them, and
# verify's integrity check allows exactly these.
DERIVED_FILES = (REPORT_HTML, METHODS_MD, METHODS_TEX)
DEFAULT_NAMES: dict[ReportFormat, str] = {"html": REPORT_HTML, "md": METHODS_MD, "tex": METHODS_TEX}
TEMPLATE = "report.html.j2"
# The name capsule.verify writes; repeated here because verify imports this module's
# DERIVED_FILES (tests check that the two agree).
VERIFICATION_JSON = "verification.json"

TABLE_ROWS = 20  # rows of a CSV/TSV output shown in the gallery
TABLE_READ_BYTES = 256 * 1024  # a table preview reads no more than this of the file
LOG_LINES = 15  # lines of each step log shown
LOG_READ_BYTES = 64 * 1024  # the tail of a log read to find them

FIGURE_SUFFIXES = (".png", ".svg")
TABLE_SUFFIXES = (".csv", ".tsv")

ON_DISK_LABELS: dict[OnDiskStatus, str] = {
    "identical": "identical on disk",
    "metadata-only": "metadata-only",
    "stale": "stale on disk",
    "missing": "not on disk",
    "not-declared": "not declared",
}
ON_DISK_HELP: dict[OnDiskStatus, str] = {
    "identical": "the author's own copy has the same bytes as this output",
    "metadata-only": "the author's own copy differs only in volatile metadata (dates, ids)",
    "stale": "the author's own copy differs: it did not come from this code",
    "missing": "the author's folder had no copy of this output",
    "not-declared": "written by the run, but not declared as an output",
}
OUTCOME_WORDS = {"reproduced": "Reproduced", "differs": "Not reproduced", "failed": "Not checked"}
PDF_NOTE = "PDF: no preview in this page; the file is {where} in the capsule ({size})."
OTHER_NOTE = "No preview for this kind of file; it is {where} in the capsule ({size})."
TOO_BIG_NOTE = "Not embedded ({size}); the file is {where} in the capsule."
NOT_IMAGE_NOTE = "Not embedded: the file is not a valid {kind} image."
UNREADABLE_NOTE = "Not embedded: {where} cannot be read ({why})."
OTHER_CAPSULE_NOTE = (
    "This verification.json records capsule id {found}, not this capsule's {mine}: "
    "it checked another build."
)
METHODS_FILES_NOTE = (
    "The same text, with the software, data and output tables, is in methods.md (Markdown) and "
    "methods.tex (LaTeX, for \\input{}) in the capsule."
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_SVG_TAG = re.compile(rb"<svg\b[^>]*>", re.IGNORECASE)
_SVG_ATTR = re.compile(rb"""\b(width|height|viewBox)\s*=\s*["']([^"']*)["']""")
_SVG_LENGTH = re.compile(r"^\s*([0-9.]+)\s*(px|pt)?\s*$")


# ── what the page shows ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class TablePreview:
    """The first rows of a CSV or TSV output."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    more: bool  # the file has rows beyond those shown


@dataclass(frozen=True)
class InputView:
    """One input of an output's lineage."""

    path: str
    sha256: str
    note: str  # "made by step X", or why its checksum is unknown


@dataclass(frozen=True)
class Card:
    """One output of the gallery: preview, caption, lineage and on-disk status."""

    path: str
    kind: Literal["figure", "table", "other"]
    caption: str
    sha256: str
    size: str
    status: OnDiskStatus
    status_label: str
    status_help: str
    status_note: str
    image: Image | None
    table: TablePreview | None
    note: str  # why there is no preview
    step: str
    written_at: str
    figure: str  # size and dpi of a traced figure, "" otherwise
    inputs: tuple[InputView, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class StepView:
    """One step as run, with the tails of its logs."""

    name: str
    command: str
    duration: str
    exit_code: int
    started: str
    wrote: int
    stdout: tuple[str, ...]
    stderr: tuple[str, ...]


@dataclass(frozen=True)
class CheckView:
    """One output as verify judged it."""

    path: str
    status: str
    label: str
    reason: str
    accepted: bool


@dataclass(frozen=True)
class VerificationView:
    """What verification.json says, as far as the report shows it."""

    outcome: str
    headline: str
    facts: tuple[Fact, ...]
    checks: tuple[CheckView, ...]
    tally: tuple[tuple[str, str, int], ...]  # status, label, count
    warning: str  # set when it checked another build


# ── rendering ─────────────────────────────────────────────────────────────────────────────


def render_report(
    capsule: Path, *, fmt: ReportFormat = "html", verification: Path | None = None
) -> str:
    """The report of the capsule folder in fmt; ManifestError unless it is a capsule.

    verification is a verification.json (or the folder holding one); by default the
    NAME.verification folder beside the capsule is looked in, and a file there of another
    build is ignored. An explicit one that cannot be read raises CapsuleError.
    """
    the_manifest = manifest.read(capsule)
    capsule_id = sha256_bytes((capsule / manifest.MANIFEST_FILE).read_bytes())
    if fmt == "md":
        return methods_text.render_markdown(the_manifest, capsule_id)
    if fmt == "tex":
        return methods_text.render_tex(the_manifest, capsule_id)
    return render_html(the_manifest, capsule_id, capsule, verification)


def write_report(
    capsule: Path,
    output: Path | None = None,
    *,
    fmt: ReportFormat = "html",
    verification: Path | None = None,
) -> Path:
    """Write the report (default: report.html, methods.md or methods.tex inside the capsule).

    Returns the path written; CapsuleError when it cannot be written.
    """
    text = render_report(capsule, fmt=fmt, verification=verification)
    target = output if output is not None else capsule / DEFAULT_NAMES[fmt]
    return write_text_atomic(target, text, hint="choose an output file you can write to (-o FILE)")


def render_html(
    the_manifest: Manifest, capsule_id: str, capsule: Path, verification: Path | None = None
) -> str:
    """The text of report.html for a manifest, with the files of the capsule folder embedded."""
    text = methods_text.methods_text(the_manifest, capsule_id)
    lineages = {item.path: item for item in all_lineages(the_manifest)}
    cards = sorted(
        (_card(entry, lineages[entry.path], capsule) for entry in the_manifest.outputs),
        key=lambda card: (("figure", "table", "other").index(card.kind), card.path),
    )
    git = the_manifest.environment.git
    plan = the_manifest.plan
    return render.render(
        TEMPLATE,
        m=the_manifest,
        title=plan.title or the_manifest.name,
        authors=", ".join(plan.authors),
        capsule_id=capsule_id,
        short_id=short_hash(capsule_id),
        verify_command=f"capsule verify {the_manifest.name}.capsule",
        git=git,
        built=time_text(the_manifest.environment.finished_at),
        methods_title=text.title,
        paragraphs=text.paragraphs,
        methods_note=METHODS_FILES_NOTE,
        cards=cards,
        counts=Counter(card.kind for card in cards),
        graph_svg=graph.graph_svg(the_manifest),
        pins=the_manifest.lock.pins,
        data=[entry for entry in the_manifest.files if entry.role == "data"],
        size_text=size_text,
        environment_facts=_environment_facts(the_manifest),
        determinism=the_manifest.determinism,
        steps=[_step_view(run, capsule) for run in the_manifest.steps],
        findings=the_manifest.findings,
        verification=_verification(capsule, capsule_id, verification),
        on_disk=[(ON_DISK_LABELS[s], s, ON_DISK_HELP[s]) for s in ON_DISK_LABELS],
    )


# ── the gallery ───────────────────────────────────────────────────────────────────────────


def _card(entry: OutputEntry, item: Lineage, capsule: Path) -> Card:
    """The gallery card of one output: its preview read from expected/, its lineage."""
    suffix = PurePosixPath(entry.path).suffix.lower()
    kind: Literal["figure", "table", "other"] = (
        "figure" if suffix in FIGURE_SUFFIXES else "table" if suffix in TABLE_SUFFIXES else "other"
    )
    file = capsule / "expected" / entry.path
    where = f"expected/{entry.path}"
    image: Image | None = None
    table: TablePreview | None = None
    note = ""
    if kind == "figure":
        embedded = _embed_image(file, suffix, entry.size, where)
        image, note = (embedded, "") if isinstance(embedded, Image) else (None, embedded)
    elif kind == "table":
        previewed = _table_preview(file, "\t" if suffix == ".tsv" else ",", where)
        table, note = (previewed, "") if isinstance(previewed, TablePreview) else (None, previewed)
    else:
        template = PDF_NOTE if suffix == ".pdf" else OTHER_NOTE
        note = template.format(where=where, size=size_text(entry.size))
    figure = item.figure
    caption = figure.title if figure is not None and figure.title else entry.path
    figure_text = ""
    if figure is not None:
        figure_text = f"{figure.library}, {figure.width_in:g} \u00d7 {figure.height_in:g} in"
        figure_text += f" at {figure.dpi:g} dpi"
    return Card(
        path=entry.path,
        kind=kind,
        caption=caption,
        sha256=entry.sha256,
        size=size_text(entry.size),
        status=entry.on_disk,
        status_label=ON_DISK_LABELS[entry.on_disk],
        status_help=ON_DISK_HELP[entry.on_disk],
        status_note=entry.on_disk_note,
        image=image,
        table=table,
        note=note,
        step=item.step,
        written_at=render_table([item])[0][2],
        figure=figure_text,
        inputs=tuple(
            _input_view(ref.path, ref.sha256, ref.external, ref.made_by) for ref in item.inputs
        ),
        sources=item.sources,
    )


def _input_view(path: str, sha256: str, external: bool, made_by: str) -> InputView:
    """One input of a lineage, with a note on who made it or why its checksum is unknown."""
    if external:
        return InputView(path, "", EXTERNAL_NOTE)
    if made_by:
        return InputView(
            path, sha256, f"made by step {made_by}" + ("" if sha256 else ", since overwritten")
        )
    return InputView(path, sha256, "" if sha256 else MISSING_NOTE)


def _embed_image(file: Path, suffix: str, size: int, where: str) -> Image | str:
    """A PNG or SVG output as a data: URI with its size, or a note saying why it is not."""
    if size > MAX_EMBED_BYTES:
        return TOO_BIG_NOTE.format(size=size_text(size), where=where)
    try:
        data = file.read_bytes()
    except OSError as exc:
        return UNREADABLE_NOTE.format(where=where, why=exc.strerror or exc)
    if suffix == ".png":
        pixels = png_size(data)
        if pixels is None:
            return NOT_IMAGE_NOTE.format(kind="PNG")
        return Image(data_uri("image/png", data), *pixels)
    # An SVG in an <img> runs no scripts and loads nothing (https://www.w3.org/TR/SVG2/conform.html#secure-static-mode).
    dimensions = _svg_size(data)
    if dimensions is None:
        return NOT_IMAGE_NOTE.format(kind="SVG")
    return Image(data_uri("image/svg+xml", data), *dimensions)


def _svg_size(data: bytes) -> tuple[int, int] | None:
    """The pixel size of an SVG from its root tag (width/height, else viewBox); None if no <svg>."""
    tag = _SVG_TAG.search(data[:65536])
    if tag is None:
        return None
    attrs = {
        name.decode(): value.decode("utf-8", "replace")
        for name, value in _SVG_ATTR.findall(tag.group())
    }
    sizes = []
    for name in ("width", "height"):
        match = _SVG_LENGTH.match(attrs.get(name, ""))
        if match:
            factor = 4 / 3 if match.group(2) == "pt" else 1
            sizes.append(round(float(match.group(1)) * factor))
    if len(sizes) == 2 and all(sizes):
        return sizes[0], sizes[1]
    box = attrs.get("viewBox", "").replace(",", " ").split()
    with contextlib.suppress(ValueError):
        if len(box) == 4 and float(box[2]) > 0 and float(box[3]) > 0:
            return round(float(box[2])), round(float(box[3]))
    return 300, 150  # what browsers draw an SVG without a size at


def _table_preview(file: Path, delimiter: str, where: str) -> TablePreview | str:
    """The first TABLE_ROWS rows of a CSV/TSV output, or a note saying why there are none."""
    try:
        with file.open("rb") as stream:
            head = stream.read(TABLE_READ_BYTES + 1)
    except OSError as exc:
        return UNREADABLE_NOTE.format(where=where, why=exc.strerror or exc)
    truncated = len(head) > TABLE_READ_BYTES
    text = head[:TABLE_READ_BYTES].decode("utf-8", "replace")
    if truncated:
        text = text.rpartition("\n")[0]
    try:
        rows = [tuple(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
    except csv.Error as exc:
        return f"No preview: {where} is not a readable table ({exc})."
    if not rows:
        return f"{where} is empty."
    body = rows[1 : TABLE_ROWS + 1]
    return TablePreview(
        header=rows[0], rows=tuple(body), more=truncated or len(rows) > TABLE_ROWS + 1
    )


# ── the run ───────────────────────────────────────────────────────────────────────────────


RERUN_PYTHON_UNKNOWN = "not checked (no engine had the base image)"


def _environment_facts(the_manifest: Manifest) -> list[Fact]:
    """OS, CPU, cores, memory, Python, host, user and times of the build's run."""
    env = the_manifest.environment
    os_fact, *machine = host_facts(env)
    return [
        os_fact,
        Fact("Platform", env.os, mono=True),
        *machine,
        Fact("Hostname", env.hostname, mono=True),
        Fact("User", env.user, mono=True),
        Fact("Started", time_text(env.started_at), title=env.started_at),
        Fact("Finished", time_text(env.finished_at), title=env.finished_at),
        Fact("Base image", the_manifest.base_image, mono=True),
        Fact("Rerun's Python", the_manifest.rerun_python or RERUN_PYTHON_UNKNOWN, mono=True),
        Fact("Lock written by", the_manifest.lock.tool),
    ]


def _step_view(run: StepRun, capsule: Path) -> StepView:
    """A step run with the last LOG_LINES lines of its stdout and stderr logs."""
    return StepView(
        name=run.name,
        command=" ".join(run.argv),
        duration=duration_text(run.duration_s),
        exit_code=run.exit_code,
        started=time_text(run.started_at),
        wrote=len(run.wrote),
        stdout=log_tail(capsule, run.log_stdout),
        stderr=log_tail(capsule, run.log_stderr),
    )


def log_tail(capsule: Path, log: str, lines: int = LOG_LINES) -> tuple[str, ...]:
    """The last lines of a log of the capsule (a path under logs/), without terminal colours."""
    if not log:
        return ()
    try:
        manifest.check_relative(log)
    except ManifestError:
        return (f"(not shown: {log} is not a path inside the capsule)",)
    try:
        with (capsule / log).open("rb") as stream:
            stream.seek(0, 2)
            end = stream.tell()
            stream.seek(max(0, end - LOG_READ_BYTES))
            data = stream.read()
    except OSError as exc:
        return (f"(not shown: {log} cannot be read: {exc.strerror or exc})",)
    text = _ANSI.sub("", data.decode("utf-8", "replace")).replace("\r\n", "\n")
    kept = text.rstrip("\n").split("\n")[-lines:] if text.strip() else []
    return tuple(line.rsplit("\r", 1)[-1] for line in kept)


# ── verification ──────────────────────────────────────────────────────────────────────────


def find_verification(capsule: Path) -> Path:
    """Where `capsule verify` writes by default: NAME.verification/verification.json beside."""
    return naming.verification_dir(capsule) / VERIFICATION_JSON


def _verification(capsule: Path, capsule_id: str, given: Path | None) -> VerificationView | None:
    """The verification section's content; None when there is no (matching) verification."""
    if given is None:
        path = find_verification(capsule)
        if not path.is_file():
            return None
        try:
            data = _load_json(path)
        except CapsuleError:
            return None
        if data.get("capsule_id") != capsule_id:
            return None  # an earlier build's verification: not this capsule's
        return _verification_view(data, capsule_id)
    path = given / VERIFICATION_JSON if given.is_dir() else given
    return _verification_view(_load_json(path), capsule_id)


def _load_json(path: Path) -> Mapping[str, object]:
    """A verification.json as a JSON object; CapsuleError when it cannot be read or parsed."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise CapsuleError(
            f"cannot read {path}: {exc.strerror or exc}",
            hint="give the verification.json that `capsule verify` wrote",
        ) from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CapsuleError(
            f"{path} is not valid JSON: {exc}", hint="run `capsule verify` again"
        ) from exc
    if not isinstance(data, dict) or not isinstance(data.get("outcome"), str):
        raise CapsuleError(f"{path} is not a verification.json", hint="run `capsule verify` again")
    return data


def _text(data: Mapping[str, object], key: str) -> str:
    """A string field of JSON data, or ""."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _verification_view(data: Mapping[str, object], capsule_id: str) -> VerificationView:
    """The verification section from a parsed verification.json."""
    checks: list[CheckView] = []
    raw = data.get("outputs")
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        status = _text(item, "status")
        checks.append(
            CheckView(
                path=_text(item, "path"),
                status=status,
                label=STATUS_LABELS.get(status, status),  # type: ignore[call-overload]
                reason=_text(item, "reason"),
                accepted=item.get("accepted") is True,
            )
        )
    order = {status: index for index, status in enumerate(STATUS_ORDER)}
    checks.sort(key=lambda check: (order.get(check.status, -1), check.path))  # type: ignore[call-overload]
    counts = Counter(check.status for check in checks)
    tally = tuple(
        (status, STATUS_LABELS[status], counts[status]) for status in STATUS_ORDER if counts[status]
    )
    outcome = _text(data, "outcome")
    accepted = sum(1 for check in checks if check.accepted)
    if outcome == "failed":
        rerun = data.get("rerun")
        failure = _text(rerun, "failure") if isinstance(rerun, dict) else ""
        detail = failure or "the rerun did not complete"
    elif checks:
        detail = f"{accepted:,} of {len(checks):,} outputs accepted"
    else:
        detail = "the capsule declares no outputs"
    backend = _text(data, "backend")
    facts = [
        Fact(
            "Backend",
            {
                "docker": "Docker container",
                "local": "local virtual environment (host, unsandboxed)",
            }.get(backend, backend),
        ),
        Fact("Image" if backend == "docker" else "Interpreter", _text(data, "image"), mono=True),
        Fact("Accepted tier", _text(data, "accept")),
        Fact("Finished", time_text(_text(data, "finished_at")), title=_text(data, "finished_at")),
        Fact("Verified with", f"capsule {_text(data, 'capsule_version')}"),
    ]
    found = _text(data, "capsule_id")
    warning = ""
    if found != capsule_id:
        warning = OTHER_CAPSULE_NOTE.format(
            found=short_hash(found) or "none", mine=short_hash(capsule_id)
        )
    return VerificationView(
        outcome=outcome if outcome in OUTCOME_WORDS else "failed",
        headline=f"{OUTCOME_WORDS.get(outcome, outcome)}: {detail}.",
        facts=tuple(facts),
        checks=tuple(checks),
        tally=tally,
        warning=warning,
    )

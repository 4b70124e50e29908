"""verification.html: the result of `capsule verify` as one self-contained page for people.

The page embeds every PNG difference image as a data: URI and carries its CSS inline, so it can
be mailed or attached to a review as a single file; a Content-Security-Policy in the page forbids
any request that is not inline (no scripts at all, images only from data: URIs). The same
Verification always renders to the same bytes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from capsule import render
from capsule.fileio import write_text_atomic
from capsule.model import (
    STATUS_ORDER,
    CheckStatus,
    OutputCheck,
    RerunRecord,
    Tolerances,
    Verification,
)
from capsule.report.facts import (
    MAX_EMBED_BYTES,
    STATUS_LABELS,
    Fact,
    Image,
    data_uri,
    duration_text,
    host_facts,
    png_size,
    time_text,
)
from capsule.wording import plural, short_hash, size_text

HTML_NAME = "verification.html"
TEMPLATE = "verification.html.j2"

STATUS_HELP: dict[CheckStatus, str] = {
    "differs": "the rerun wrote different content",
    "missing": "in expected/, but the rerun did not write it",
    "unexpected": "the rerun wrote it, but it is not in expected/",
    "within-tolerance": "the bytes differ, but the numbers or pixels are within the tolerances",
    "metadata-only": "the bytes differ only in volatile metadata (dates, ids, encoding)",
    "identical": "the same bytes, bit for bit (SHA-256)",
}
ACCEPT_TEXT = {
    "identical": "identical only: every output must match bit for bit",
    "metadata": "identical, or differing only in volatile metadata (--accept metadata)",
    "tolerance": "identical, metadata-only, or within the tolerances (--accept tolerance)",
}
LOCAL_WARNING = (
    "The capsule's code ran directly on this host, in a fresh virtual environment: "
    "no container, no sandbox, with the same access to files and network as the user who ran it."
)
DOCKER_NOTE = "Rebuilt from the capsule's vendored wheels and run in a Docker container."

REASON_LIMIT = 160  # characters of a comparator's reason quoted in the verdict line


@dataclass(frozen=True)
class _Row:
    """One output as the page shows it."""

    check: OutputCheck
    label: str
    help: str
    images: tuple[Image, ...]
    notes: tuple[str, ...]  # artifacts that could not be embedded, and why


def write_html(verification: Verification, report_dir: Path) -> Path:
    """Render verification.html into report_dir, embedding the difference images; return its path.

    Raises CapsuleError when the page cannot be written.
    """
    html = render_html(verification, report_dir)
    return write_text_atomic(
        report_dir / HTML_NAME, html, hint="choose a report folder you can write to"
    )


def render_html(verification: Verification, report_dir: Path) -> str:
    """The text of verification.html, with the artifacts under report_dir embedded."""
    rows = tuple(_row(check, report_dir) for check in sort_checks(verification.outputs))
    counts = Counter(check.status for check in verification.outputs)
    head, _, rest = verdict_line(verification).partition(": ")
    return render.render(
        TEMPLATE,
        v=verification,
        verdict_head=head,
        verdict_rest=rest[:1].upper() + rest[1:],
        show_images=any(row.images or row.notes for row in rows),
        short_id=short_hash(verification.capsule_id),
        rows=rows,
        summary=[(status, STATUS_LABELS[status], counts[status]) for status in STATUS_ORDER],
        status_help=[(STATUS_LABELS[s], s, STATUS_HELP[s]) for s in STATUS_ORDER],
        accept_hint=accept_hint(verification),
        backend_note=LOCAL_WARNING if verification.backend == "local" else DOCKER_NOTE,
        run_facts=_run_facts(verification),
        host_facts=host_facts(verification.host),
        failure=_failure_text(verification.rerun) if _rerun_failed(verification.rerun) else "",
        rerun_flags=_rerun_flags(verification.rerun),
    )


def verdict_line(verification: Verification) -> str:
    """One sentence for people: 'Reproduced: all 6 outputs are identical.' and the like."""
    checks = verification.outputs
    if verification.outcome == "failed":
        return _sentence(f"Could not check: {_failure_text(verification.rerun)}")
    expected = sum(1 for check in checks if check.status != "unexpected")
    if verification.outcome == "reproduced":
        if not checks:
            return "Reproduced: the rerun completed; the capsule declares no outputs to compare."
        if all(check.status == "identical" for check in checks):
            what = "the one output is" if expected == 1 else f"all {expected:,} outputs are"
            return f"Reproduced: {what} identical."
        counts = Counter(check.status for check in checks)
        parts = ", ".join(
            f"{counts[status]:,} {STATUS_LABELS[status]}"
            for status in reversed(STATUS_ORDER)
            if counts[status]
        )
        what = "the one output matches" if expected == 1 else f"all {expected:,} outputs match"
        return f"Reproduced with --accept {verification.accept}: {what} ({parts})."
    return _not_reproduced(verification, expected)


def accept_hint(verification: Verification) -> str:
    """When only tolerable differences stopped a match, the --accept tier that would accept it."""
    problems = {check.status for check in verification.outputs if not check.accepted}
    if verification.outcome != "differs" or not problems:
        return ""
    if problems == {"metadata-only"} and verification.accept == "identical":
        return (
            "Only volatile metadata (dates, ids, encoding) differs: with --accept metadata "
            "this would count as reproduced."
        )
    if problems <= {"metadata-only", "within-tolerance"} and verification.accept != "tolerance":
        return (
            "Every difference is volatile metadata or within the tolerances: with "
            "--accept tolerance this would count as reproduced."
        )
    return ""


def sort_checks(checks: Iterable[OutputCheck]) -> list[OutputCheck]:
    """Problems first (differs, missing, unexpected, within-tolerance, metadata-only), by path."""
    return sorted(checks, key=lambda check: (STATUS_ORDER.index(check.status), check.path))


def tolerances_text(tolerances: Tolerances) -> str:
    """'none (exact)' or 'rtol 1e-06 · atol 0 · 12 pixels'."""
    if tolerances.rtol == 0 and tolerances.atol == 0 and tolerances.pixels == 0:
        return "none (exact comparison)"
    pixels = plural(tolerances.pixels, "pixel")
    return f"rtol {tolerances.rtol:g} · atol {tolerances.atol:g} · {pixels}"


def _not_reproduced(verification: Verification, expected: int) -> str:
    """The verdict line of a rerun whose outputs were not all accepted."""
    problems = [check for check in sort_checks(verification.outputs) if not check.accepted]
    stopped = _failure_text(verification.rerun) if _rerun_failed(verification.rerun) else ""
    if not problems:
        if stopped:
            matched = f"all {expected:,} outputs match" if expected else "there were no outputs"
            return _sentence(f"Not reproduced: {stopped}, although {matched}")
        return (
            f"Not reproduced: the outputs were not accepted under --accept {verification.accept}."
        )
    missing = sum(1 for check in problems if check.status == "missing")
    unexpected = sum(1 for check in problems if check.status == "unexpected")
    differ = len(problems) - missing - unexpected
    if differ:
        said = f"{differ:,} of {expected:,} outputs {'differs' if differ == 1 else 'differ'}"
        if missing:
            said += f" and {missing:,} {'is' if missing == 1 else 'are'} missing"
    elif missing:
        said = f"{missing:,} of {expected:,} outputs {'is' if missing == 1 else 'are'} missing"
    else:
        said = f"all {expected:,} expected outputs match"
    if unexpected:
        extra = f"{plural(unexpected, 'unexpected output')} appeared"
        said = f"{said}, but {extra}" if not (differ or missing) else f"{said}; {extra}"
    first = problems[0]
    reason = (
        first.reason if len(first.reason) <= REASON_LIMIT else first.reason[:REASON_LIMIT] + "…"
    )
    more = f"; and {len(problems) - 1:,} more" if len(problems) > 1 else ""
    if stopped:
        said = f"{stopped}; {said}"
    return f"Not reproduced: {said} ({first.path}: {reason}{more})."


def _rerun_failed(rerun: RerunRecord) -> bool:
    """Whether the rerun stopped short: a failure, a limit hit or a non-zero exit."""
    return bool(rerun.failure) or rerun.timed_out or rerun.oom_killed or rerun.exit_code != 0


def _failure_text(rerun: RerunRecord) -> str:
    """What stopped the rerun, in the user's terms."""
    if rerun.failure.strip():
        return " ".join(rerun.failure.split())
    if rerun.timed_out:
        return f"the rerun hit its time limit and was stopped after {duration_text(rerun.run_s)}"
    if rerun.oom_killed:
        return "the rerun ran out of memory and was stopped at its memory limit"
    if rerun.exit_code != 0:
        return f"the rerun exited with code {rerun.exit_code}"
    return "the rerun did not complete"


def _rerun_flags(rerun: RerunRecord) -> list[str]:
    """Short labels for how the rerun ended: 'timed out', 'out of memory', 'exit code 1'."""
    flags = []
    if rerun.timed_out:
        flags.append("timed out")
    if rerun.oom_killed:
        flags.append("out of memory")
    if rerun.exit_code != 0:
        flags.append(f"exit code {rerun.exit_code}")
    return flags


def _sentence(text: str) -> str:
    """Text ending in a full stop."""
    return text if text.endswith((".", "!", "?")) else text + "."


def _run_facts(verification: Verification) -> list[Fact]:
    """Backend, image, tier, tolerances, times: how this verification ran."""
    docker = verification.backend == "docker"
    facts = [
        Fact("Backend", "Docker container" if docker else "local virtual environment (host)"),
        Fact("Base image" if docker else "Interpreter", verification.image, mono=True),
    ]
    if docker and verification.rerun_python:
        facts.append(Fact("Python", verification.rerun_python, mono=True))
    if verification.image_id:
        facts.append(
            Fact(
                "Image id",
                short_hash(verification.image_id),
                title=verification.image_id,
                mono=True,
            )
        )
    facts += [
        Fact("Accepted", ACCEPT_TEXT[verification.accept]),
        Fact("Tolerances", tolerances_text(verification.tolerances)),
        Fact("Started", time_text(verification.started_at), title=verification.started_at),
        Fact("Finished", time_text(verification.finished_at), title=verification.finished_at),
        Fact("Build", duration_text(verification.rerun.build_s)),
        Fact("Run", duration_text(verification.rerun.run_s)),
        Fact(
            "capsule", f"{verification.capsule_version}, verification format {verification.format}"
        ),
    ]
    return facts


def _row(check: OutputCheck, report_dir: Path) -> _Row:
    """The page's view of one output, with its PNG artifacts read and encoded."""
    images: list[Image] = []
    notes: list[str] = []
    for artifact in check.artifacts:
        embedded = _embed(artifact, report_dir)
        if isinstance(embedded, Image):
            images.append(embedded)
        else:
            notes.append(embedded)
    return _Row(
        check=check,
        label=STATUS_LABELS[check.status],
        help=STATUS_HELP[check.status],
        images=tuple(images),
        notes=tuple(notes),
    )


def _embed(artifact: str, report_dir: Path) -> Image | str:
    """A PNG artifact as a data: URI, or a note saying why it is not embedded."""
    relative = PurePosixPath(artifact)
    if relative.is_absolute() or ".." in relative.parts:
        return f"{artifact}: not embedded (not a path inside the report folder)"
    file = report_dir.joinpath(*relative.parts)
    try:
        size = file.stat().st_size
        if size > MAX_EMBED_BYTES:
            return f"{artifact}: not embedded ({size_text(size)}; see the file beside this page)"
        data = file.read_bytes()
    except OSError as exc:
        return f"{artifact}: not found beside this page ({exc.strerror or exc})"
    pixels = png_size(data)
    if pixels is None:
        return f"{artifact}: not embedded (not a PNG image)"
    return Image(data_uri("image/png", data), *pixels, name=relative.name)

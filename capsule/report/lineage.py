"""Lineage: which code, which data and which process made each output of a capsule.

Pure functions over a Manifest's provenance graph (no I/O). The rules:

- An output's *generation* is the last one recorded for it in the step that last wrote it
  (`OutputEntry.step`); a traced generation wins over a snapshot one. With none recorded (a
  capsule built before provenance), the output counts as seen by snapshot in that step.
- Its *inputs* are what the writing process had read before it wrote the output (same activity,
  usage `seq` < generation `seq`). For a snapshot-only output there is no such order: every file
  any activity of the step read counts. The output itself never counts as its own input.
- An input that an earlier step (or the same one) wrote is *made by* the latest such step up to
  the reader's, in the order the steps ran; it is original data otherwise. Checksums come from
  `manifest.outputs` (only for the final version of an output) or `manifest.files`; external
  files and files the capsule does not hold have none.
- Its *sources* follow made-by inputs transitively, through the lineage of that version of the
  file, down to the files nobody in the run wrote: data and other files of work/, external files,
  and files missing from the capsule. Code files are not sources. Cycles end where they close.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from capsule.errors import CapsuleError
from capsule.model import (
    Activity,
    CallSite,
    FigureInfo,
    FileEntry,
    Generation,
    Manifest,
    Observed,
    OutputEntry,
    Usage,
)
from capsule.report.facts import EXTERNAL_NOTE, MISSING_NOTE
from capsule.wording import short_hash

LINEAGE_FORMAT = 1  # of the JSON that `capsule show --json` prints

NOT_AN_OUTPUT = "{output} is not an output of capsule {name}"
DID_YOU_MEAN = "did you mean {candidates}?"
LIST_OUTPUTS = "its outputs are listed by: capsule show CAPSULE"
NO_OUTPUTS = "this capsule records no outputs"
SNAPSHOT_SITE = "(not traced: written in step {step} by a non-Python program or a C library)"
UNRECORDED_SITE = "(not recorded: this capsule has no provenance for step {step})"
NO_FRAME_SITE = "(traced in {process}, but no line of the analysis' own code was on the stack)"

TABLE_COLUMNS = ("output", "step", "written at", "sources")

_LABEL = 10  # width of the labels of render_one


class LineageError(CapsuleError):
    """An output asked about is not an output of the capsule."""


@dataclass(frozen=True)
class InputRef:
    """A file a process read before writing an output, with its checksum and who made it."""

    path: str  # relative to the analysis, or absolute when external
    sha256: str  # "" when unknown: external, not in the capsule, or an overwritten version
    external: bool  # outside the analysis folder: the rerun may not have it
    made_by: str  # the step that wrote this version of it; "" for original data


@dataclass(frozen=True)
class Lineage:
    """Where an output came from: the process and line that wrote it, what it read, its sources."""

    path: str
    sha256: str
    step: str
    process: str  # the writing activity's id; "" when no provenance was recorded
    parent: str  # the activity that started the writing process; "" for a step's first
    command: tuple[str, ...]  # argv of the writing process, or of the step
    observed: Observed
    call_site: CallSite | None
    figure: FigureInfo | None
    inputs: tuple[InputRef, ...]  # analysis files first, then external ones; each by path
    sources: tuple[str, ...]  # the original files it derives from, transitively; same order


def lineage(manifest: Manifest, output: str) -> Lineage:
    """The lineage of one output (path as in expected/); LineageError if it is not an output."""
    graph = _Graph(manifest)
    return graph.lineage(graph.resolve(output))


def all_lineages(manifest: Manifest) -> tuple[Lineage, ...]:
    """The lineage of every output of the capsule, in the manifest's order (by path)."""
    graph = _Graph(manifest)
    return tuple(graph.lineage(entry.path) for entry in manifest.outputs)


def render_one(item: Lineage) -> str:
    """The lineage of one output as plain text for a terminal, ending with a newline."""
    lines = [f"{item.path}  (sha256 {short_hash(item.sha256)})"]
    made_by = f"step {item.step}"
    if item.command:
        made_by += f": {shlex.join(item.command)}"
    lines.append(_labelled("made by", made_by))
    if item.parent:
        lines.append(_labelled("process", f"{item.process}, started by {item.parent}"))
    lines.append(_labelled("at", _site_text(item)))
    if item.figure is not None:
        lines.append(_labelled("figure", _figure_text(item.figure)))
    read = [_input_text(ref) for ref in item.inputs] or ["(nothing recorded)"]
    lines.extend(_labelled("read" if i == 0 else "", text) for i, text in enumerate(read))
    sources = list(item.sources) or ["(none recorded)"]
    lines.extend(_labelled("sources" if i == 0 else "", text) for i, text in enumerate(sources))
    return "\n".join(lines) + "\n"


def render_table(lineages: Iterable[Lineage]) -> list[tuple[str, str, str, str]]:
    """One row per output, in the order of TABLE_COLUMNS: output, step, written at, sources."""
    return [
        (item.path, item.step, _site_short(item), ", ".join(item.sources) or "-")
        for item in lineages
    ]


def to_json(lineages: Iterable[Lineage]) -> str:
    """Stable JSON for `capsule show --json`: sorted keys, two-space indent, a final newline."""
    data = {
        "format": LINEAGE_FORMAT,
        "outputs": [dataclasses.asdict(item) for item in lineages],
    }
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# ── the graph ─────────────────────────────────────────────────────────────────────────────


class _Graph:
    """Indexes of one manifest's provenance, built once per call into the module."""

    def __init__(self, manifest: Manifest) -> None:
        self.name = manifest.name
        self.outputs: dict[str, OutputEntry] = {entry.path: entry for entry in manifest.outputs}
        self.files: dict[str, FileEntry] = {entry.path: entry for entry in manifest.files}
        provenance = manifest.provenance
        self.activities: dict[str, Activity] = {item.id: item for item in provenance.activities}
        self.rank = {item.id: index for index, item in enumerate(provenance.activities)}
        self.argv: dict[str, tuple[str, ...]] = {run.name: run.argv for run in manifest.steps}
        # The order the steps ran; the plan's order for steps without a run record.
        names = [run.name for run in manifest.steps]
        names += [step.name for step in manifest.plan.steps if step.name not in names]
        self.order = {name: index for index, name in enumerate(names)}
        self.used: dict[str, list[Usage]] = {}
        for usage in provenance.used:
            self.used.setdefault(usage.activity, []).append(usage)
        self.generated: dict[str, list[Generation]] = {}
        for generation in provenance.generated:
            self.generated.setdefault(generation.entity, []).append(generation)
        # Which steps wrote each path, by the tracer, the snapshots or the run records.
        self.writers: dict[str, set[str]] = {}
        for generation in provenance.generated:
            self.writers.setdefault(generation.entity, set()).add(self._step_of(generation))
        for run in manifest.steps:
            for path in run.wrote:
                self.writers.setdefault(path, set()).add(run.name)
        for entry in manifest.outputs:
            self.writers.setdefault(entry.path, set()).add(entry.step)

    def resolve(self, output: str) -> str:
        """The output path meant by what the user typed; LineageError with close matches."""
        typed = output.replace("\\", "/")
        candidates = [typed, typed.removeprefix("./")]
        if typed.startswith("expected/") or "/expected/" in typed:
            # a path into the capsule itself: "expected/fig.png", "NAME.capsule/expected/fig.png"
            candidates.append(("/" + typed).rpartition("/expected/")[2])
        for candidate in candidates:
            if candidate in self.outputs:
                return candidate
        raise LineageError(
            NOT_AN_OUTPUT.format(output=output, name=self.name), hint=self._suggest(typed)
        )

    def _suggest(self, typed: str) -> str:
        """A hint naming the outputs closest to a mistyped one, by path or by file name."""
        if not self.outputs:
            return NO_OUTPUTS
        paths = sorted(self.outputs)
        close = difflib.get_close_matches(typed, paths, n=3, cutoff=0.6)
        names = {PurePosixPath(path).name: path for path in paths}
        by_name = difflib.get_close_matches(PurePosixPath(typed).name, sorted(names), n=3)
        for name in by_name:
            if names[name] not in close:
                close.append(names[name])
        if not close:
            return LIST_OUTPUTS
        return DID_YOU_MEAN.format(candidates=" or ".join(close[:3]))

    def lineage(self, path: str) -> Lineage:
        """The lineage of the final version of an output (a key of self.outputs)."""
        entry = self.outputs[path]
        generation = self._generation(path, entry.step)
        activity = self.activities.get(generation.activity) if generation else None
        command = self.argv.get(entry.step, ())
        if activity is not None and activity.argv and (activity.kind == "process" or not command):
            command = activity.argv  # the writing process, or the step when it has no run record
        return Lineage(
            path=path,
            sha256=entry.sha256,
            step=entry.step,
            process=generation.activity if generation else "",
            parent=activity.parent if activity else "",
            command=command,
            observed=generation.observed if generation else "snapshot",
            call_site=generation.call_site if generation else None,
            figure=generation.figure if generation else None,
            inputs=self._inputs(path, entry.step),
            sources=self._sources(path, entry.step),
        )

    def _step_of(self, generation: Generation) -> str:
        """The step of a generation's activity (its id's first part if the activity is unknown)."""
        activity = self.activities.get(generation.activity)
        return activity.step if activity else generation.activity.split("/")[0]

    def _generation(self, path: str, step: str) -> Generation | None:
        """The last generation of path in step: traced ones first, then by process and seq."""
        found = [g for g in self.generated.get(path, ()) if self._step_of(g) == step]
        if not found:
            return None
        return max(
            found,
            key=lambda g: (g.observed == "traced", self.rank.get(g.activity, -1), g.seq),
        )

    def _inputs(self, path: str, step: str) -> tuple[InputRef, ...]:
        """What the version of path that step wrote was made from, by the module's rules."""
        generation = self._generation(path, step)
        if generation is not None and generation.observed == "traced":
            usages = [u for u in self.used.get(generation.activity, ()) if u.seq < generation.seq]
        else:
            usages = [
                usage
                for activity in self.activities.values()
                if activity.step == step
                for usage in self.used.get(activity.id, ())
            ]
        refs = {u.entity: self._classify(u, step) for u in usages if u.entity != path}
        return tuple(sorted(refs.values(), key=lambda ref: (ref.external, ref.path)))

    def _classify(self, usage: Usage, reader: str) -> InputRef:
        """An InputRef for a file read in step reader: who made the version it read, its sha."""
        if usage.external:
            return InputRef(usage.entity, "", True, "")
        path = usage.entity
        reader_rank = self.order.get(reader, len(self.order))
        earlier = [
            step
            for step in self.writers.get(path, ())
            if self.order.get(step, len(self.order)) <= reader_rank
        ]
        output = self.outputs.get(path)
        if earlier:
            made_by = max(earlier, key=lambda step: (self.order.get(step, len(self.order)), step))
            final = output is not None and output.step == made_by
            return InputRef(path, output.sha256 if output and final else "", False, made_by)
        if path in self.files:
            return InputRef(path, self.files[path].sha256, False, "")
        return InputRef(path, "", False, "")

    def _sources(self, path: str, step: str) -> tuple[str, ...]:
        """The unwritten, non-code files the version of path that step wrote derives from."""
        seen = {(path, step)}
        pending = [(path, step)]
        leaves: dict[str, InputRef] = {}
        while pending:
            for ref in self._inputs(*pending.pop()):
                if ref.made_by:
                    node = (ref.path, ref.made_by)
                    if node not in seen:
                        seen.add(node)
                        pending.append(node)
                elif ref.external or self._role(ref.path) != "code":
                    leaves[ref.path] = ref
        return tuple(ref.path for ref in sorted(leaves.values(), key=_order))

    def _role(self, path: str) -> str:
        """The role of a file of work/, or "" for a file the capsule does not hold."""
        entry = self.files.get(path)
        return entry.role if entry else ""


def _order(ref: InputRef) -> tuple[bool, str]:
    """Files of the analysis first, then external ones; each by path."""
    return (ref.external, ref.path)


# ── text ──────────────────────────────────────────────────────────────────────────────────


def _labelled(label: str, text: str) -> str:
    """One line of render_one: two spaces, the label padded to a column, the text."""
    return f"  {label:<{_LABEL}}{text}"


def _site_text(item: Lineage) -> str:
    """Where the output was written, in words."""
    site = item.call_site
    if site is None and item.observed == "traced":
        return NO_FRAME_SITE.format(process=item.process)
    if site is None:
        return (SNAPSHOT_SITE if item.process else UNRECORDED_SITE).format(step=item.step)
    return _where(site)


def _site_short(item: Lineage) -> str:
    """The call site for the table: "file:line", "notebook cell N, line L", or "(not traced)"."""
    if item.call_site is None:
        return "(not traced)" if item.observed == "snapshot" else "(no line of the analysis)"
    return _where(item.call_site)


def _where(site: CallSite) -> str:
    """ "scripts/a.py:66 in plot()", or "notebooks/b.ipynb cell 7, line 35"."""
    where = (
        f"{site.file} cell {site.cell}, line {site.line}"
        if site.cell
        else f"{site.file}:{site.line}"
    )
    if site.function and site.function != "<module>":
        where += f" in {site.function}()"
    return where


def _figure_text(figure: FigureInfo) -> str:
    """'"Title" (6.0 x 4.0 in, 150 dpi)', with the axis labels when there is no title."""
    if figure.title:
        name = json.dumps(figure.title, ensure_ascii=False)
    elif figure.axis_labels:
        name = "untitled, axes " + " / ".join(figure.axis_labels)
    else:
        name = "untitled"
    size = f"{_inches(figure.width_in)} x {_inches(figure.height_in)} in, {figure.dpi:g} dpi"
    return f"{name} ({size})"


def _inches(value: float) -> str:
    """A size in inches with one to two decimals: 6.0, 6.25."""
    text = f"{value:.2f}"
    return text[:-1] if text.endswith("0") else text


def _input_text(ref: InputRef) -> str:
    """One input of render_one: path, checksum, and who made it or why it is a concern."""
    if ref.external:
        return f"{ref.path} ({EXTERNAL_NOTE})"
    if ref.sha256:
        text = f"{ref.path} (sha256 {short_hash(ref.sha256)})"
    elif ref.made_by:
        text = f"{ref.path} (a version since overwritten)"
    else:
        text = f"{ref.path} ({MISSING_NOTE})"
    return f"{text} ← made by step {ref.made_by}" if ref.made_by else text

"""The provenance graph of a run, from the tracer's per-process records and the snapshots.

Every output gets a generation: "traced" when a traced Python process was seen writing it (with
the call site in the analysis' code and the figure being saved), else "snapshot" when only the
comparison of the tree before and after its step saw it (a shell `cp`, a compiled program).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capsule.errors import CapsuleError
from capsule.hashing import Snapshot
from capsule.model import (
    Activity,
    CallSite,
    FigureInfo,
    Generation,
    Plan,
    Provenance,
    StepRun,
    Usage,
)
from capsule.runtime._capsule_events import READ, WRITE, TraceEvent, TraceSite

RECORD_GLOB = "process-*.json"
_CELL_OUTPUT = re.compile(r"^cell(\d+)-\d+\.[a-z]+$")


@dataclass(frozen=True)
class TraceRecord:
    """One traced process, as its record says."""

    pid: int
    ppid: int
    step: str
    argv: tuple[str, ...]
    events: tuple[TraceEvent, ...]
    failures: int
    first_failure: str


def read_records(trace_dir: Path) -> list[TraceRecord]:
    """The tracer's records of a run; a damaged one is an error naming it."""
    records = []
    for path in sorted(trace_dir.glob(RECORD_GLOB)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            records.append(
                TraceRecord(
                    pid=int(data["pid"]),
                    ppid=int(data["ppid"]),
                    step=str(data.get("step", "")),
                    argv=tuple(str(a) for a in data.get("argv", [])),
                    events=tuple(_event(raw) for raw in data.get("events", [])),
                    failures=int(data.get("failures", 0)),
                    first_failure=str(data.get("first_failure", "")),
                )
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise CapsuleError(
                f"the trace record {path.name} of the run is damaged: {error}",
                hint="build again; if it persists, run with --debug and report it",
            ) from error
    return records


def _fields(raw: object, names: tuple[str, ...]) -> dict[str, Any]:
    """A recorded list as a dict of the named tuple's fields; ValueError if it does not fit."""
    if not isinstance(raw, list) or len(raw) != len(names):
        raise ValueError(f"expected a list of {len(names)} fields ({', '.join(names)})")
    return dict(zip(names, raw, strict=True))


def _event(raw: object) -> TraceEvent:
    """One event of a record, read by the layout the tracer wrote; ValueError if not one."""
    fields = _fields(raw, TraceEvent._fields)
    site, figure = fields["site"], fields["figure"]
    return TraceEvent(
        seq=int(fields["seq"]),
        op=str(fields["op"]),
        path=str(fields["path"]),
        external=bool(fields["external"]),
        site=None if site is None else _site(site),
        figure=figure if isinstance(figure, dict) else None,
    )


def _site(raw: object) -> TraceSite:
    """A recorded call site; ValueError when it is not one."""
    fields = _fields(raw, TraceSite._fields)
    return TraceSite(
        file=str(fields["file"]),
        line=int(fields["line"]),
        function=str(fields["function"]),
        cell=int(fields["cell"]),
    )


def build_graph(
    records: Iterable[TraceRecord],
    *,
    plan: Plan,
    steps: tuple[StepRun, ...],
    outputs: Mapping[str, str],
    writer: Mapping[str, str],
    packaged: Snapshot,
    root: Path,
    runtime: Path,
) -> Provenance:
    """The provenance graph: activities, what they read, and who wrote each output.

    `outputs` maps each output to its sha256, `writer` each output to the step that last wrote
    it, `packaged` is the analysis as packaged; `root` and `runtime` are where the run's tree
    and capsule's runtime were, to make recorded paths portable.
    """
    by_step: dict[str, list[TraceRecord]] = {}
    for record in records:
        by_step.setdefault(record.step, []).append(record)
    activities: list[Activity] = []
    used: list[Usage] = []
    generated: dict[str, Generation] = {}
    written_anywhere = {
        event.path
        for step_records in by_step.values()
        for record in step_records
        for event in record.events
        if event.op == WRITE
    }
    notebook_of = {step.name: step.path for step in plan.steps if step.kind == "notebook"}
    for step in steps:
        ids = _activity_ids(by_step.get(step.name, []), step.name)
        for record in _ordered(by_step.get(step.name, [])):
            activity = ids[record.pid]
            activities.append(
                Activity(
                    id=activity,
                    step=step.name,
                    argv=_portable_argv(record.argv, root, runtime),
                    parent=ids.get(record.ppid, ""),
                )
            )
            for event in record.events:
                seq, op, path, external = event.seq, event.op, event.path, event.external
                if op == READ:
                    if external and path in written_anywhere:
                        continue  # a temporary file of the run itself, not an input
                    if external or path in packaged or path in outputs:
                        used.append(
                            Usage(activity=activity, entity=path, seq=seq, external=external)
                        )
                elif op == WRITE and not external and writer.get(path) == step.name:
                    generated[path] = Generation(
                        entity=path,
                        activity=activity,
                        seq=seq,
                        observed="traced",
                        call_site=_call_site(
                            event.site, path, notebook_of.get(step.name), packaged
                        ),
                        figure=_figure(event.figure),
                    )
    for path, step_name in sorted(writer.items()):
        if path in outputs and path not in generated:
            if not any(a.id == step_name for a in activities):
                argv = next((s.argv for s in steps if s.name == step_name), ())
                activities.append(Activity(id=step_name, step=step_name, argv=argv, kind="step"))
            generated[path] = Generation(
                entity=path, activity=step_name, seq=0, observed="snapshot"
            )
    return Provenance(
        activities=tuple(activities),
        used=tuple(sorted(set(used), key=lambda u: (u.activity, u.seq, u.entity))),
        generated=tuple(generated[path] for path in sorted(generated)),
    )


def _ordered(records: list[TraceRecord]) -> list[TraceRecord]:
    """Processes parent first, siblings by argv then pid: stable across runs."""
    pids = {r.pid for r in records}
    children: dict[int, list[TraceRecord]] = {}
    roots = []
    for record in records:
        if record.ppid in pids:
            children.setdefault(record.ppid, []).append(record)
        else:
            roots.append(record)
    ordered: list[TraceRecord] = []
    queue = sorted(roots, key=lambda r: (r.argv, r.pid))
    while queue:
        record = queue.pop(0)
        ordered.append(record)
        queue.extend(sorted(children.get(record.pid, []), key=lambda r: (r.argv, r.pid)))
    return ordered


def _activity_ids(records: list[TraceRecord], step: str) -> dict[int, str]:
    """pid -> "STEP/pN", numbered in the stable order of _ordered."""
    return {record.pid: f"{step}/p{n}" for n, record in enumerate(_ordered(records), start=1)}


def _portable_argv(argv: tuple[str, ...], root: Path, runtime: Path) -> tuple[str, ...]:
    """A process's argv as `python …`, without the paths of this machine's run."""
    if not argv:
        return ("python",)
    first = argv[0]
    root_prefix, runtime_prefix = f"{root}/", f"{runtime}/"
    if first.startswith(runtime_prefix) or "site-packages/" in first:
        head: tuple[str, ...] = ("-m", Path(first).stem)
    elif first.startswith(root_prefix):
        head = (first[len(root_prefix) :],)
    else:
        head = (first,)
    temp = f"{tempfile.gettempdir()}/"
    rest = tuple("<tmp>" if arg.startswith(temp) else arg for arg in argv[1:])
    return ("python", *head, *rest)


def cell_of_image(path: str, notebook: str) -> int:
    """The code cell whose displayed image the notebook runner saved at path, else 0.

    capsule/runtime/_capsule_notebook.py names them <folder>/<stem>/cell<N>-<k>.<ext>.
    """
    folder = notebook.removesuffix(".ipynb") + "/"
    match = _CELL_OUTPUT.match(path[len(folder) :]) if path.startswith(folder) else None
    return int(match.group(1)) if match else 0


def _call_site(
    site: TraceSite | None, path: str, notebook: str | None, packaged: Snapshot
) -> CallSite | None:
    """For an image a notebook runner extracted, its cell; else the recorded call site."""
    cell = cell_of_image(path, notebook) if notebook else 0
    if notebook and cell:
        stat = packaged.get(notebook)
        return CallSite(
            file=notebook,
            line=0,
            function="<cell output>",
            cell=cell,
            source_sha256=stat.sha256 if stat else "",
        )
    if site is None:
        return None
    stat = packaged.get(site.file)
    return CallSite(
        file=site.file,
        line=site.line,
        function=site.function,
        cell=site.cell,
        source_sha256=stat.sha256 if stat else "",
    )


def _figure(data: object) -> FigureInfo | None:
    """The figure tracer's description, if it gave one."""
    if not isinstance(data, dict):
        return None
    try:
        return FigureInfo(
            library=str(data.get("library", "")),
            title=str(data.get("title", "")),
            axis_labels=tuple(str(label) for label in data.get("axis_labels", [])),
            width_in=float(data.get("width_in", 0.0)),
            height_in=float(data.get("height_in", 0.0)),
            dpi=float(data.get("dpi", 0.0)),
        )
    except (TypeError, ValueError):
        return None

"""One traced run of a plan in a scratch copy: what build and the determinism probe both do.

The analysis is copied (hashing every byte, so the record cannot be falsified by a step that
rewrites its inputs), then run step by step in another copy under capsule's runtime (the tracer,
the show backend, the notebook runner) and the determinism environment. The result is plain data:
what each step did, what the run wrote, what the tracer saw and the provenance graph built from
it. The author's folder is only ever read.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from capsule import __version__, interpreters, provenance, render, runner, systrace
from capsule.errors import PlanError
from capsule.hashing import Snapshot, Stat, copy_hashed, walk
from capsule.model import Determinism, Plan, Provenance, Step

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
MATPLOTLIBRC = "matplotlibrc"


@dataclass(frozen=True)
class Runtime:
    """capsule's runtime folder (put on PYTHONPATH) and the matplotlibrc a run uses."""

    folder: Path
    matplotlibrc: Path


@dataclass(frozen=True)
class TracedRun:
    """What one traced run of a plan did and saw."""

    paths: runner.RunPaths  # where it ran; the scratch folders may be gone by now
    packaged: Snapshot  # the analysis as copied, before any step ran
    result: runner.RunResult  # a record per step, the final snapshot, who wrote what
    outputs: dict[str, Stat]  # the files the run left that were not packaged as they are
    records: tuple[provenance.TraceRecord, ...]  # the tracer's, one per Python process
    provenance: Provenance  # the graph built from the records and the snapshots
    # what the system observer saw of each step (step name -> file uses); empty when it was off
    system_uses: Mapping[str, tuple[systrace.FileUse, ...]] = field(default_factory=dict)
    observer: systrace.Observer | None = None  # None: not asked for


def interpreter(requested: str) -> str:
    """The analysis interpreter as an absolute path (not resolved: a venv's link must stay).

    It is asked its version first: one outside interpreters.OLDEST..NEWEST (or that does not
    answer) raises PlanError before anything of the analysis runs.
    """
    return interpreters.resolve(requested).path


def install_runtime(into: Path) -> Runtime:
    """Copy capsule's runtime to `into`/runtime and render the matplotlibrc beside it."""
    into.mkdir(parents=True, exist_ok=True)
    folder = into / "runtime"
    shutil.copytree(RUNTIME_DIR, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    rc = into / MATPLOTLIBRC
    rc.write_text(render.render("matplotlibrc.j2", capsule_version=__version__), encoding="utf-8")
    return Runtime(folder=folder, matplotlibrc=rc)


def copy_sources(source: Path, work: Path, plan: Plan) -> Snapshot:
    """Copy the analysis (without its declared outputs) into work/, hashing what is copied.

    The hash is taken from the very bytes written, before any step runs. A link pointing out of
    the analysis, or a file that cannot be read, raises PlanError naming it.
    """
    packaged: Snapshot = {}
    excluded = (*plan.exclude, *plan.outputs)
    for rel in walk(source, excluded):
        src = source / rel
        if src.is_symlink() and not src.resolve().is_relative_to(source.resolve()):
            raise PlanError(
                f"{rel} is a link to {src.resolve()}, outside the analysis folder",
                hint="copy the file into the analysis, or add it to exclude in capsule.toml",
            )
        dst = work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            digest, size = copy_hashed(src, dst)
        except OSError as error:
            raise PlanError(
                f"cannot read {rel}: {error.strerror or error}",
                hint="make the file readable, or add it to exclude in capsule.toml",
            ) from error
        packaged[rel] = Stat(size, dst.stat().st_mtime_ns, digest)
    return packaged


def traced_run(
    analysis: Path,
    packaged: Snapshot,
    plan: Plan,
    *,
    place: Path,
    runtime: Runtime,
    logs: Path,
    python: str,
    determinism: Determinism,
    host: Mapping[str, str],
    on_step: Callable[[int, Step], None] = lambda _i, _s: None,
    observe_system: bool = False,
) -> TracedRun:
    """Run every step of `plan` under the tracer in a copy of `analysis` made at place/work.

    `analysis` is a copy made by copy_sources and `packaged` its snapshot; it is not modified.
    Steps log into `logs`. With `observe_system`, the system observer (strace) watches every
    process of every step too, when this machine has one. Raises StepFailed at the first step
    that fails, CapsuleError for a damaged trace record.
    """
    work = place / "work"
    shutil.copytree(analysis, work, symlinks=True)
    paths = runner.RunPaths(
        work=work,
        runtime=runtime.folder,
        matplotlibrc=runtime.matplotlibrc,
        config=place / "config",
        logs=logs,
        trace=place / "trace",
        system=place / "system" if observe_system else None,
    )
    observer = systrace.observer() if observe_system else None
    result = runner.run_steps(
        plan.steps,
        paths=paths,
        python=python,
        determinism=determinism,
        packaged=packaged,
        host=host,
        on_step=on_step,
        observer=observer.program if observer else "",
    )
    outputs = runner.outputs_of(result, packaged)
    records = tuple(provenance.read_records(paths.trace))
    graph = provenance.build_graph(
        records,
        plan=plan,
        steps=result.steps,
        outputs={rel: stat.sha256 for rel, stat in outputs.items()},
        writer=result.writer,
        packaged=packaged,
        root=work,
        runtime=runtime.folder,
    )
    return TracedRun(
        paths=paths,
        packaged=packaged,
        result=result,
        outputs=outputs,
        records=records,
        provenance=graph,
        system_uses=(
            _system_uses(plan, paths.system)
            if observer and observer.program and paths.system
            else {}
        ),
        observer=observer,
    )


def _system_uses(plan: Plan, folder: Path) -> dict[str, tuple[systrace.FileUse, ...]]:
    """What the system observer saw of each step, by step name."""
    return {
        step.name: systrace.read(folder / runner.log_name(index, step))
        for index, step in enumerate(plan.steps, start=1)
    }

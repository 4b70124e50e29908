"""A plan by observation: run the candidate steps once and classify every file by what the run
did with it.

`capsule init` runs the steps it found, in a scratch copy of the analysis, under the tracer and
the system observer, as build does. A file some process wrote is an output; one read and never
written is data (code is code, whatever was done with it); the rest is neither. Pipelines that
skip work already done are asked to redo it (`make -B`, `snakemake --forceall`), so outputs
left on disk by an earlier run are seen being written. The classes become compact globs.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from capsule import environment, interpreters, runner
from capsule import plan as plans
from capsule.determinism import decide
from capsule.errors import StepFailed
from capsule.hashing import walk
from capsule.model import Plan, Step
from capsule.scratch import TracedRun, copy_sources, install_runtime, traced_run

# Programs that skip what is up to date, and how to make them redo everything.
FORCE_REDO = {"make": "-B", "snakemake": "--forceall"}
# What an output the run did not make looks like (figures, tables, documents).
OUTPUT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps", ".tif", ".tiff", ".html")
MIN_SUFFIX_GROUP = 2  # files of one suffix in one folder written as a `folder/*.suffix` glob
# What Python says of a relative path that is not there (FileNotFoundError, open()).
_MISSING_FILE = re.compile(r"No such file or directory: '([^'/][^']*)'")


@dataclass(frozen=True)
class Observation:
    """What one run of the candidate steps did with the analysis' files."""

    plan: Plan  # the candidate's steps, with the data and outputs observed (as globs)
    data: tuple[str, ...]  # files read and never written, code left out
    outputs: tuple[str, ...]  # files some process wrote that the run left
    not_made: tuple[str, ...]  # files on disk that look like outputs, which no step wrote
    failure: StepFailed | None = None  # the steps that failed (and are not allowed to), if any


def observe(
    root: Path,
    candidate: Plan,
    *,
    python: str,
    on_step: Callable[[int, Step], None] = lambda _i, _s: None,
) -> Observation:
    """Run the candidate's steps once in a scratch copy and classify the files.

    Every step runs even when one fails (the failures are in `failure`, each with the end of
    its stderr); nothing of the analysis folder is modified.
    """
    host = dict(os.environ)
    determinism = decide(candidate, environment.git_state(root), host)
    whole = dataclasses.replace(candidate, outputs=())  # nothing is known to be an output yet
    with tempfile.TemporaryDirectory(prefix="capsule-init-") as tmp:
        scratch = Path(tmp)
        packaged = copy_sources(root, scratch / "analysis", whole)
        run = traced_run(
            scratch / "analysis",
            packaged,
            dataclasses.replace(whole, steps=tuple(_observed(step) for step in whole.steps)),
            place=scratch / "run",
            runtime=install_runtime(scratch),
            logs=scratch / "logs",
            python=python,
            determinism=determinism,
            host=host,
            on_step=on_step,
            observe_system=True,
        )
        written, read = seen(run)
        after = set(walk(run.paths.work))
        failure = _failed(candidate.steps, run)
    outputs = sorted(written & after)
    data = sorted(rel for rel in read - written if rel in packaged and not plans.is_code(rel))
    not_made = sorted(
        rel
        for rel in packaged
        if rel not in written and rel not in read and rel.lower().endswith(OUTPUT_SUFFIXES)
    )
    universe = set(packaged) | after
    plan = dataclasses.replace(
        candidate,
        data=compact(set(data), set(packaged)),
        outputs=compact(set(outputs), universe),
    )
    return Observation(
        plan=plan,
        data=tuple(data),
        outputs=tuple(outputs),
        not_made=tuple(not_made),
        failure=failure,
    )


def _failed(steps: tuple[Step, ...], run: TracedRun) -> StepFailed | None:
    """Every step that failed and is not allowed to, as one error (None when none did)."""
    allowed = {step.name for step in steps if step.allow_failure}
    failures = [
        runner.failure(
            step, ended.exit_code, run.paths.logs / Path(ended.log_stderr).name, run.paths.work
        )
        for step, ended in zip(steps, run.result.steps, strict=True)
        if ended.exit_code != 0 and step.name not in allowed
    ]
    return runner.all_failed(failures, len(steps)) if failures else None


def propose(
    root: Path,
    *,
    force: bool = False,
    write: bool = True,
    python: str = "",
    on_step: Callable[[int, Step], None] = lambda _i, _s: None,
) -> tuple[plans.Proposal, Observation]:
    """`capsule init`: the steps found by name, run once; capsule.toml from what they did.

    An existing capsule.toml is refused (without force) before anything runs.
    """
    if write:
        plans.check_writable(root, force=force)
    candidate = plans.detect(root)
    interpreter = interpreters.resolve(python).path
    seen_run = observe(root, candidate, python=interpreter, on_step=on_step)
    moved = from_own_folders(root, candidate, seen_run.failure) if seen_run.failure else None
    if moved:
        seen_run = observe(root, moved, python=interpreter, on_step=on_step)
    proposal = plans.propose(root, force=force, write=write, proposed=seen_run.plan)
    if seen_run.failure is not None:
        raise StepFailed(
            (f"{root / plans.PLAN_FILE} was written, but " if write else "")
            + seen_run.failure.message,
            hint=seen_run.failure.hint,
            failed=seen_run.failure.failed,
        )
    return proposal, seen_run


def from_own_folders(root: Path, candidate: Plan, error: StepFailed) -> Plan | None:
    """The plan with each script that failed for want of a file found beside it run from its
    own folder (`cwd`), as its author ran it; None when no step is such."""
    said = dict(error.failed)
    moved = False
    steps = []
    for step in candidate.steps:
        folder = posixpath.dirname(step.path)
        missing = _MISSING_FILE.findall(said.get(step.name, ""))
        beside = bool(missing) and (root / folder / missing[-1]).exists()
        if step.kind == "script" and folder and not step.cwd and beside:
            step = dataclasses.replace(step, cwd=folder)
            moved = True
        steps.append(step)
    return dataclasses.replace(candidate, steps=tuple(steps)) if moved else None


def seen(run: TracedRun) -> tuple[set[str], set[str]]:
    """The analysis' files (relative) some process wrote, and those some process read.

    From the snapshots (new or changed files), the Python tracer (every Python process) and the
    system observer (every process, whatever its language) when there is one.
    """
    work = run.paths.work.resolve()
    written = set(run.outputs) | {g.entity for g in run.provenance.generated}
    read = {u.entity for u in run.provenance.used if not u.external}
    for uses in run.system_uses.values():
        for use in uses:
            path = Path(use.path)
            if use.executed or not path.is_relative_to(work):
                continue
            (written if use.written else read).add(path.relative_to(work).as_posix())
    return written, read


def compact(chosen: set[str], universe: set[str]) -> tuple[str, ...]:
    """Globs that match exactly `chosen` among `universe`: `folder/**` for a folder whose every
    file is chosen (the outermost), `folder/*.dat` for every file of a suffix, else the path."""
    globs: list[str] = []
    remaining = set(chosen)
    for folder in sorted(_folders(chosen), key=lambda f: (f.count("/"), f)):
        inside = {rel for rel in universe if rel.startswith(f"{folder}/")}
        if inside and inside <= chosen and inside & remaining:
            globs.append(f"{folder}/**")
            remaining -= inside
    for (parent, suffix), files in sorted(_by_suffix(remaining).items()):
        peers = {rel for rel in universe if _parent(rel) == parent and _suffix(rel) == suffix}
        if suffix and len(files) >= MIN_SUFFIX_GROUP and peers <= chosen:
            globs.append(f"{parent}/*{suffix}" if parent else f"*{suffix}")
        else:
            globs.extend(sorted(files))
    return tuple(globs)


def _observed(step: Step) -> Step:
    """The step as the observation runs it: its failure does not stop the others, and a
    pipeline tool is asked to redo everything."""
    step = dataclasses.replace(step, allow_failure=True)
    if step.kind != "command" or not step.args:
        return step
    flag = FORCE_REDO.get(Path(step.args[0]).name)
    if flag is None or flag in step.args:
        return step
    return dataclasses.replace(step, args=(step.args[0], flag, *step.args[1:]))


def _folders(paths: Iterable[str]) -> set[str]:
    """Every folder holding one of the paths, at any depth."""
    return {"/".join(p.split("/")[:depth]) for p in paths for depth in range(1, p.count("/") + 1)}


def _by_suffix(paths: Iterable[str]) -> dict[tuple[str, str], set[str]]:
    """Paths grouped by (folder, suffix)."""
    groups: dict[tuple[str, str], set[str]] = {}
    for rel in paths:
        groups.setdefault((_parent(rel), _suffix(rel)), set()).add(rel)
    return groups


def _parent(rel: str) -> str:
    """The folder of a relative path, "" at the top."""
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def _suffix(rel: str) -> str:
    """The suffix of a path's name (".dat"), "" without one."""
    return Path(rel).suffix

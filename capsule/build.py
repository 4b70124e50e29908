"""`capsule build`: run the analysis in a scratch copy and package it as a research capsule.

The orchestrator: it chains plan → copy and hash → run → lock → describe → compare with the
author's outputs → render → manifest, and writes the capsule atomically (a temporary sibling
folder renamed at the very end, so Ctrl-C or an error leaves nothing half-written).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from capsule import (
    __version__,
    audit,
    compare,
    docker,
    environment,
    lock,
    manifest,
    plan,
    provenance,
    render,
    report,
    runner,
)
from capsule.checks import RunFacts, secrets
from capsule.checks.run import network_events
from capsule.determinism import decide
from capsule.errors import CapsuleError, PlanError
from capsule.hashing import CHUNK, Snapshot, Stat, matches, sha256_file, snapshot, walk
from capsule.model import (
    FORMAT_VERSION,
    FileEntry,
    FileRole,
    Finding,
    Lock,
    Manifest,
    OnDiskStatus,
    OutputEntry,
    Plan,
    Provenance,
)
from capsule.naming import capsule_name
from capsule.progress import Progress

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
CODE_SUFFIXES = (".py", ".ipynb", ".sh", ".r", ".R", ".jl", ".m", ".do", ".sql", ".mk", ".pyx")
CODE_NAMES = (
    "Makefile",
    "Snakefile",
    "Dockerfile",
    "capsule.toml",
    "requirements.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "environment.yml",
)
DEBIAN_SUITE = "bookworm"
SHOWN_FOLDER = "shown/"  # where capsule/runtime/_capsule_show.py saves plt.show() figures
# template -> file of the capsule
RENDERED = (
    ("Dockerfile.j2", "Dockerfile"),
    ("dockerignore.j2", ".dockerignore"),
    ("run.sh.j2", "run.sh"),
    ("README.md.j2", "README.md"),
)


@dataclass(frozen=True)
class BuildOptions:
    """What the author asked of `capsule build`."""

    source: Path
    output: Path
    force: bool = False
    python: str = ""  # the interpreter the steps run with; overrides capsule.toml
    base_image: str = ""  # the image the Dockerfile starts FROM; default: python:X.Y.Z-slim


@dataclass(frozen=True)
class BuildSummary:
    """What a build made, for the closing lines on the terminal or --json."""

    capsule: str  # the capsule folder
    capsule_id: str
    outputs: int
    pins: int
    built_pins: tuple[str, ...]  # name==version of pins built from local source
    data_bytes: int
    files: int
    on_disk: Mapping[str, str]  # output path -> its status against the author's copy
    findings: tuple[Finding, ...]


def build(options: BuildOptions, progress: Progress | None = None) -> BuildSummary:
    """Build the capsule of options.source into options.output; raise CapsuleError on failure."""
    progress = progress or Progress(enabled=False)
    source = options.source
    the_plan = plan.load(source)
    target = _check_output(options, source)
    _refuse_secrets(source, the_plan)
    python = interpreter(options.python or the_plan.python)
    host = dict(os.environ)
    started_at = environment.now_iso()

    with _staging(target) as staging, tempfile.TemporaryDirectory(prefix="capsule-run-") as tmp:
        scratch = Path(tmp)
        with progress.stage("Copying and hashing the analysis"):
            packaged = copy_sources(source, staging / "work", the_plan)
        shutil.copytree(staging / "work", scratch / "work", symlinks=True)
        shutil.copytree(RUNTIME_DIR, staging / "runtime", ignore=_runtime_ignore)
        (staging / "matplotlibrc").write_text(
            render.render("matplotlibrc.j2", capsule_version=__version__), encoding="utf-8"
        )
        git = environment.git_state(source)
        determinism = decide(the_plan, git, host)
        paths = runner.RunPaths(
            work=scratch / "work",
            runtime=staging / "runtime",
            matplotlibrc=staging / "matplotlibrc",
            config=scratch / "config",
            logs=staging / "logs",
            trace=scratch / "trace",
        )
        total = len(the_plan.steps)
        with progress.stage(f"Running {total} step{'s' if total != 1 else ''}"):
            result = runner.run_steps(
                the_plan.steps,
                paths=paths,
                python=python,
                determinism=determinism,
                packaged=packaged,
                host=host,
                on_step=lambda i, step: progress.say(f"{i}/{total} {step.name}"),
            )
        produced = runner.outputs_of(result, packaged)
        records = provenance.read_records(paths.trace)
        graph = provenance.build_graph(
            records,
            plan=the_plan,
            steps=result.steps,
            outputs={rel: stat.sha256 for rel, stat in produced.items()},
            writer=result.writer,
            packaged=packaged,
            root=paths.work,
            runtime=paths.runtime,
        )
        with progress.stage("Hashing outputs"):
            _copy_outputs(scratch / "work", staging / "expected", produced)
        with progress.stage("Pinning packages and fetching wheels"):
            the_lock = lock.pin(
                lock.read_module_records(paths.trace),
                python=python,
                analysis_root=scratch / "work",
                wheels_dir=staging / "wheels",
                lock_path=staging / "requirements.lock",
                say=progress.say,
            )
        with progress.stage("Comparing with the outputs on disk"):
            outputs = _compare_on_disk(
                source,
                staging / "expected",
                produced,
                result.writer,
                [step.path for step in the_plan.steps if step.kind == "notebook"],
            )
        finished_at = environment.now_iso()
        env = environment.describe(
            started_at=started_at,
            finished_at=finished_at,
            python=python,
            root=source,
            environ=host,
        )
        base_image = options.base_image or _default_base_image(the_lock.python_version)
        name = capsule_name(source)
        _render_files(staging, name, base_image, the_plan, determinism.env, the_lock)
        findings = (
            *_findings(the_plan, result, outputs, source, produced),
            *provenance.findings(records),
            *_notebook_findings(source, paths.logs, the_plan),
            *_audit_findings(source, the_plan, graph, records, the_lock, produced),
        )
        the_manifest = Manifest(
            format=FORMAT_VERSION,
            capsule_version=__version__,
            name=name,
            plan=the_plan,
            determinism=determinism,
            environment=env,
            lock=the_lock,
            base_image=base_image,
            files=_file_entries(packaged, the_plan),
            outputs=outputs,
            steps=result.steps,
            capsule_files=_capsule_files(staging),
            findings=findings,
            provenance=graph,
        )
        capsule_id = manifest.write(the_manifest, staging)
        with progress.stage("Writing the methods report"):
            # Derived from capsule.json, so written after it and not listed in it.
            for fmt in ("html", "md", "tex"):
                report.write_report(staging, fmt=fmt)
        _check_source_unchanged(source, the_plan, packaged)
        _publish(staging, target, options.force)
    return BuildSummary(
        capsule=str(target),
        capsule_id=capsule_id,
        outputs=len(outputs),
        pins=len(the_lock.pins),
        built_pins=tuple(f"{p.name}=={p.version}" for p in the_lock.pins if p.source == "built"),
        data_bytes=sum(e.size for e in the_manifest.files if e.role == "data"),
        files=len(the_manifest.files),
        on_disk={entry.path: entry.on_disk for entry in outputs},
        findings=findings,
    )


# ── before the run ────────────────────────────────────────────────────────────────────────


def _check_output(options: BuildOptions, source: Path) -> Path:
    """The capsule folder to write: refused if it exists (without --force) or lies in the source."""
    target = options.output.resolve()
    if target.exists() and not options.force:
        raise PlanError(
            f"{options.output} already exists",
            hint="choose another -o folder, or pass --force to replace it",
        )
    if (
        target.exists()
        and not (target / manifest.MANIFEST_FILE).is_file()
        and any(target.iterdir())
    ):
        raise PlanError(
            f"{options.output} exists and is not a capsule; capsule will not replace it",
            hint="choose another -o folder",
        )
    if target.is_relative_to(source.resolve()):
        raise PlanError(
            f"{options.output} is inside the analysis folder, which capsule never modifies",
            hint="write the capsule beside the analysis, e.g. -o ../NAME.capsule",
        )
    return target


def interpreter(requested: str) -> str:
    """The analysis interpreter as an absolute path (not resolved: a venv's link must stay)."""
    if not requested:
        return sys.executable
    found = shutil.which(requested)
    if found is None:
        raise PlanError(
            f"cannot find the Python interpreter {requested!r}",
            hint="give the path of the interpreter the analysis runs with",
        )
    return str(Path(found).absolute())


@contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temporary sibling of the target folder, removed whatever happens unless published."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _runtime_ignore(_folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name == "__pycache__" or name.endswith(".pyc")]


def _refuse_secrets(source: Path, the_plan: Plan) -> None:
    """A capsule gets published: refuse to package files that look like secrets."""
    files = list(walk(source, (*the_plan.exclude, *the_plan.outputs)))
    found = secrets.secret_files(source, files, the_plan.allow_secrets)
    if found:
        listed = "\n  ".join(f"{f.location}: {f.message}" for f in found[:10])
        raise PlanError(
            f"the analysis holds files that look like secrets; capsule will not package them:"
            f"\n  {listed}",
            hint=secrets.SECRET_FIX,
        )


def copy_sources(source: Path, work: Path, the_plan: Plan) -> Snapshot:
    """Copy the analysis (without its declared outputs) into work/, hashing what is copied.

    The hash is taken from the very bytes written into the capsule, before any step runs, so
    the record cannot be falsified by a step that rewrites its inputs.
    """
    packaged: Snapshot = {}
    excluded = (*the_plan.exclude, *the_plan.outputs)
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
            digest, size = _copy_hashed(src, dst)
        except OSError as error:
            raise PlanError(
                f"cannot read {rel}: {error.strerror or error}",
                hint="make the file readable, or add it to exclude in capsule.toml",
            ) from error
        packaged[rel] = Stat(size, dst.stat().st_mtime_ns, digest)
    return packaged


def _copy_hashed(src: Path, dst: Path) -> tuple[str, int]:
    """Copy a file in 1 MiB chunks, hashing the bytes as they pass; return (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    with src.open("rb") as reader, dst.open("wb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    shutil.copymode(src, dst)
    return digest.hexdigest(), size


def _role(rel: str, the_plan: Plan) -> FileRole:
    """Whether a packaged file is code, data or something else."""
    name = rel.rsplit("/", 1)[-1]
    if name in CODE_NAMES or name.endswith(CODE_SUFFIXES):
        return "code"  # a script in data/ (the generator of the data) is still code
    if matches(rel, the_plan.data):
        return "data"
    return "other"


def _file_entries(packaged: Snapshot, the_plan: Plan) -> tuple[FileEntry, ...]:
    return tuple(
        FileEntry(path=rel, sha256=stat.sha256, size=stat.size, role=_role(rel, the_plan))
        for rel, stat in sorted(packaged.items())
    )


# ── after the run ─────────────────────────────────────────────────────────────────────────


def _copy_outputs(work: Path, expected: Path, produced: Mapping[str, Stat]) -> None:
    """Copy the run's outputs into expected/, checking each copy against the run's hash."""
    for rel, stat in sorted(produced.items()):
        dst = expected / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        digest, _size = _copy_hashed(work / rel, dst)
        if digest != stat.sha256:
            raise CapsuleError(
                f"{rel} changed while capsule was copying it",
                hint="is another process writing into the scratch folder? build again",
            )


def _made_by_capsule(rel: str, notebooks: list[str]) -> bool:
    """Whether an output is one capsule itself saves: a plt.show() figure, a notebook image."""
    if rel.startswith(SHOWN_FOLDER):
        return True
    return any(provenance.cell_of_image(rel, nb) for nb in notebooks)


def _compare_on_disk(
    source: Path,
    expected: Path,
    produced: Mapping[str, Stat],
    writer: Mapping[str, str],
    notebooks: list[str],
) -> tuple[OutputEntry, ...]:
    """Each output of the run, with the author's own copy compared against it."""
    entries = []
    for rel, stat in sorted(produced.items()):
        mine = source / rel
        status: OnDiskStatus
        note = ""
        if not mine.is_file():
            status = "missing"
            if _made_by_capsule(rel, notebooks):
                note = "made by capsule: a figure the analysis showed but did not save"
        elif sha256_file(mine) == stat.sha256:
            status = "identical"
        else:
            verdict = compare.compare(expected / rel, mine, path=rel)
            status = "metadata-only" if verdict.verdict == "metadata-only" else "stale"
            note = verdict.reason
        entries.append(
            OutputEntry(
                path=rel,
                sha256=stat.sha256,
                size=stat.size,
                step=writer.get(rel, ""),
                on_disk=status,
                on_disk_note=note,
            )
        )
    return tuple(entries)


def _findings(
    the_plan: Plan,
    result: runner.RunResult,
    outputs: tuple[OutputEntry, ...],
    source: Path,
    produced: Mapping[str, Stat],
) -> tuple[Finding, ...]:
    """What the build noticed that threatens reproducibility."""
    found: list[Finding] = []
    for step in result.steps:
        for rel in step.changed_inputs:
            found.append(
                Finding(
                    check="step-modifies-input",
                    severity="warning",
                    message=f"step {step.name!r} changed {rel}, a file the analysis started with",
                    location=rel,
                    fix="write results to new files; the capsule keeps the original bytes",
                )
            )
    changed_inputs = {rel for step in result.steps for rel in step.changed_inputs}
    for entry in outputs:
        if entry.on_disk == "stale" and entry.path not in changed_inputs:
            found.append(
                Finding(
                    check="stale-output",
                    severity="warning",
                    message=(
                        f"{entry.path} on disk is not what the current code makes "
                        f"({entry.on_disk_note})"
                    ),
                    location=entry.path,
                    fix="rerun the analysis, or check which version of the code made this file",
                )
            )
    for rel in walk(source, the_plan.exclude):
        if plan.is_output(rel, the_plan) and rel not in produced:
            found.append(
                Finding(
                    check="orphan-output",
                    severity="warning",
                    message=f"{rel} is in the analysis folder but no step wrote it",
                    location=rel,
                    fix="delete it if it is obsolete, or add the step that makes it",
                )
            )
    return tuple(found)


def _notebook_findings(source: Path, logs: Path, the_plan: Plan) -> list[Finding]:
    """Notebooks whose stored outputs a top-to-bottom run in a fresh kernel does not reproduce."""
    found = []
    for step in the_plan.steps:
        executed = logs / step.path.replace("/", "__")  # where _capsule_notebook stores it
        if step.kind != "notebook" or not executed.is_file():
            continue
        if not any(cell.get("outputs") for cell in _cells(source / step.path)):
            continue  # never run: notebook-never-run says so
        verdict = compare.compare(source / step.path, executed, path=step.path)
        if verdict.verdict == "differs":
            found.append(
                Finding(
                    check="notebook-outputs-not-reproduced",
                    severity="warning",
                    message=f"{step.path}: a run from top to bottom in a fresh kernel does not "
                    f"reproduce its stored outputs ({verdict.reason})",
                    location=step.path,
                    fix="restart the kernel, run all cells and save; the stored outputs then "
                    "show what the code makes",
                )
            )
    return found


def _cells(notebook: Path) -> list[dict[str, object]]:
    """The cells of a notebook file, [] when it cannot be read."""
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [cell for cell in cells if isinstance(cell, dict)]


def _audit_findings(
    source: Path,
    the_plan: Plan,
    graph: Provenance,
    records: list[provenance.TraceRecord],
    the_lock: Lock,
    produced: Mapping[str, Stat],
) -> list[Finding]:
    """The audit's checks (all of them are fast), with what this build's run observed."""
    facts = RunFacts(
        provenance=graph,
        outputs=tuple(sorted(produced)),
        network=network_events(records),
        imported_distributions=tuple(
            (pin.name, pin.version, pin.origin) for pin in the_lock.pins if pin.source == "built"
        ),
    )
    return audit.run_checks(audit.with_run(audit.static_context(source, the_plan), facts))


def _default_base_image(python_version: str) -> str:
    """python:X.Y.Z-slim-<debian>, pinned by digest when the local engine knows the image."""
    name = f"python:{python_version}-slim-{DEBIAN_SUITE}"
    digest = docker.image_digest(name) if docker.engine_available() else None
    return digest or name


def _render_files(
    staging: Path,
    name: str,
    base_image: str,
    the_plan: Plan,
    env: tuple[tuple[str, str], ...],
    the_lock: Lock,
) -> None:
    """Render the Dockerfile, run.sh and README.md of the capsule."""
    steps = [
        {
            "name": step.name,
            "log": runner.log_name(index, step),
            "argv": runner.step_argv(step, "python"),
        }
        for index, step in enumerate(the_plan.steps, start=1)
    ]
    context = {
        "name": name,
        "capsule_version": __version__,
        "base_image": base_image,
        "tag": f"capsule/{name.lower()}",
        "env": env,
        "steps": steps,
        "plan": the_plan,
        "python_version": the_lock.python_version,
        "has_pins": bool(the_lock.pins),
    }
    for template, filename in RENDERED:
        (staging / filename).write_text(render.render(template, **context), encoding="utf-8")
    (staging / "run.sh").chmod(0o755)


def _capsule_files(staging: Path) -> tuple[FileEntry, ...]:
    """Checksums of the generated files beside work/ and expected/: all verify must trust."""
    skip = ("work/**", "expected/**", manifest.MANIFEST_FILE)
    return tuple(
        FileEntry(
            path=rel,
            sha256=sha256_file(staging / rel),
            size=(staging / rel).stat().st_size,
            role="other",
        )
        for rel in walk(staging, skip)
    )


def _check_source_unchanged(source: Path, the_plan: Plan, packaged: Snapshot) -> None:
    """The author's folder must be as it was: capsule never writes there."""
    after = snapshot(source, (*the_plan.exclude, *the_plan.outputs))
    changed = sorted(
        rel
        for rel in set(after) | set(packaged)
        if rel not in after or rel not in packaged or after[rel].sha256 != packaged[rel].sha256
    )
    if changed:
        raise CapsuleError(
            f"the analysis folder changed while capsule was building: {', '.join(changed[:5])}",
            hint="something else is writing there (an editor, a running job); "
            "build again when it is done",
        )


def _publish(staging: Path, target: Path, force: bool) -> None:
    """Move the finished capsule into place; replace an old capsule only with --force."""
    if target.exists():
        if not force:
            raise PlanError(f"{target} appeared while building", hint="pass --force to replace it")
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(target)

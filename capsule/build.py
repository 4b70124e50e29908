"""`capsule build`: run the analysis in a scratch copy and package it as a research capsule.

The orchestrator: it chains plan → copy and hash → run → lock → describe → compare with the
author's outputs → render → manifest, and writes the capsule atomically (a temporary sibling
folder renamed at the very end, so Ctrl-C or an error leaves nothing half-written).
"""

from __future__ import annotations

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
    dockerfile,
    environment,
    interpreters,
    lock,
    manifest,
    plan,
    platforms,
    provenance,
    render,
    runner,
    syspkg,
    system,
)
from capsule.backends import docker
from capsule.checks import BuildFacts, secrets
from capsule.determinism import decide
from capsule.errors import CapsuleError, EnvironmentProblem, PlanError, StepFailed
from capsule.hashing import Snapshot, Stat, copy_hashed, matches, sha256_file, snapshot, walk
from capsule.model import (
    FORMAT_VERSION,
    Determinism,
    Environment,
    FileEntry,
    FileRole,
    Finding,
    ImageArchive,
    Lock,
    Manifest,
    OnDiskStatus,
    OutputEntry,
    Plan,
    StepRun,
    SystemEnvironment,
)
from capsule.naming import RUNTIME_LOCK, RUNTIME_PYTHON_VARIABLE, RUNTIME_WHEELS, capsule_name
from capsule.progress import Progress
from capsule.report import methods_report as report
from capsule.scratch import TracedRun, copy_sources, install_runtime, traced_run
from capsule.wording import plural

DEBIAN_SUITE = "bookworm"
# How run.sh (and README.md) name the notebook client's interpreter: the Dockerfile sets it.
RUNTIME_PYTHON = render.ShellVariable(RUNTIME_PYTHON_VARIABLE)
SHOWN_FOLDER = "shown/"  # where capsule/runtime/_capsule_show.py saves plt.show() figures
EMBED_NEEDS_ENGINE = (
    "--embed-base-image saves the base image from a Docker engine, and none answers"
)
EMBED_NEEDS_ENGINE_HINT = "start a Docker engine, or build without --embed-base-image"
FAILED_SUFFIX = ".failed"  # NAME.capsule.failed/logs: the logs of a build whose step failed
OTHER_PYTHON = (
    "the base image {image} runs {theirs} and the analysis {ours}: the rerun would not use the "
    "interpreter the outputs were made with"
)
OTHER_PYTHON_HINT = (
    "give a base image with Python {version} (--base-image; scripts/make-base-image.sh makes one "
    "with this machine's interpreter), or run the analysis with the image's Python (--python)"
)
# template -> file of the capsule (the Dockerfile comes from capsule/dockerfile.py)
RENDERED = (
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
    embed_base_image: bool = False  # save the base image into the capsule (base-image.tar)


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
    _check_embeddable(options)
    analysis = interpreters.resolve(options.python or the_plan.python)
    python = analysis.path
    base_image = options.base_image or _default_base_image(analysis.version)
    rerun_python = _check_rerun_python(base_image, analysis)
    host = dict(os.environ)
    started_at = environment.now_iso()
    with _staging(target) as staging, tempfile.TemporaryDirectory(prefix="capsule-run-") as tmp:
        with progress.stage("Copying and hashing the analysis"):
            packaged = copy_sources(source, staging / "work", the_plan)
        determinism = decide(the_plan, environment.git_state(source), host)
        total = len(the_plan.steps)
        with progress.stage(f"Running {plural(total, 'step')}"), _logs_kept(staging, target):
            run = traced_run(
                staging / "work",
                packaged,
                the_plan,
                place=Path(tmp),
                runtime=install_runtime(staging),
                logs=staging / "logs",
                python=python,
                determinism=determinism,
                host=host,
                on_step=lambda i, step: progress.say(f"{i}/{total} {step.name}"),
                observe_system=True,
            )
        with progress.stage("Hashing outputs"):
            _copy_outputs(run.paths.work, staging / "expected", run.outputs)
        with progress.stage("Pinning packages and fetching wheels"):
            the_lock = lock.pin(
                lock.read_module_records(run.paths.trace),
                python=python,
                analysis_root=run.paths.work,
                wheels_dir=staging / "wheels",
                lock_path=staging / "requirements.lock",
                say=progress.say,
            )
        runtime_lock = _pin_runtime(staging, the_plan, progress)
        with progress.stage("Comparing with the outputs on disk"):
            outputs = _compare_on_disk(source, staging / "expected", run, the_plan)
        with progress.stage("Resolving what the run used of the system"):
            used = _system(run, staging, python, base_image, (source, Path(tmp)), progress)
        archive = _embed(base_image, staging, progress) if options.embed_base_image else None
        env = environment.describe(
            started_at=started_at,
            finished_at=environment.now_iso(),
            python=python,
            root=source,
            environ=host,
        )
        the_manifest = _manifest(
            staging,
            options.source,
            (base_image, archive),
            the_plan,
            run,
            (the_lock, runtime_lock),
            outputs,
            determinism,
            env,
            used,
            rerun_python,
        )
        capsule_id = manifest.write(the_manifest, staging)
        with progress.stage("Writing the methods report"):
            # Derived from capsule.json, so written after it and not listed in it.
            for fmt in ("html", "md", "tex"):
                report.write_report(staging, fmt=fmt)
        _check_source_unchanged(source, the_plan, packaged)
        _publish(staging, target, options.force)
    return _summary(target, capsule_id, the_manifest)


def _manifest(
    staging: Path,
    source: Path,
    image: tuple[str, ImageArchive | None],
    the_plan: Plan,
    run: TracedRun,
    locks: tuple[Lock, Lock | None],
    outputs: tuple[OutputEntry, ...],
    determinism: Determinism,
    env: Environment,
    used: tuple[SystemEnvironment, tuple[str, ...]],
    rerun_python: str,
) -> Manifest:
    """Render the capsule's files into staging and describe it all in the manifest.

    `locks` are the analysis' and that of capsule's notebook client (None without notebooks);
    `used` the system section and the system packages no .deb could be had for; `rerun_python`
    the base image's Python as asked ("" when it could not be).
    """
    the_lock, runtime_lock = locks
    system_section = used[0]
    base_image, archive = image
    name = capsule_name(source)
    the_platform = platforms.platform_of(env.architecture)
    _render_files(staging, name, base_image, the_plan, determinism.env, locks, run.result.steps)
    (staging / "Dockerfile").write_text(
        dockerfile.render_dockerfile(
            name=name,
            capsule_version=__version__,
            base_image=base_image,
            platform=the_platform,
            has_pins=bool(the_lock.pins),
            archive=archive,
            runtime_lock=runtime_lock,
            debs=dockerfile.vendored_debs(system_section),
        ),
        encoding="utf-8",
    )
    return Manifest(
        format=FORMAT_VERSION,
        capsule_version=__version__,
        name=name,
        plan=the_plan,
        determinism=determinism,
        environment=env,
        lock=the_lock,
        base_image=base_image,
        files=_file_entries(run.packaged, the_plan),
        outputs=outputs,
        steps=run.result.steps,
        capsule_files=_capsule_files(staging),
        findings=_findings(source, the_plan, run, the_lock, outputs, used, rerun_python),
        provenance=run.provenance,
        platform=the_platform,
        base_image_archive=archive,
        runtime_lock=runtime_lock,
        system=system_section,
        rerun_python=rerun_python,
    )


def _system(
    run: TracedRun,
    staging: Path,
    python: str,
    base_image: str,
    places: tuple[Path, Path],
    progress: Progress,
) -> tuple[SystemEnvironment, tuple[str, ...]]:
    """The system section: what the run used outside the analysis and its Python, resolved to
    packages, those the base image lacks vendored into debs/; and those no .deb was had for.

    `places` are the analysis folder and the scratch folder the run happened in.
    """
    observer = run.observer
    if observer is None or not observer.program:
        reason = observer.description if observer else "the system observer was not asked for"
        the_system = SystemEnvironment(
            os_release=system.os_release(),
            observer="",
            packages=(),
            unowned=(),
            base_packages="none",
            note=reason,
        )
        return the_system, ()
    skip = (
        *(str(place.resolve()) for place in (*places, staging)),
        *interpreters.dirs(python),
        *interpreters.dirs(sys.executable),  # capsule's own, which runs the notebook client
    )
    described = system.describe(
        run.system_uses,
        skip=skip,
        observer=observer.description,
        database=syspkg.load(),
        base=_base_packages(base_image),
    )
    return system.vendor(described, staging, say=progress.say)


def _base_packages(base_image: str) -> dict[str, str] | None:
    """The base image's packages (name -> version), None when no engine has the image."""
    try:
        return docker.image_packages(base_image) if docker.engine_available() else None
    except CapsuleError:
        return None


def _pin_runtime(staging: Path, the_plan: Plan, progress: Progress) -> Lock | None:
    """Pin capsule's notebook client into runtime.lock and runtime-wheels/, if a step needs it."""
    if not any(step.kind == "notebook" for step in the_plan.steps):
        return None
    with progress.stage("Pinning capsule's notebook client"):
        return lock.pin_runtime(
            wheels_dir=staging / RUNTIME_WHEELS,
            lock_path=staging / RUNTIME_LOCK,
            say=progress.say,
        )


def _summary(target: Path, capsule_id: str, the_manifest: Manifest) -> BuildSummary:
    """The closing lines of a build, from its manifest."""
    pins = the_manifest.lock.pins
    return BuildSummary(
        capsule=str(target),
        capsule_id=capsule_id,
        outputs=len(the_manifest.outputs),
        pins=len(pins),
        built_pins=tuple(f"{p.name}=={p.version}" for p in pins if p.source == "built"),
        data_bytes=sum(e.size for e in the_manifest.files if e.role == "data"),
        files=len(the_manifest.files),
        on_disk={entry.path: entry.on_disk for entry in the_manifest.outputs},
        findings=the_manifest.findings,
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


@contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temporary sibling of the target folder, removed whatever happens unless published."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _logs_kept(staging: Path, target: Path) -> Iterator[None]:
    """When a step fails, keep the steps' logs in NAME.capsule.failed/logs (until the next
    build, which removes them) and say where: the staging folder goes with the failure."""
    kept = target.with_name(f"{target.name}{FAILED_SUFFIX}")
    shutil.rmtree(kept, ignore_errors=True)
    try:
        yield
    except StepFailed as error:
        shutil.copytree(staging / "logs", kept / "logs", dirs_exist_ok=True)
        raise StepFailed(
            f"{error.message}\nthe steps' full logs: {kept / 'logs'}", hint=error.hint
        ) from error


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


def _check_rerun_python(base_image: str, analysis: interpreters.Interpreter) -> str:
    """The base image's Python ("CPython 3.11.7"), which must be the analysis' own; "" when no
    engine has the image to ask. Another implementation or X.Y.Z stops the build (exit 3)."""
    if not docker.engine_available():
        return ""
    found = docker.image_python(base_image)
    if found is None:
        return ""
    theirs, ours = (f"{i.implementation} {i.version}" for i in (found, analysis))
    if theirs != ours:
        raise EnvironmentProblem(
            OTHER_PYTHON.format(image=base_image, theirs=theirs, ours=ours),
            hint=OTHER_PYTHON_HINT.format(version=analysis.version),
        )
    return theirs


def _check_embeddable(options: BuildOptions) -> None:
    """--embed-base-image needs an engine (and the --base-image named): said before any run."""
    if not options.embed_base_image:
        return
    if not docker.engine_available():
        raise EnvironmentProblem(EMBED_NEEDS_ENGINE, hint=EMBED_NEEDS_ENGINE_HINT)
    if options.base_image and not docker.image_exists(options.base_image):
        raise EnvironmentProblem(
            docker.EMBED_NEEDS_IMAGE.format(image=options.base_image),
            hint=docker.MISSING_BASE_IMAGE_HINT,
        )


def _embed(base_image: str, staging: Path, progress: Progress) -> ImageArchive:
    """Save the base image into the capsule; its hash goes into the manifest like any file's."""
    with progress.stage(f"Saving the base image {base_image} into the capsule"):
        image_id = docker.save_image(base_image, staging / dockerfile.ARCHIVE_FILE)
    return ImageArchive(file=dockerfile.ARCHIVE_FILE, image_id=image_id)


def _role(rel: str, the_plan: Plan) -> FileRole:
    """Whether a packaged file is code, data or something else."""
    if plan.is_code(rel):
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
        digest, _size = copy_hashed(work / rel, dst)
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
    source: Path, expected: Path, run: TracedRun, the_plan: Plan
) -> tuple[OutputEntry, ...]:
    """Each output of the run, with the author's own copy compared against it."""
    notebooks = [step.path for step in the_plan.steps if step.kind == "notebook"]
    entries = []
    for rel, stat in sorted(run.outputs.items()):
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
                step=run.result.writer.get(rel, ""),
                on_disk=status,
                on_disk_note=note,
            )
        )
    return tuple(entries)


def _findings(
    source: Path,
    the_plan: Plan,
    run: TracedRun,
    the_lock: Lock,
    outputs: tuple[OutputEntry, ...],
    used: tuple[SystemEnvironment, tuple[str, ...]],
    rerun_python: str,
) -> tuple[Finding, ...]:
    """Every audit check (all of them are fast) on the analysis and what this build's run saw."""
    executed = tuple(
        (step.path, run.paths.logs / step.path.replace("/", "__"))  # as _capsule_notebook names it
        for step in the_plan.steps
        if step.kind == "notebook"
    )
    facts = audit.run_facts(
        run,
        build=BuildFacts(
            on_disk=outputs,
            executed_notebooks=tuple((nb, path) for nb, path in executed if path.is_file()),
            system=used[0],
            unvendored=used[1],
            rerun_python=rerun_python,
        ),
        imported_distributions=tuple(
            (pin.name, pin.version, pin.origin) for pin in the_lock.pins if pin.source == "built"
        ),
    )
    context = audit.with_run(audit.static_context(source, the_plan), facts)
    return audit.sort_findings(audit.run_checks(context))


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
    locks: tuple[Lock, Lock | None],
    runs: tuple[StepRun, ...],
) -> None:
    """Render the Dockerfile, run.sh and README.md of the capsule; `runs` says how each step
    ended (run.sh expects a step allowed to fail to fail the same way)."""
    the_lock, runtime_lock = locks
    ended = {run.name: run.exit_code for run in runs}
    steps = [
        runner.shell_step(index, step, RUNTIME_PYTHON, ended.get(step.name, 0))
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
        "runtime": (
            None
            if runtime_lock is None
            else {
                "lock": RUNTIME_LOCK,
                "wheels": RUNTIME_WHEELS,
                "variable": RUNTIME_PYTHON_VARIABLE,
                "has_pins": bool(runtime_lock.pins),
            }
        ),
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

"""The plain data that flows between capsule's steps: frozen dataclasses, no I/O.

The Manifest at the bottom is the one contract between `capsule build` and `capsule verify`;
docs/capsule-format.md describes every field. Collections are tuples, sorted where order carries
no meaning, so the same analysis always gives the same manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

# 2: platform, base_image_archive, runtime_lock, system and rerun_python (format 1 is still read)
FORMAT_VERSION = 2

StepKind = Literal["script", "notebook", "command"]
FileRole = Literal["code", "data", "other"]
OnDiskStatus = Literal["identical", "metadata-only", "stale", "missing", "not-declared"]
Severity = Literal["error", "warning", "info"]
PinSource = Literal["index", "built"]
EpochOrigin = Literal["capsule.toml", "git commit", "default"]
# What the system packages were compared with: the base image's own list, a minimal Debian's
# required packages (no engine answered), or nothing (the host has no dpkg database).
BaseKnowledge = Literal["image", "minimal", "none"]


# ── the plan: what to run, what is data, what are outputs ─────────────────────────────────


@dataclass(frozen=True)
class Step:
    """One step of the analysis, run in order from the analysis root.

    `script` and `notebook` steps name a file relative to the root and run with the analysis'
    Python; a `command` step is an argv list run as it is (`python` in it means the analysis'
    Python).
    """

    name: str
    kind: StepKind
    path: str = ""  # script or notebook, relative POSIX path; "" for a command
    args: tuple[str, ...] = ()  # arguments of a script, or the whole argv of a command
    cwd: str = ""  # the folder it runs in, relative to the root; "" for the root itself
    timeout_s: int = 0  # how long it may run, in seconds; 0: no limit of its own
    env: tuple[tuple[str, str], ...] = ()  # plain settings it needs (name, value); never secrets
    # Its failure is part of the analysis (a script the author keeps but cannot run): recorded,
    # not an error, and a rerun must fail the same way.
    allow_failure: bool = False


@dataclass(frozen=True)
class Plan:
    """What `capsule build` does with an analysis folder: from capsule.toml or detected."""

    title: str
    steps: tuple[Step, ...]
    data: tuple[str, ...]  # glob patterns of input data, relative to the root
    outputs: tuple[str, ...]  # glob patterns of outputs; removed from the scratch copy first
    exclude: tuple[str, ...]  # glob patterns never copied into the capsule
    authors: tuple[str, ...] = ()
    python: str = ""  # interpreter the steps run with; "" means the one running capsule
    source_date_epoch: int | None = None  # pinned by the author; else the git commit time
    origin: Literal["capsule.toml", "detected"] = "detected"
    allow_secrets: tuple[str, ...] = ()  # files that look like secrets but are not: packaged


# ── files and what the run did ────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class FileEntry:
    """A file of the analysis as packaged in work/: its checksum taken before any step ran."""

    path: str  # relative POSIX path inside the analysis
    sha256: str
    size: int
    role: FileRole


@dataclass(frozen=True)
class OutputEntry:
    """A file the build's own run wrote: the reference verify compares against."""

    path: str  # relative POSIX path inside the analysis (and inside expected/)
    sha256: str
    size: int
    step: str  # name of the step that last wrote it
    on_disk: OnDiskStatus  # the author's own copy compared with this one
    on_disk_note: str = ""  # why, when not identical ("CreationDate differs", …)


@dataclass(frozen=True)
class StepRun:
    """The record of one step as the build ran it."""

    name: str
    argv: tuple[str, ...]  # as run, with the analysis' Python written as `python`
    exit_code: int
    started_at: str  # ISO 8601, UTC
    duration_s: float
    log_stdout: str  # path inside the capsule, under logs/
    log_stderr: str
    wrote: tuple[str, ...]  # paths created or modified by this step
    removed: tuple[str, ...] = ()  # paths the step deleted
    changed_inputs: tuple[str, ...] = ()  # files of work/ (code, data) the step modified


@dataclass(frozen=True)
class Finding:
    """Something that threatens reproducibility, said where it is and how to fix it."""

    check: str  # stable id, e.g. "step-modifies-input"
    severity: Severity
    message: str
    location: str = ""  # "path:line", a step name, or ""
    fix: str = ""


# ── software ──────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Pin:
    """One distribution of the lock, at the version installed where the analysis ran."""

    name: str  # canonical (PEP 503) name
    version: str
    source: PinSource  # "index": from the package index; "built": a wheel built from local source
    wheel: str  # file name under wheels/
    wheel_sha256: str
    imported: bool  # a module of it was imported during the run (else it is a requirement)
    origin: str = ""  # for built pins: the source folder or URL it was built from


@dataclass(frozen=True)
class Lock:
    """The closure of the distributions that ran, pinned and hash-locked."""

    python_version: str  # X.Y.Z of the analysis' interpreter
    pins: tuple[Pin, ...]  # sorted by name
    imported_modules: tuple[str, ...]  # top-level modules imported during the run, sorted
    tool: str  # what wrote requirements.lock, e.g. "pip-tools 7.6.2"


# ── where and how it ran ──────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class GitState:
    """The git state of the analysis folder when the build started."""

    commit: str
    branch: str  # "" when HEAD is detached
    dirty: bool  # uncommitted changes or untracked files under the analysis folder
    commit_time: int  # seconds since the epoch
    untracked: tuple[str, ...] = ()  # relative to the analysis root, sorted
    modified: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    """The machine, the person and the time of the build's run: who, when, where."""

    python_version: str
    python_implementation: str
    os: str  # e.g. "Linux-6.1.0-x86_64-with-glibc2.36"
    os_release: str  # e.g. "Debian GNU/Linux 12 (bookworm)", "" if unknown
    architecture: str
    cpu_model: str
    cpu_cores_logical: int
    cpu_cores_physical: int
    memory_bytes: int
    hostname: str
    user: str
    started_at: str  # ISO 8601, UTC
    finished_at: str
    git: GitState | None
    env_vars: tuple[tuple[str, str], ...]  # sorted; values outside the allowlist are redacted


@dataclass(frozen=True)
class Determinism:
    """The environment every step runs under, at build and at verify alike."""

    env: tuple[tuple[str, str], ...]  # sorted name/value pairs, without paths
    source_date_epoch_from: EpochOrigin


# ── provenance: which code, which data and which process made each output ────────────────

Observed = Literal["traced", "snapshot"]


@dataclass(frozen=True)
class CallSite:
    """Where in the analysis' own code a file was written: the first frame inside the analysis."""

    file: str  # relative POSIX path of the script, module or notebook
    line: int  # line in the file, or in the notebook cell
    function: str  # "<module>" for top-level code
    cell: int = 0  # for a notebook: the code cell, counted from 1; 0 otherwise
    source_sha256: str = ""  # of the file as packaged in work/


@dataclass(frozen=True)
class FigureInfo:
    """What a plotting library knew of a figure when it was saved."""

    library: str  # e.g. "matplotlib"
    title: str  # the figure's suptitle, else the titles of its axes joined by " | "
    axis_labels: tuple[str, ...]  # x and y labels of each axes, in order, non-empty ones
    width_in: float
    height_in: float
    dpi: float


@dataclass(frozen=True)
class Activity:
    """A process of a step, as traced; or the step itself for what only snapshots saw."""

    id: str  # "02_confusion_matrix", or "02_confusion_matrix/p1" for its first traced process
    step: str
    argv: tuple[str, ...]  # of the process (interpreter written as `python`), or the step's
    parent: str = ""  # the activity that started this process, "" for a step's first
    kind: Literal["step", "process"] = "process"


@dataclass(frozen=True)
class Usage:
    """An activity read a file: a path of the analysis, or an absolute one outside it."""

    activity: str
    entity: str
    seq: int  # order of the event within its process
    external: bool = False  # outside the analysis folder: the rerun may not have it


@dataclass(frozen=True)
class Generation:
    """An activity wrote a file that the run left as an output."""

    entity: str  # relative path of the output
    activity: str
    seq: int
    observed: Observed  # "traced": seen by the tracer; "snapshot": only by comparing the tree
    call_site: CallSite | None = None
    figure: FigureInfo | None = None


@dataclass(frozen=True)
class Provenance:
    """The provenance graph of the build's run, in the spirit of W3C PROV."""

    activities: tuple[Activity, ...]
    used: tuple[Usage, ...]
    generated: tuple[Generation, ...]


# ── the system: programs, libraries and fonts outside Python ─────────────────────────────


@dataclass(frozen=True)
class SystemUse:
    """A step's program that used a file of the system."""

    step: str
    program: str  # the program's path as executed, e.g. "/usr/bin/dot"


@dataclass(frozen=True)
class SystemPackage:
    """An operating-system package the run used, or one those need, at its exact version."""

    name: str
    version: str
    architecture: str
    files: tuple[str, ...]  # the files of it the run executed or opened, sorted; () if only needed
    used_by: tuple[SystemUse, ...]  # sorted; () for a package that is only a dependency
    in_base: bool  # the base image has it (or, its list unknown, a minimal Debian does)
    deb: str = ""  # file under debs/ when vendored; "" when the base image has it already
    base_version: str = ""  # the version the base image has instead, when it differs
    deb_version: str = ""  # the vendored .deb's version when the archive had no longer `version`


@dataclass(frozen=True)
class UnownedFile:
    """A file outside the analysis and its Python that no package owns: the rerun may lack it."""

    path: str
    used_by: tuple[SystemUse, ...]


@dataclass(frozen=True)
class SystemEnvironment:
    """What the run used of the operating system, resolved to packages (capsule.json `system`)."""

    os_release: str  # "debian 12": /etc/os-release ID and VERSION_ID; "" if unknown
    observer: str  # what saw every process, e.g. "strace 6.1"; "" when nothing could
    packages: tuple[SystemPackage, ...]  # sorted by name
    unowned: tuple[UnownedFile, ...]  # sorted by path
    base_packages: BaseKnowledge  # what the closure was computed against
    note: str = ""  # why the section is incomplete, when it is


# ── the manifest ──────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ImageArchive:
    """The base image saved into the capsule (`capsule build --embed-base-image`)."""

    file: str  # path inside the capsule of the `docker save` archive, e.g. "base-image.tar"
    image_id: str  # "sha256:…": the id the engine gives the image the archive loads


@dataclass(frozen=True)
class Manifest:
    """capsule.json: the single source of truth of a capsule (see docs/capsule-format.md)."""

    format: int
    capsule_version: str
    name: str
    plan: Plan
    determinism: Determinism
    environment: Environment
    lock: Lock
    base_image: str
    files: tuple[FileEntry, ...]  # work/: code, data and other files, sorted by path
    outputs: tuple[OutputEntry, ...]  # expected/: sorted by path
    steps: tuple[StepRun, ...]  # in the order they ran
    capsule_files: tuple[FileEntry, ...]  # the generated files beside work/ and expected/
    findings: tuple[Finding, ...] = field(default=())
    provenance: Provenance = field(default=Provenance((), (), ()))
    platform: str = ""  # "linux/amd64", …: what the wheels were made for; "" = not pinned
    base_image_archive: ImageArchive | None = None  # the base image saved into the capsule
    # capsule's notebook client, pinned apart from the analysis (runtime.lock, runtime-wheels/);
    # None when no step is a notebook.
    runtime_lock: Lock | None = None
    system: SystemEnvironment | None = None  # None: a capsule from before system observation
    # The base image's python3 as build asked it ("CPython 3.11.7"): the rerun's interpreter;
    # "" when no engine had the image to ask.
    rerun_python: str = ""


@dataclass(frozen=True)
class ProbeResult:
    """Which outputs changed between identical runs, under each variation, and unprotected."""

    baseline_repeat: tuple[str, ...]  # outputs that differ between two identical runs
    by_variation: dict[str, tuple[str, ...]]  # variation -> outputs changed vs the baseline
    unprotected: dict[str, tuple[str, ...]]  # "unprotected" -> outputs changed without capsule
    runs: int
    seconds: float
    descriptions: dict[str, str] = field(default_factory=dict)  # as actually run
    failed: dict[str, str] = field(default_factory=dict)  # run -> why a step failed


# ── verification ──────────────────────────────────────────────────────────────────────────

VERIFICATION_FORMAT = 1

CheckStatus = Literal[
    "identical", "metadata-only", "within-tolerance", "differs", "missing", "unexpected"
]
# Problems first: the order in which tables and reports list output checks.
STATUS_ORDER: tuple[CheckStatus, ...] = (
    "differs",
    "missing",
    "unexpected",
    "within-tolerance",
    "metadata-only",
    "identical",
)
# A key of capsule.backends.BACKENDS ("docker", "local"): a new backend needs no change here.
Backend = str


@dataclass(frozen=True)
class RunLimits:
    """The resource limits of a capsule run; memory sizes use Docker's units ("4g", "512m")."""

    memory: str = "4g"  # RAM, with swap disabled; the /tmp tmpfs is charged to it as well
    pids: int = 512  # processes and threads together
    timeout_s: float = 1800.0  # wall-clock seconds before the container is killed
    cpus: float | None = None  # CPU share (e.g. 2.0); None means no limit
    tmp_size: str = "2g"  # size of the writable tmpfs at /tmp (the only writable path but /out)


Accept = Literal["identical", "metadata", "tolerance"]
Outcome = Literal["reproduced", "differs", "failed"]


@dataclass(frozen=True)
class OutputCheck:
    """One output of the rerun against expected/: its status and the comparator's explanation."""

    path: str
    status: CheckStatus
    reason: str  # one line
    accepted: bool  # counts as reproduced under the accepted tier
    details: tuple[str, ...] = ()
    volatile: tuple[str, ...] = ()  # volatile metadata that differs
    artifacts: tuple[str, ...] = ()  # files beside the report, e.g. a PNG difference image
    expected_sha256: str = ""
    actual_sha256: str = ""
    comparator: str = ""


@dataclass(frozen=True)
class Tolerances:
    """What the reviewer allowed: relative and absolute numeric drift, and a pixel budget."""

    rtol: float = 0.0
    atol: float = 0.0
    pixels: int = 0


@dataclass(frozen=True)
class RerunRecord:
    """How the rerun went: exit code, durations, limits hit, the end of its output."""

    exit_code: int
    build_s: float  # building the image or the virtual environment
    run_s: float
    timed_out: bool = False
    oom_killed: bool = False
    failure: str = ""  # what stopped the rerun, in the user's terms; "" when it completed
    log_tail: tuple[str, ...] = ()
    network: str = "none"  # the rerun's network: "none" in the container, "host" for local
    memory_limit: str = ""  # e.g. "4g"; "" when not enforced (local)
    pids_limit: int = 0  # 0 when not enforced (local)
    timeout_s: float = 0.0


@dataclass(frozen=True)
class RerunRequest:
    """What a rerun backend is given: a capsule that passed the check, and the reviewer's asks."""

    capsule: Path
    manifest: Manifest
    capsule_id: str  # the SHA-256 of its capsule.json
    base_image: str  # the reviewer's choice over manifest.base_image; "" for the manifest's
    limits: RunLimits


@dataclass(frozen=True)
class HostDifference:
    """One way the machine a capsule reruns on differs from the build's (the local backend)."""

    what: str  # e.g. "python implementation", "python version"
    capsule: str  # as the capsule recorded it
    host: str  # as found on this machine


@dataclass(frozen=True)
class Rerun:
    """What a backend's rerun tells the verification: how it went, and what it ran in."""

    record: RerunRecord
    image: str  # the base image (docker) or the interpreter (local)
    image_id: str  # the built image's id (docker), "" for local
    started: bool = True  # False: the rerun could not even be started, so nothing was checked
    platform: str = ""  # where it ran: the engine's platform (docker), this machine's (local)
    emulated: bool = False  # the engine's architecture differs from the capsule's platform
    host_differences: tuple[HostDifference, ...] = ()  # local: this machine against the build's
    python: str = ""  # the interpreter the rerun ran: "CPython 3.11.7"; "" if it was not asked


@dataclass(frozen=True)
class Verification:
    """verification.json: the result of `capsule verify` (see docs/verification-format.md)."""

    format: int
    capsule_version: str
    capsule_id: str
    capsule_name: str
    outcome: Outcome
    accept: Accept
    tolerances: Tolerances
    backend: Backend
    image: str  # the base image (docker) or the interpreter (local)
    image_id: str  # the built image's id (docker), "" for local
    host: Environment
    started_at: str
    finished_at: str
    rerun: RerunRecord
    outputs: tuple[OutputCheck, ...]
    platform: str = ""  # the capsule's platform, "" when it pins none
    rerun_platform: str = ""  # the platform the rerun ran on
    emulated: bool = False  # the rerun ran under emulation (another architecture)
    host_differences: tuple[HostDifference, ...] = ()  # local backend: host against capsule
    rerun_python: str = ""  # the interpreter the rerun ran: "CPython 3.11.7"; "" if not asked

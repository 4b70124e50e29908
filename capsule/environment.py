"""The run record's who, when and where: the machine, the user, the git state, the environment.

`describe` gathers the facts of one build into an `Environment`. Environment variables go through
`record_env`: every name is kept, but only allowlisted values are, because a variable can carry a
credential and secrets never enter a capsule (DESIGN.md, decision 9).
"""

from __future__ import annotations

import getpass
import platform
import re
import socket
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path

import psutil

from capsule import interpreters
from capsule.errors import EnvironmentProblem, PlanError
from capsule.model import Environment, GitState

REDACTED = "<redacted>"

# Values kept verbatim: what changes how an analysis computes, prints or finds its software.
# An entry ending in "*" is a prefix pattern; the others are exact, case-sensitive names.
# Left out on purpose: HOME and USER (the user is recorded as Environment.user, a home path says
# nothing more about the run), PIP_INDEX_URL and friends (index URLs can embed credentials), and
# anything not listed: its name is kept, its value redacted.
ENV_ALLOWLIST: tuple[str, ...] = (
    "CONDA_DEFAULT_ENV",
    "CONDA_PREFIX",
    "CUDA_*",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "LD_LIBRARY_PATH",
    "MATPLOTLIBRC",
    "MKL_*",
    "MPLBACKEND",
    "MPLCONFIGDIR",
    "NUMEXPR_*",
    "NVIDIA_*",
    "OMP_*",
    "OPENBLAS_*",
    "PATH",
    "PYTHON*",
    "SHELL",
    "SOURCE_DATE_EPOCH",
    "TERM",
    "TZ",
    "VECLIB_MAXIMUM_THREADS",
    "VIRTUAL_ENV",
)

# Names redacted even when the allowlist matches them (deny wins), compared case-insensitively:
# PYTHON_SECRET_TOKEN or NVIDIA_API_KEY are allowlisted by prefix yet plainly secret.
ENV_DENYLIST: tuple[str, ...] = (
    "*AUTH*",
    "*CREDENTIAL*",
    "*KEY*",
    "*PASSWD*",
    "*PASSWORD*",
    "*PRIVATE*",
    "*SECRET*",
    "*TOKEN*",
)

# A URL with a user:password part ("https://me:s3cret@host/"): redacted whatever its name.
_URL_CREDENTIALS = re.compile(r"://[^/@\s]*:[^/@\s]*@")

# How many untracked or modified paths GitState lists; `dirty` still counts them all.
GIT_LIST_CAP = 200


def _allowed(name: str, value: str) -> bool:
    """Whether the value of `name` may be recorded as it is."""
    upper = name.upper()
    if any(fnmatchcase(upper, pattern) for pattern in ENV_DENYLIST):
        return False
    if _URL_CREDENTIALS.search(value):
        return False
    return any(fnmatchcase(name, pattern) for pattern in ENV_ALLOWLIST)


def record_env(environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Every variable, sorted; values outside the allowlist replaced by REDACTED."""
    return tuple(
        (name, value if _allowed(name, value) else REDACTED)
        for name, value in sorted(environ.items())
    )


def now_iso() -> str:
    """The current time in UTC, ISO 8601 to the second: "2026-11-26T04:00:00Z"."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _status_paths(porcelain: str, prefix: str) -> tuple[list[str], list[str]]:
    """Untracked and modified paths from `git status --porcelain=v1 -z`, made relative."""
    untracked: list[str] = []
    modified: list[str] = []
    fields = iter(porcelain.split("\0"))
    for entry in fields:
        if len(entry) < 4:  # the empty string after the last NUL
            continue
        code, path = entry[:2], entry[3:]
        paths = [path]
        if "R" in code or "C" in code:  # a rename or copy: the source path follows
            paths.append(next(fields, ""))
        for repo_path in paths:
            if prefix and not repo_path.startswith(prefix):
                continue  # the source of a rename from outside the analysis folder
            (untracked if code == "??" else modified).append(repo_path[len(prefix) :])
    return untracked, modified


def _capped(paths: list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(paths))[:GIT_LIST_CAP])


def git_state(root: Path) -> GitState | None:
    """The git state of the analysis folder (a repository or a subfolder of one); None outside git.

    Also None when git is not installed, the repository has no commit yet, or git refuses to read
    it (e.g. "dubious ownership"). Only changes under `root` make it dirty; paths are relative to
    `root`, sorted, at most GIT_LIST_CAP of each. The repository is only read: status runs with
    --no-optional-locks so that not even the index's stat cache is rewritten.
    """
    try:
        # Importing gitpython fails when no git executable is found.
        import git
    except ImportError:
        return None
    try:
        repo = git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    with repo:
        if repo.working_tree_dir is None or not repo.head.is_valid():
            return None  # a bare repository, or one without any commit
        try:
            relative = root.resolve().relative_to(Path(repo.working_tree_dir).resolve())
        except ValueError:
            return None  # root is inside .git, say
        pathspec = relative.as_posix()
        try:
            commit = repo.head.commit
            commit_sha, commit_time = commit.hexsha, commit.committed_date
            branch = "" if repo.head.is_detached else repo.active_branch.name
            # Porcelain paths are relative to the top of the work tree, whatever the cwd.
            porcelain = repo.git(no_optional_locks=True, literal_pathspecs=True).status(
                "--porcelain=v1", "-z", "--untracked-files=all", "--", pathspec
            )
        except (git.GitCommandError, ValueError):
            return None
    prefix = "" if pathspec == "." else pathspec + "/"
    untracked, modified = _status_paths(porcelain, prefix)
    return GitState(
        commit=commit_sha,
        branch=branch,
        dirty=bool(untracked or modified),
        commit_time=commit_time,
        untracked=_capped(untracked),
        modified=_capped(modified),
    )


def python_facts(python: str) -> tuple[str, str]:
    """Version ("3.11.2") and implementation ("CPython") of the interpreter at `python`."""
    try:
        found = interpreters.ask(python)
    except PlanError as error:  # it answered when the build started: the machine changed
        raise EnvironmentProblem(error.message, error.hint) from error
    return found.version, found.implementation


def _os_release() -> str:
    """The distribution's PRETTY_NAME ("Debian GNU/Linux 12 (bookworm)"), else the macOS or
    Windows release, else ""."""
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        pass
    if mac := platform.mac_ver()[0]:
        return f"macOS {mac}"
    if win := platform.win32_ver()[0]:
        return f"Windows {win}"
    return ""


def _cpu_model() -> str:
    """The CPU's "model name" from /proc/cpuinfo, else platform.processor() (may be "")."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor()


def _user() -> str:
    """The login name, or "" when the system cannot tell (no passwd entry for the uid)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):
        return ""


def describe(
    *, started_at: str, finished_at: str, python: str, root: Path, environ: Mapping[str, str]
) -> Environment:
    """Facts of the machine, the user and the run (python: the analysis interpreter's path).

    `python` "" means the interpreter running capsule. Raises EnvironmentProblem when that
    interpreter cannot be run. Core counts are 0 when the system cannot tell.
    """
    version, implementation = python_facts(python or sys.executable)
    return Environment(
        python_version=version,
        python_implementation=implementation,
        os=platform.platform(),
        os_release=_os_release(),
        architecture=platform.machine(),
        cpu_model=_cpu_model(),
        cpu_cores_logical=psutil.cpu_count(logical=True) or 0,
        cpu_cores_physical=psutil.cpu_count(logical=False) or 0,
        memory_bytes=psutil.virtual_memory().total,
        hostname=socket.gethostname(),
        user=_user(),
        started_at=started_at,
        finished_at=finished_at,
        git=git_state(root),
        env_vars=record_env(environ),
    )

"""The analysis' Python: which versions capsule runs analyses on, what an interpreter says it is,
and where to find one of a given version on this machine.

capsule itself needs Python 3.11+, but the analysis' interpreter may be older: capsule's runtime
(capsule/runtime/) is all that runs inside it, and it is kept working on every version of
SUPPORTED. An interpreter outside that range is refused before any step runs.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capsule import process
from capsule.errors import CapsuleError, EnvironmentProblem, ManifestError, PlanError

# The oldest and the newest X.Y the runtime is tested with (tests/runtime/ runs on each).
OLDEST = (3, 8)
NEWEST = (3, 13)

# Printed by the interpreter asked: X Y VERSION IMPLEMENTATION on one line. Written so that any
# Python answers it, 2.7 included, and with -E -S so that neither its PYTHON* variables nor its
# site-packages (a sitecustomize) can change the answer.
ASK = (
    "import platform, sys; print('%d %d %s %s' % (sys.version_info[0], sys.version_info[1], "
    "platform.python_version(), platform.python_implementation()))"
)
_ASK_TIMEOUT_S = 30
# Printed by the interpreter asked: its own folders, one a line (prefixes, sysconfig's paths,
# sys.path). Any Python 3 answers it; -E: its PYTHON* variables cannot add folders.
_ASK_DIRS = (
    "import sys, sysconfig; p = sysconfig.get_paths(); print('\\n'.join(set([sys.prefix, "
    "sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix] + [p[k] for k in ('stdlib', "
    "'platstdlib', 'purelib', 'platlib')] + sys.path)))"
)
# Folders too wide to stand for one Python: a Debian python3's prefix is /usr.
_TOO_WIDE = ("/", "/usr", "/usr/local", "/opt")
# A version a capsule may record: X.Y or X.Y.Z, maybe a pre-release (3.13.0rc1) or a "+" build.
_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}(\.[0-9]{1,3})?([a-z]{1,5}[0-9]{0,3})?\+?")

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

NOT_FOUND = "cannot find the Python interpreter {python!r}"
NOT_FOUND_HINT = "give the path of the interpreter the analysis runs with"
NO_ANSWER = "{python} did not say which Python it is: {reason}"
NO_ANSWER_HINT = (
    "give the path of a Python interpreter (--python, or python = ... in capsule.toml); "
    "a pyenv shim of a version that is not selected does not run"
)
UNSUPPORTED = "{python} is Python {version}; capsule runs analyses on Python {supported}"
UNSUPPORTED_HINT = (
    "run the analysis with one of those (--python PATH, or python = ... in capsule.toml); "
    "capsule's runtime runs inside the analysis' interpreter"
)
NOT_A_VERSION = "the capsule records the Python version {version!r}, which is not one"
NOT_A_VERSION_HINT = "the capsule is damaged or was made by hand: rebuild it"
NO_PYTHON = "the capsule was built with Python {version}, and this machine has no Python {xy}"
NO_PYTHON_HINT = (
    "install Python {version} (looked for python{xy} on PATH and in pyenv's versions), "
    "or verify in a container (--backend docker)"
)


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter and what it says it is."""

    path: str  # absolute, not resolved: a virtual environment's link must stay
    version: str  # X.Y.Z, as platform.python_version() says it
    implementation: str  # "CPython", "PyPy", …
    major_minor: tuple[int, int]


def supported_range() -> str:
    """The supported versions as people read them: "3.8 to 3.13"."""
    return f"{OLDEST[0]}.{OLDEST[1]} to {NEWEST[0]}.{NEWEST[1]}"


def ask(python: str) -> Interpreter:
    """Ask `python` which Python it is (one short subprocess); PlanError if it does not say."""
    try:
        done = process.run([python, "-E", "-S", "-c", ASK], check=False, timeout=_ASK_TIMEOUT_S)
    except CapsuleError as error:  # it cannot be started, or it hangs
        raise PlanError(
            NO_ANSWER.format(python=python, reason=error.message), hint=NO_ANSWER_HINT
        ) from error
    found = answer(python, done.stdout) if done.returncode == 0 else None
    if found is None:
        said = process.stderr_tail(done.stderr, 3) or done.stdout.strip() or "no answer"
        reason = f"exit code {done.returncode}, {said}"
        raise PlanError(NO_ANSWER.format(python=python, reason=reason), hint=NO_ANSWER_HINT)
    return found


def answer(python: str, said: str) -> Interpreter | None:
    """The interpreter described by what ASK printed (its last line), None if that is not it."""
    lines = said.strip().splitlines()
    fields = lines[-1].split() if lines else []
    if len(fields) != 4 or not (fields[0] + fields[1]).isdigit():
        return None
    if not _VERSION.fullmatch(fields[2]) or not fields[3].isalnum():
        return None
    return Interpreter(
        path=python,
        version=fields[2],
        implementation=fields[3],
        major_minor=(int(fields[0]), int(fields[1])),
    )


def dirs(python: str) -> tuple[str, ...]:
    """The folders of `python` itself (its standard library, site-packages, prefixes), sorted.

    The files a run opens there are the interpreter's, not the operating system's. Folders as
    wide as /usr are left out; () when it does not answer.
    """
    try:
        done = process.run([python, "-E", "-c", _ASK_DIRS], check=False, timeout=_ASK_TIMEOUT_S)
    except CapsuleError:
        return ()
    if done.returncode != 0:
        return ()
    found = {os.path.normpath(line) for line in done.stdout.splitlines() if line.startswith("/")}
    return tuple(sorted(found - set(_TOO_WIDE)))


def resolve(requested: str) -> Interpreter:
    """The analysis interpreter (capsule's own when none is requested), checked to be supported.

    Raises PlanError when it cannot be found, does not answer, or is a version outside
    OLDEST..NEWEST; nothing of the analysis has run by then.
    """
    if requested:
        found = shutil.which(requested)
        if found is None:
            raise PlanError(NOT_FOUND.format(python=requested), hint=NOT_FOUND_HINT)
        path = str(Path(found).absolute())
    else:
        path = sys.executable
    interpreter = ask(path)
    if not OLDEST <= interpreter.major_minor <= NEWEST:
        raise PlanError(
            UNSUPPORTED.format(
                python=path, version=interpreter.version, supported=supported_range()
            ),
            hint=UNSUPPORTED_HINT,
        )
    return interpreter


def find(version: str) -> Interpreter:
    """An interpreter of Python `version` (X.Y.Z) on this machine: that very version if there is
    one, else the same X.Y; EnvironmentProblem when there is none.

    Looks at capsule's own Python, then every python{X.Y} on PATH, then pyenv's versions.
    `version` comes from a capsule: anything but a version number is a ManifestError, and
    never becomes part of a path.
    """
    if not _VERSION.fullmatch(version):
        raise ManifestError(NOT_A_VERSION.format(version=version), hint=NOT_A_VERSION_HINT)
    xy = ".".join(version.split(".")[:2])
    same_xy: Interpreter | None = None
    for path in candidates(xy):
        try:
            found = ask(path)
        except PlanError:
            continue  # a pyenv shim of a version not selected, a broken link, …
        if f"{found.major_minor[0]}.{found.major_minor[1]}" != xy:
            continue
        if found.version == version:
            return found
        same_xy = same_xy or found
    if same_xy is None:
        raise EnvironmentProblem(
            NO_PYTHON.format(version=version, xy=xy),
            hint=NO_PYTHON_HINT.format(version=version, xy=xy),
        )
    return same_xy


def candidates(xy: str) -> Iterator[str]:
    """Paths that may be a Python X.Y, each once, in the order `find` prefers them."""
    seen: set[str] = set()
    name = f"python{xy}"
    folders = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    pyenv_versions = sorted(pyenv.glob(f"{xy}*"), reverse=True) if pyenv.is_dir() else []
    paths = [
        Path(sys.executable),
        *(folder / name for folder in folders),
        *(folder / "bin" / name for folder in pyenv_versions),
    ]
    for path in paths:
        key = str(path)
        if key not in seen and path.is_file() and os.access(path, os.X_OK):
            seen.add(key)
            yield key

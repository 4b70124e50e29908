"""How capsule names things on disk: the capsule's name, its default folder, its reports' folder.

One rule, so that `capsule build "my analysis"` writes `my-analysis.capsule` whose manifest says
`my-analysis`, and `verify` and `report` find `my-analysis.verification` beside it.
"""

from __future__ import annotations

import re
from pathlib import Path

CAPSULE_SUFFIX = ".capsule"
VERIFICATION_SUFFIX = ".verification"
FALLBACK_NAME = "analysis"  # for a folder whose name has no file-safe character at all
# A capsule with notebook steps pins capsule's notebook client apart from the analysis: its lock,
# its wheels, and the variable run.sh reads the client's interpreter from.
RUNTIME_LOCK = "runtime.lock"
RUNTIME_WHEELS = "runtime-wheels"
RUNTIME_PYTHON_VARIABLE = "CAPSULE_RUNTIME_PYTHON"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def capsule_name(source: Path) -> str:
    """A short file-safe name for the capsule, from the analysis folder's name."""
    return _UNSAFE.sub("-", source.resolve().name).strip("-.") or FALLBACK_NAME


def default_capsule_path(source: Path) -> Path:
    """Where `capsule build` writes when no -o is given: NAME.capsule in the current folder."""
    return Path(f"{capsule_name(source)}{CAPSULE_SUFFIX}")


def verification_dir(capsule: Path) -> Path:
    """Where `capsule verify` writes its reports by default: NAME.verification beside it."""
    folder = capsule.resolve()
    name = folder.name.removesuffix(CAPSULE_SUFFIX)
    return folder.parent / f"{name}{VERIFICATION_SUFFIX}"

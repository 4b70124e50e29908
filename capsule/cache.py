"""Where capsule keeps what it can reuse between runs: pip-tools' hashes, local environments."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CAPSULE_CACHE_DIR"


def cache_dir() -> Path:
    """$CAPSULE_CACHE_DIR, else $XDG_CACHE_HOME/capsule, else ~/.cache/capsule."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "capsule"

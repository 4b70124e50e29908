"""Where `capsule verify` reruns a capsule: one module per backend, all behind RerunBackend.

A backend is made from a RerunRequest (a capsule that passed the check, and the reviewer's
asks); `prepare` makes the environment the capsule runs in, `rerun` runs the analysis into a
folder and says how it went, `cleanup` removes what the backend made and does not keep. To add
a backend: one module here with such a class, and one line in BACKENDS.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from capsule.backends import docker
from capsule.backends.docker import DockerBackend
from capsule.backends.local import LocalBackend
from capsule.errors import CapsuleError, EnvironmentProblem
from capsule.model import Backend, Rerun, RerunRequest
from capsule.progress import Progress

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

NO_ENGINE = "No Docker engine answers"
NO_BACKEND_GIVEN = ", and no --backend was given"
NO_ENGINE_HINT = (
    "start a Docker engine (`sudo systemctl start docker` or `sudo dockerd &`), or verify without "
    "a container: --backend local (the capsule's code then runs on this machine)"
)
UNKNOWN_BACKEND = "There is no backend {name}; the backends are {names}"
UNKNOWN_BACKEND_HINT = "pass --backend with one of them, or leave it out for docker"


class RerunBackend(Protocol):
    """Where a checked capsule is rerun: make its environment, rerun it, clean up."""

    warning: str  # said to the reviewer before anything runs; "" when there is nothing to say

    def prepare(self, progress: Progress) -> None:
        """Make the environment the capsule runs in; CapsuleError when it cannot be made."""

    def rerun(self, rerun_dir: Path, progress: Progress) -> Rerun:
        """Run the analysis, its outputs into rerun_dir/outputs; a failing run is reported."""

    def cleanup(self) -> None:
        """Remove what prepare and rerun made that is not kept; safe to call more than once."""


BACKENDS: dict[Backend, Callable[[RerunRequest], RerunBackend]] = {
    "docker": DockerBackend,
    "local": LocalBackend,
}
DEFAULT_BACKEND: Backend = "docker"


def choose(requested: Backend | None) -> Backend:
    """The backend asked for, or docker when an engine answers; no silent fallback to local."""
    name = requested or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise CapsuleError(
            UNKNOWN_BACKEND.format(name=name, names=", ".join(sorted(BACKENDS))),
            hint=UNKNOWN_BACKEND_HINT,
        )
    if name == "docker" and not docker.engine_available():
        raise EnvironmentProblem(
            NO_ENGINE + ("" if requested else NO_BACKEND_GIVEN), hint=NO_ENGINE_HINT
        )
    return name

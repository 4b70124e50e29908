"""Shared fixtures: small analyses made inline, and the plugins for Docker tests."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["fixtures_docker", "skip_summary"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "paper_figures"

MakeProject = Callable[[Mapping[str, str | bytes]], Path]


def make_environment(**changes: Any) -> Any:
    """An Environment for hand-made manifests: plausible values, any field overridden."""
    from capsule.model import Environment

    values: dict[str, Any] = {
        "python_version": "3.11.7",
        "python_implementation": "CPython",
        "os": "Linux",
        "os_release": "",
        "architecture": "x86_64",
        "cpu_model": "cpu",
        "cpu_cores_logical": 2,
        "cpu_cores_physical": 1,
        "memory_bytes": 1,
        "hostname": "h",
        "user": "u",
        "started_at": "t0",
        "finished_at": "t1",
        "git": None,
        "env_vars": (),
    }
    values.update(changes)
    return Environment(**values)


def sample_manifest() -> Any:
    """A small but complete hand-made manifest."""
    from capsule.model import (
        FORMAT_VERSION,
        Determinism,
        FileEntry,
        Lock,
        Manifest,
        OutputEntry,
        Pin,
        Plan,
        Step,
        StepRun,
    )

    return Manifest(
        format=FORMAT_VERSION,
        capsule_version="0.1.0",
        name="demo",
        plan=Plan(
            title="Démo",
            steps=(Step(name="a", kind="script", path="a.py"),),
            data=("data/**",),
            outputs=("out/**",),
            exclude=(),
        ),
        determinism=Determinism(env=(("TZ", "UTC"),), source_date_epoch_from="default"),
        environment=make_environment(env_vars=(("PATH", "/bin"),)),
        lock=Lock(
            python_version="3.11.7",
            imported_modules=("six",),
            tool="pip-tools 7",
            pins=(
                Pin(
                    name="six",
                    version="1.16.0",
                    source="index",
                    wheel="six.whl",
                    wheel_sha256="ab",
                    imported=True,
                ),
            ),
        ),
        base_image="python:3.11.7-slim-bookworm",
        files=(FileEntry(path="a.py", sha256="00", size=1, role="code"),),
        outputs=(OutputEntry(path="out/x.txt", sha256="11", size=2, step="a", on_disk="missing"),),
        steps=(
            StepRun(
                name="a",
                argv=("python", "a.py"),
                exit_code=0,
                started_at="t0",
                duration_s=1.5,
                log_stdout="logs/01-a.stdout",
                log_stderr="logs/01-a.stderr",
                wrote=("out/x.txt",),
            ),
        ),
        capsule_files=(FileEntry(path="run.sh", sha256="22", size=3, role="other"),),
    )


@dataclass(frozen=True)
class BuiltExample:
    """The example's capsule, with snapshots of the example folder before and after the build."""

    path: Path
    summary: Any
    source_before: Any
    source_after: Any


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write files (relative path -> text, dedented, or bytes) under root; return root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """make_project({path: text}) builds a small analysis folder in tmp and returns it."""

    def make(files: Mapping[str, str | bytes]) -> Path:
        return write_tree(tmp_path / "analysis", files)

    return make


CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; tests never download a browser
# Headless, and with every background service off: this machine's network is closed, and no
# request of the page itself may leave it (any host name resolves to nothing).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def run_chromium(profile: Path, *args: str, check: bool = False) -> Any:
    """Run headless Chromium with a fresh profile; skip without it (fail if it is required)."""
    import subprocess

    if not CHROMIUM.exists():
        if os.environ.get("CAPSULE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and CAPSULE_REQUIRE_BROWSER=1")
        pytest.skip(f"headless Chromium not found at {CHROMIUM}")
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


# A secret planted in the environment while the example's capsule is built: it must appear
# nowhere in the capsule.
PLANTED_SECRET = ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI-planted-by-the-tests-K7MDENG")


@pytest.fixture(scope="session")
def example_capsule(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltExample]:
    """The example analysis built once per session (about a minute and a half)."""
    from capsule.build import BuildOptions, build
    from capsule.hashing import snapshot

    out = tmp_path_factory.mktemp("example") / "paper_figures.capsule"
    before = snapshot(EXAMPLE)
    name, value = PLANTED_SECRET
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        summary = build(BuildOptions(source=EXAMPLE, output=out))
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old
    yield BuiltExample(
        path=out, summary=summary, source_before=before, source_after=snapshot(EXAMPLE)
    )

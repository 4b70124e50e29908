"""The manifest: canonical JSON, identity, and a reader that refuses what it cannot trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capsule import manifest
from capsule.errors import ManifestError
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

from conftest import make_environment


def sample() -> Manifest:
    """A small but complete manifest."""
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


def test_round_trip_and_identity(tmp_path: Path) -> None:
    original = sample()
    capsule_id = manifest.write(original, tmp_path)
    text = (tmp_path / "capsule.json").read_bytes()
    assert text.endswith(b"}\n") and b"\r" not in text
    assert "Démo".encode() in text  # UTF-8, not \u escapes
    assert manifest.read(tmp_path) == original
    assert capsule_id == manifest.capsule_id(original)
    assert len(capsule_id) == 64


def _tampered(tmp_path: Path, change: dict[str, object]) -> Path:
    data = manifest.to_dict(sample())
    data.update(change)
    (tmp_path / "capsule.json").write_text(json.dumps(data))
    return tmp_path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": FORMAT_VERSION + 1}, "upgrade capsule"),
        ({"format": "one"}, "no format version"),
        ({"surprise": 1}, "unknown field 'surprise'"),
        (
            {"files": [{"path": "../etc/passwd", "sha256": "0", "size": 1, "role": "data"}]},
            "not inside the capsule",
        ),
        (
            {"files": [{"path": "/etc/passwd", "sha256": "0", "size": 1, "role": "data"}]},
            "not inside the capsule",
        ),
        (
            {"files": [{"path": "a", "sha256": "0", "size": "big", "role": "data"}]},
            "must be of type int",
        ),
        ({"files": [{"path": "a", "sha256": "0", "size": 1, "role": "secret"}]}, "not one of"),
    ],
)
def test_reader_refuses(tmp_path: Path, change: dict[str, object], message: str) -> None:
    with pytest.raises(ManifestError) as error:
        manifest.read(_tampered(tmp_path, change))
    assert message in str(error.value) or message in error.value.hint


def test_not_a_capsule(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="is not a capsule"):
        manifest.read(tmp_path)
    (tmp_path / "capsule.json").write_text("{oops")
    with pytest.raises(ManifestError, match="not valid JSON"):
        manifest.read(tmp_path)

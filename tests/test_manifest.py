"""The manifest: canonical JSON, identity, and a reader that refuses what it cannot trust."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from capsule import manifest
from capsule.errors import ManifestError
from capsule.model import (
    FORMAT_VERSION,
    ImageArchive,
)

from conftest import sample_manifest as sample


def test_round_trip_and_identity(tmp_path: Path) -> None:
    original = sample()
    capsule_id = manifest.write(original, tmp_path)
    text = (tmp_path / "capsule.json").read_bytes()
    assert text.endswith(b"}\n") and b"\r" not in text
    assert "Démo".encode() in text  # UTF-8, not \u escapes
    assert manifest.read(tmp_path) == original
    assert capsule_id == manifest.capsule_id(original)
    assert len(capsule_id) == 64


STEP_OUT_OF_THE_CAPSULE = {"name": "s", "kind": "script", "path": "a.py", "cwd": "../../etc"}
STEP_WITH_A_BAD_LIMIT = {"name": "s", "kind": "script", "path": "a.py", "timeout_s": "60; rm"}


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
        ({"platform": "linux/amd64\nRUN curl evil.invalid"}, "does not know"),
        ({"platform": "windows/amd64"}, "does not know"),
        ({"platform": "linux/amd64/"}, "does not know"),
        ({"platform": 64}, "must be of type str"),
        (
            {"base_image_archive": {"file": "../base-image.tar", "image_id": "sha256:" + "0" * 64}},
            "not inside the capsule",
        ),
        ({"base_image_archive": {"file": "base-image.tar"}}, "lacks 'image_id'"),
        (
            {"plan": {**manifest.to_dict(sample())["plan"], "steps": [STEP_OUT_OF_THE_CAPSULE]}},
            "not inside the capsule",
        ),
        (
            {"plan": {**manifest.to_dict(sample())["plan"], "steps": [STEP_WITH_A_BAD_LIMIT]}},
            "must be of type int",
        ),
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


def test_platform_and_embedded_image_round_trip(tmp_path: Path) -> None:
    original = dataclasses.replace(
        sample(),
        platform="linux/arm64",
        base_image_archive=ImageArchive(file="base-image.tar", image_id="sha256:" + "a" * 64),
    )
    manifest.write(original, tmp_path)
    assert manifest.read(tmp_path) == original


def test_an_older_capsule_without_platform_reads_as_unpinned(tmp_path: Path) -> None:
    data = manifest.to_dict(sample())
    del data["platform"], data["base_image_archive"]
    (tmp_path / "capsule.json").write_text(json.dumps(data))
    loaded = manifest.read(tmp_path)
    assert loaded.platform == "" and loaded.base_image_archive is None

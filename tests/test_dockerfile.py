"""capsule/dockerfile.py: the Dockerfile build writes and verify renders again from the manifest.

A capsule's manifest is input from a stranger: every value that goes into the Dockerfile is
checked, so no manifest can add an instruction or a build flag.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from capsule import dockerfile
from capsule.errors import ManifestError
from capsule.model import ImageArchive, Lock, Pin

from conftest import sample_manifest

IMAGE_ID = "sha256:" + "ab" * 32
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"  # as tests/test_snapshots.py renders
EMBEDDED_ID = "sha256:" + "0123456789abcdef" * 4  # the id tests/test_snapshots.py gives


RUNTIME_LOCK = Lock(
    python_version="3.11.7",
    pins=(Pin("nbclient", "0.10.2", "index", "nbclient.whl", "0" * 64, imported=False),),
    imported_modules=(),
    tool="pip-tools",
)


def values(**changes: Any) -> dict[str, Any]:
    """The arguments of render_dockerfile for the snapshot's capsule, any of them changed."""
    arguments: dict[str, Any] = {
        "name": "paper-figures",
        "capsule_version": "0.1.0",
        "base_image": "capsule-base:bookworm",
        "platform": "linux/amd64",
        "has_pins": True,
        "archive": None,
        # a notebook step: capsule's notebook client has pins of its own
        "runtime_lock": RUNTIME_LOCK,
    }
    arguments.update(changes)
    return arguments


@pytest.mark.parametrize(
    ("snapshot", "changes"),
    [
        ("Dockerfile", {}),
        ("Dockerfile-without-pins", {"has_pins": False, "runtime_lock": None}),
        (
            "Dockerfile-embedded",
            {"archive": ImageArchive(file=dockerfile.ARCHIVE_FILE, image_id=EMBEDDED_ID)},
        ),
    ],
)
def test_render_gives_the_snapshot(snapshot: str, changes: dict[str, Any]) -> None:
    text = dockerfile.render_dockerfile(**values(**changes))
    golden = (SNAPSHOTS / snapshot).read_text(encoding="utf-8")
    assert text.replace("capsule 0.1.0", "capsule <capsule version>") == golden


def test_an_unpinned_capsule_has_no_platform_flag() -> None:
    text = dockerfile.render_dockerfile(**values(platform=""))
    assert "FROM ${BASE_IMAGE}" in text and "--platform" not in text


def test_an_embedded_image_is_built_from_its_id() -> None:
    archive = ImageArchive(file=dockerfile.ARCHIVE_FILE, image_id=IMAGE_ID)
    text = dockerfile.render_dockerfile(**values(archive=archive))
    assert f"ARG BASE_IMAGE={IMAGE_ID}\n" in text
    assert "docker load -i base-image.tar" in text


def test_from_manifest_uses_the_manifest_alone() -> None:
    the_manifest = dataclasses.replace(sample_manifest(), platform="linux/arm64")
    text = dockerfile.from_manifest(the_manifest)
    assert "FROM --platform=linux/arm64 ${BASE_IMAGE}" in text
    assert f"ARG BASE_IMAGE={the_manifest.base_image}\n" in text
    assert 'research capsule "demo"' in text


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"platform": "linux/amd64\nRUN touch /pwned"}, "platform"),
        ({"platform": "linux/amd64 AS x"}, "platform"),
        ({"base_image": "debian\nRUN touch /pwned"}, "base_image"),
        ({"base_image": "debian --network=host"}, "base_image"),
        ({"base_image": "${OTHER}"}, "base_image"),
        ({"base_image": ""}, "base_image"),
        ({"name": 'x"\nRUN touch /pwned\n#'}, "name"),
        ({"name": "../x"}, "name"),
        ({"capsule_version": "1\nRUN touch /pwned"}, "capsule_version"),
        (
            {"archive": ImageArchive(file=dockerfile.ARCHIVE_FILE, image_id="sha256:abc")},
            "image_id",
        ),
        (
            {"archive": ImageArchive(file=dockerfile.ARCHIVE_FILE, image_id=IMAGE_ID + "\n")},
            "image_id",
        ),
        ({"archive": ImageArchive(file="a b.tar", image_id=IMAGE_ID)}, "file"),
    ],
)
def test_values_that_could_change_the_instructions_are_refused(
    changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ManifestError) as error:
        dockerfile.render_dockerfile(**values(**changes))
    assert field in error.value.message
    assert "tampered" in error.value.hint


def test_the_context_leaves_out_what_the_image_does_not_need() -> None:
    excluded = dockerfile.context_exclude("demo")
    assert {"expected", "logs", "capsule.json", dockerfile.ARCHIVE_FILE} <= set(excluded)
    assert not any(pattern.startswith("#") for pattern in excluded)

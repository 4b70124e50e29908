"""`capsule build --embed-base-image` and the verification of such a capsule, for real.

One capsule per session embeds a test image derived from the offline base image (about 200 MB);
the test image's tag is removed after the build, so verify must load it from the capsule. Each
test clones the capsule with hard links and changes only what it tampers with.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from capsule import dockerfile, manifest
from capsule.backends import docker as capsule_docker
from capsule.cli import main
from capsule.model import ImageArchive

from conftest import write_tree
from fixtures_docker import ImageFactory

pytestmark = pytest.mark.docker

ANALYSIS = {
    "01_write.py": """
        import pathlib
        pathlib.Path("out").mkdir(exist_ok=True)
        pathlib.Path("out/answer.txt").write_text("42\\n")
    """,
}
DERIVED = {
    "Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
    "RUN echo platform-embed > /etc/capsule-test-embedded\n",
}


@dataclasses.dataclass(frozen=True)
class Embedded:
    """The session's capsule with an embedded base image, and that image's id."""

    path: Path
    image_id: str


def _remove_image(client: Any, image_id: str) -> None:
    """Remove an image this test module made or loaded, if the engine has it."""
    with contextlib.suppress(docker.errors.ImageNotFound):
        client.images.remove(image_id, force=True)


def _image_ids(client: Any) -> set[str]:
    return {str(image.id) for image in client.images.list(all=True)}


@pytest.fixture(scope="session")
def embedded(
    docker_engine: Any, image_factory: ImageFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Embedded]:
    """A small analysis built with --embed-base-image from a test image, then that image gone."""
    tag = image_factory(DERIVED)
    source = write_tree(tmp_path_factory.mktemp("platform-embed-source"), ANALYSIS)
    out = tmp_path_factory.mktemp("embedded") / "small.capsule"
    code = main(["build", str(source), "-o", str(out), "--base-image", tag, "--embed-base-image"])
    assert code == 0
    archive = manifest.read(out).base_image_archive
    assert archive is not None
    _remove_image(docker_engine, tag)  # verify must now load it from the capsule
    yield Embedded(path=out, image_id=archive.image_id)
    _remove_image(docker_engine, archive.image_id)


def clone(capsule: Path, target: Path) -> Path:
    """A copy of the capsule made of hard links: replace a file before changing it."""
    shutil.copytree(capsule, target, copy_function=os.link)
    return target


def verify(capsule: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """`capsule verify` in-process; the exit code and verification.json ({} if none)."""
    report = capsule.parent / f"{capsule.name}.report"
    code = main(["verify", str(capsule), "--report-dir", str(report), *args])
    path = report / "verification.json"
    return code, json.loads(path.read_text()) if path.exists() else {}


def test_the_archive_is_in_the_manifest_untagged(embedded: Embedded) -> None:
    loaded = manifest.read(embedded.path)
    assert loaded.base_image_archive == ImageArchive(
        file=dockerfile.ARCHIVE_FILE, image_id=embedded.image_id
    )
    listed = {entry.path: entry for entry in loaded.capsule_files}
    archive = embedded.path / dockerfile.ARCHIVE_FILE
    assert listed[dockerfile.ARCHIVE_FILE].size == archive.stat().st_size > 50_000_000
    with tarfile.open(archive) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        (entry,) = json.load(member)
    assert not entry.get("RepoTags")  # loading it moves no tag on the reviewer's engine
    assert entry["Config"].removesuffix(".json") == embedded.image_id.removeprefix("sha256:")
    text = (embedded.path / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={embedded.image_id}\n" in text
    assert "docker load -i base-image.tar" in text


def test_verify_loads_the_embedded_image_and_reproduces(
    embedded: Embedded,
    docker_engine: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
) -> None:
    _remove_image(docker_engine, embedded.image_id)
    capsule = clone(embedded.path, tmp_path / "small.capsule")
    code, data = verify(capsule)
    if data.get("image_id"):  # the image verify built (and keeps) stands on the loaded one
        request.addfinalizer(lambda: _remove_image(docker_engine, data["image_id"]))
    assert code == 0, data
    assert "Loading the base image from base-image.tar" in capsys.readouterr().err
    assert docker_engine.images.get(embedded.image_id).id == embedded.image_id
    assert data["image"].endswith(f"({dockerfile.ARCHIVE_FILE})")
    assert data["outputs"][0]["status"] == "identical"
    # The engine has it now: a second verification does not load it again.
    assert capsule_docker.load_image(capsule / dockerfile.ARCHIVE_FILE, embedded.image_id) is False


def test_a_tampered_archive_is_refused_before_loading(
    embedded: Embedded, docker_engine: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsule = clone(embedded.path, tmp_path / "small.capsule")
    archive = capsule / dockerfile.ARCHIVE_FILE
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x01
    archive.unlink()  # a hard link to the session's capsule: replaced, not changed
    archive.write_bytes(bytes(data))
    _remove_image(docker_engine, embedded.image_id)
    before = _image_ids(docker_engine)
    code, report = verify(capsule)
    assert code == 2 and report == {}
    err = " ".join(capsys.readouterr().err.split())
    assert f"{dockerfile.ARCHIVE_FILE} does not match its SHA-256" in err
    assert _image_ids(docker_engine) == before  # nothing was loaded


def test_an_archive_that_loads_another_image_is_refused(
    embedded: Embedded, docker_engine: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsule = clone(embedded.path, tmp_path / "small.capsule")
    wrong = "sha256:" + "e" * 64
    old = manifest.read(capsule)
    (capsule / manifest.MANIFEST_FILE).unlink()
    manifest.write(
        dataclasses.replace(
            old, base_image_archive=ImageArchive(file=dockerfile.ARCHIVE_FILE, image_id=wrong)
        ),
        capsule,
    )
    _remove_image(docker_engine, embedded.image_id)
    before = _image_ids(docker_engine)
    code, report = verify(capsule)
    assert code == 2 and report == {}
    err = " ".join(capsys.readouterr().err.split())
    assert (
        capsule_docker.WRONG_LOADED_IMAGE.format(
            archive=dockerfile.ARCHIVE_FILE, loaded=embedded.image_id, expected=wrong
        )
        in err
    )
    assert _image_ids(docker_engine) == before  # what it loaded was removed again


def test_an_archive_id_that_is_no_id_is_refused(embedded: Embedded, tmp_path: Path) -> None:
    capsule = clone(embedded.path, tmp_path / "small.capsule")
    old = manifest.read(capsule)
    (capsule / manifest.MANIFEST_FILE).unlink()
    hostile = ImageArchive(file=dockerfile.ARCHIVE_FILE, image_id="sha256:x\nRUN touch /pwned")
    manifest.write(dataclasses.replace(old, base_image_archive=hostile), capsule)
    code, report = verify(capsule)
    assert code == 2 and report == {}

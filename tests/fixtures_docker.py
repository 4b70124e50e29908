"""Pytest fixtures for tests that need a Docker engine and the offline base image.

Registered from tests/conftest.py (`pytest_plugins = ["fixtures_docker"]`). Without an engine or
the base image, the tests that use these fixtures are skipped with the reason, unless
CAPSULE_REQUIRE_DOCKER=1 (as in CI, .ci/run): then they fail, so a broken CI machine cannot pass
by skipping everything. Mark such tests `@pytest.mark.docker`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import docker.errors
import pytest

from capsule.backends import docker as capsule_docker

REQUIRE_ENV = "CAPSULE_REQUIRE_DOCKER"
BASE_IMAGE_ENV = "CAPSULE_TEST_BASE_IMAGE"
DEFAULT_BASE_IMAGE = "capsule-base:bookworm"
TEST_IMAGE_PREFIX = "capsule-test"

NO_ENGINE_REASON = (
    "no Docker engine answers ({where}); start one (`dockerd &`) to run the docker tests"
)
NO_BASE_IMAGE_REASON = (
    "the base image {image} is not on the Docker engine; make it with "
    "`sudo bash scripts/make-base-image.sh {image}` (or set {env} to another image)"
)

ImageFactory = Callable[[Mapping[str, str]], str]


def docker_required() -> bool:
    """True when missing Docker must fail the tests instead of skipping them."""
    return os.environ.get(REQUIRE_ENV, "") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it when CAPSULE_REQUIRE_DOCKER=1."""
    if docker_required():
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Any]:
    """A Docker SDK client of the engine; skips (or fails, see above) when none answers."""
    client = capsule_docker.engine()
    if client is None:
        unavailable(
            NO_ENGINE_REASON.format(where=os.environ.get("DOCKER_HOST", "the local socket"))
        )
    yield client
    client.close()


@pytest.fixture(scope="session")
def base_image(docker_engine: Any) -> str:
    """The offline base image's name ($CAPSULE_TEST_BASE_IMAGE, else capsule-base:bookworm)."""
    name = os.environ.get(BASE_IMAGE_ENV) or DEFAULT_BASE_IMAGE
    try:
        docker_engine.images.get(name)
    except docker.errors.ImageNotFound:
        unavailable(NO_BASE_IMAGE_REASON.format(image=name, env=BASE_IMAGE_ENV))
    return name


@pytest.fixture(scope="session")
def image_factory(
    docker_engine: Any, base_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ImageFactory]:
    """Build a tiny test image from {relative path: text} with a Dockerfile; returns its tag.

    The Dockerfile gets the build argument BASE_IMAGE (use `ARG BASE_IMAGE` and
    `FROM ${BASE_IMAGE}`). Every image built is removed at the end of the session.
    """
    tags: list[str] = []

    def build(files: Mapping[str, str]) -> str:
        context = tmp_path_factory.mktemp("image")
        for relative, text in files.items():
            path = context / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        tag = f"{TEST_IMAGE_PREFIX}-{uuid.uuid4().hex[:12]}:latest"
        tags.append(tag)
        capsule_docker.build_image(Path(context), tag=tag, build_args={"BASE_IMAGE": base_image})
        return tag

    yield build
    for tag in tags:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_engine.images.remove(tag, force=True)

"""Platforms: a machine's or an engine's architecture as Docker names it, and emulation."""

from __future__ import annotations

import platform

import pytest

from capsule.errors import ManifestError
from capsule.platforms import (
    KNOWN_PLATFORMS,
    check_platform,
    engine_platform,
    platform_of,
    same_architecture,
)


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", "linux/amd64"),
        ("AMD64", "linux/amd64"),
        ("aarch64", "linux/arm64"),
        ("arm64", "linux/arm64"),
        ("armv7l", "linux/arm/v7"),
        ("i686", "linux/386"),
        ("sparc64", ""),
        ("", ""),
    ],
)
def test_platform_of_a_machine(machine: str, expected: str) -> None:
    assert platform_of(machine) == expected


def test_this_machine_has_a_known_platform() -> None:
    assert platform_of(platform.machine()) in KNOWN_PLATFORMS


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (("linux", "amd64"), "linux/amd64"),
        (("Linux", "ARM64"), "linux/arm64"),
        (("linux", "arm"), "linux/arm/v7"),
        (("linux", "arm", "v6"), "linux/arm/v6"),
    ],
)
def test_engine_platform(fields: tuple[str, ...], expected: str) -> None:
    assert engine_platform(*fields) == expected


@pytest.mark.parametrize(
    ("capsule", "running", "native"),
    [
        ("linux/amd64", "linux/amd64", True),
        ("linux/amd64", "linux/arm64", False),
        ("linux/arm64", "linux/amd64", False),
        ("linux/arm/v7", "linux/arm", True),  # the engine names no variant
        ("linux/arm/v7", "linux/arm/v6", False),
    ],
)
def test_same_architecture(capsule: str, running: str, native: bool) -> None:
    assert same_architecture(capsule, running) is native


@pytest.mark.parametrize("value", [*sorted(KNOWN_PLATFORMS), ""])
def test_known_platforms_pass(value: str) -> None:
    check_platform(value)


@pytest.mark.parametrize(
    "value",
    [
        "linux/amd64 AS evil",
        "linux/amd64\nRUN touch /pwned",
        "linux/mips",
        "darwin/arm64",
        "LINUX/AMD64",
        "linux/amd64/v2",
        "${BASE_IMAGE}",
    ],
)
def test_other_platform_strings_are_refused(value: str) -> None:
    with pytest.raises(ManifestError) as error:
        check_platform(value)
    assert "does not know" in error.value.message and "linux/amd64" in error.value.hint

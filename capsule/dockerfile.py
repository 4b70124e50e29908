"""The capsule's Dockerfile, rendered from its manifest: by build, and again by verify.

Verify trusts only what it renders (DESIGN.md, decision 14): it never builds the Dockerfile a
capsule carries, but renders one from the manifest with its own template. Every manifest value
that goes into it is checked first, so a hostile capsule.json cannot add an instruction: the
platform must be one of PLATFORMS, the base image an image reference, the name a file-safe word.
"""

from __future__ import annotations

import re

from capsule import render
from capsule.errors import ManifestError
from capsule.manifest import DEBS_FOLDER, TAMPERED_HINT
from capsule.model import ImageArchive, Lock, Manifest, SystemEnvironment
from capsule.naming import RUNTIME_LOCK, RUNTIME_PYTHON_VARIABLE, RUNTIME_WHEELS
from capsule.platforms import check_platform

DOCKERFILE_TEMPLATE = "Dockerfile.j2"
DOCKERIGNORE_TEMPLATE = "dockerignore.j2"
ARCHIVE_FILE = "base-image.tar"  # where --embed-base-image saves the base image in the capsule

# What may stand in a FROM line: an image reference (registry/repo:tag@sha256:…) or an image id.
_IMAGE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,63}$")
_IMAGE_ID = re.compile(r"^sha256:[0-9a-f]{64}$")

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

UNSAFE_VALUE = "capsule.json's {field} {value!r} cannot stand in a Dockerfile"
UNSAFE_VALUE_HINT = TAMPERED_HINT


def check_image_id(value: str, field: str) -> None:
    """Refuse an image id that is not "sha256:" and 64 hexadecimal digits."""
    if not _IMAGE_ID.fullmatch(value):
        raise ManifestError(
            UNSAFE_VALUE.format(field=field, value=value[:80]), hint=UNSAFE_VALUE_HINT
        )


def _check(value: str, pattern: re.Pattern[str], field: str) -> str:
    """The value, if it matches pattern in full; else ManifestError."""
    if not pattern.fullmatch(value):
        raise ManifestError(
            UNSAFE_VALUE.format(field=field, value=value[:80]), hint=UNSAFE_VALUE_HINT
        )
    return value


def render_dockerfile(
    *,
    name: str,
    capsule_version: str,
    base_image: str,
    platform: str,
    has_pins: bool,
    archive: ImageArchive | None,
    runtime_lock: Lock | None = None,
    debs: bool = False,
) -> str:
    """The Dockerfile text; ManifestError when a value could change its instructions.

    With `debs`, the .deb files of debs/ are installed (no network) before the Python layer;
    their names never enter the text.
    """
    check_platform(platform)
    if archive is not None:
        check_image_id(archive.image_id, "base_image_archive.image_id")
    return render.render(
        DOCKERFILE_TEMPLATE,
        name=_check(name, _NAME, "name"),
        capsule_version=_check(capsule_version, _VERSION, "capsule_version"),
        # An embedded image is loaded untagged: the build names it by its id.
        base_image=archive.image_id
        if archive
        else _check(base_image, _IMAGE_REFERENCE, "base_image"),
        platform=platform,
        archive=_check(archive.file, _NAME, "base_image_archive.file") if archive else "",
        tag=f"capsule/{name.lower()}",
        has_pins=has_pins,
        # capsule's notebook client: fixed names, nothing of the manifest but whether it has pins
        runtime={
            "lock": RUNTIME_LOCK,
            "wheels": RUNTIME_WHEELS,
            "variable": RUNTIME_PYTHON_VARIABLE,
            "has_pins": bool(runtime_lock.pins),
        }
        if runtime_lock is not None
        else None,
        debs=DEBS_FOLDER if debs else "",
    )


def from_manifest(manifest: Manifest) -> str:
    """The Dockerfile of a capsule, rendered from its manifest alone (verify trusts only this)."""
    return render_dockerfile(
        name=manifest.name,
        capsule_version=manifest.capsule_version,
        base_image=manifest.base_image,
        platform=manifest.platform,
        has_pins=bool(manifest.lock.pins),
        archive=manifest.base_image_archive,
        runtime_lock=manifest.runtime_lock,
        debs=vendored_debs(manifest.system),
    )


def vendored_debs(system: SystemEnvironment | None) -> bool:
    """Whether the capsule carries .deb files to install (some system package was vendored)."""
    return system is not None and any(package.deb for package in system.packages)


def context_exclude(name: str) -> tuple[str, ...]:
    """The .dockerignore patterns of a capsule's build context, as verify renders them."""
    text = render.render(DOCKERIGNORE_TEMPLATE, name=_check(name, _NAME, "name"))
    lines = (line.strip() for line in text.splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))

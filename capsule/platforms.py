"""Platforms: the machine architecture a capsule's wheels were made for, as Docker names it.

A capsule pins one of KNOWN_PLATFORMS in capsule.json (`platform`); its Dockerfile builds
`FROM --platform=…`, and verify says when the engine runs another architecture (emulation).
"""

from __future__ import annotations

from capsule.errors import ManifestError

# The machine architectures (platform.machine(), `uname -m`) capsule knows, and the Docker
# platform of each (https://github.com/containerd/platforms, normalize.go). A capsule pins one
# of these values; any other platform string in a capsule.json is refused.
PLATFORMS: dict[str, str] = {
    "x86_64": "linux/amd64",
    "amd64": "linux/amd64",
    "aarch64": "linux/arm64",
    "arm64": "linux/arm64",
    "armv7l": "linux/arm/v7",
    "armv6l": "linux/arm/v6",
    "i386": "linux/386",
    "i686": "linux/386",
    "ppc64le": "linux/ppc64le",
    "s390x": "linux/s390x",
    "riscv64": "linux/riscv64",
}
KNOWN_PLATFORMS = frozenset(PLATFORMS.values())

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

UNKNOWN_PLATFORM = "capsule.json names the platform {value!r}, which capsule does not know"
UNKNOWN_PLATFORM_HINT = "a capsule pins one of: {known}; this one is damaged or was tampered with"


def platform_of(machine: str) -> str:
    """The Docker platform ("linux/amd64") of a machine architecture; "" when unknown."""
    return PLATFORMS.get(machine.lower(), "")


def engine_platform(os_name: str, arch: str, variant: str = "") -> str:
    """A Docker engine's or image's platform, from its Os, Architecture and Variant fields."""
    platform = f"{os_name.lower()}/{arch.lower()}"
    if variant:
        platform += f"/{variant.lower()}"
    elif platform == "linux/arm":
        platform = "linux/arm/v7"  # Docker's default variant for 32-bit arm
    return platform


def same_architecture(capsule: str, running: str) -> bool:
    """Whether a rerun on `running` runs natively the code made for `capsule`.

    OS and architecture must match; a variant counts only when both name one.
    """
    want, have = capsule.split("/"), running.split("/")
    if want[:2] != have[:2]:
        return False
    return len(want) < 3 or len(have) < 3 or want[2] == have[2]


def check_platform(value: str) -> None:
    """Refuse a platform string that is not "" (not pinned) or one of KNOWN_PLATFORMS."""
    if value and value not in KNOWN_PLATFORMS:
        raise ManifestError(
            UNKNOWN_PLATFORM.format(value=value[:80]),
            hint=UNKNOWN_PLATFORM_HINT.format(known=", ".join(sorted(KNOWN_PLATFORMS))),
        )

"""What the report pages share: labelled facts, times, machines, check statuses, embedded PNGs.

Sizes, plurals and short checksums are capsule.wording's; the words here are the reports' own.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from capsule.model import CheckStatus, Environment

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_EMBED_BYTES = 16 * 1024 * 1024  # an image larger than this is named, not embedded

# How verify judged an output, in the order problems first (see model.STATUS_ORDER).
STATUS_LABELS: dict[CheckStatus, str] = {
    "differs": "differs",
    "missing": "missing",
    "unexpected": "unexpected",
    "within-tolerance": "within tolerance",
    "metadata-only": "metadata only",
    "identical": "identical",
}
EXTERNAL_NOTE = "outside the analysis: the rerun may not have it"
MISSING_NOTE = "not in the capsule: the rerun will not have it"


@dataclass(frozen=True)
class Fact:
    """One labelled value of a facts list; title is the full value shown on hover."""

    label: str
    value: str
    title: str = ""
    mono: bool = False


@dataclass(frozen=True)
class Image:
    """An image ready to embed in a page: a data: URI, its size in CSS pixels, its file name."""

    uri: str
    width: int
    height: int
    name: str = ""


def host_facts(env: Environment) -> list[Fact]:
    """OS, CPU, cores, memory and Python of a machine, as the pages list them."""
    return [
        Fact("OS", env.os_release or env.os, title=env.os),
        Fact("CPU", f"{env.cpu_model or 'unknown'} ({env.architecture})"),
        Fact("Cores", cores_text(env)),
        Fact("Memory", memory_text(env.memory_bytes)),
        Fact("Python", f"{env.python_implementation} {env.python_version}"),
    ]


def cores_text(env: Environment) -> str:
    """'8 logical, 4 physical', or '8 logical' when the physical count is unknown."""
    cores = f"{env.cpu_cores_logical} logical"
    if env.cpu_cores_physical:
        cores += f", {env.cpu_cores_physical} physical"
    return cores


def memory_text(size: int) -> str:
    """'16.0 GiB': memory in binary units, as machines are sold and tools report it."""
    return f"{size / 1024**3:.1f} GiB"


def duration_text(seconds: float) -> str:
    """'0.4 s', '12.3 s', '3 min 12 s', '1 h 02 min'."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def time_text(stamp: str) -> str:
    """'2025-03-01 12:34:56 UTC' from an ISO 8601 time; the text itself if it is not one."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG from its header; None when the bytes are not a PNG."""
    if not data.startswith(PNG_SIGNATURE) or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def data_uri(media_type: str, data: bytes) -> str:
    """The bytes as a data: URI, for a page that may load nothing."""
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"

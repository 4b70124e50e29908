"""Words and numbers as capsule says them to people: one size format, one plural rule."""

from __future__ import annotations

SHORT_HASH = 12  # hex digits of a checksum shown to people


def plural(count: int, noun: str, plural_form: str = "") -> str:
    """ "1 step", "3 steps", "0 files"; `plural_form` for nouns that do not take an s."""
    word = noun if count == 1 else (plural_form or f"{noun}s")
    return f"{count} {word}"


def size_text(size: int) -> str:
    """A byte count in decimal units: "1 byte", "512 bytes", "23.5 kB", "1.2 MB"."""
    if size < 1000:
        return plural(size, "byte")
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def short_hash(sha256: str) -> str:
    """The first hex digits of a checksum, as shown to people."""
    return sha256.removeprefix("sha256:")[:SHORT_HASH]

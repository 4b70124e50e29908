"""Writing files people keep: whole or not at all."""

from __future__ import annotations

import contextlib
from pathlib import Path

from capsule.errors import CapsuleError


def write_text_atomic(target: Path, text: str, *, hint: str) -> Path:
    """Write UTF-8 text with LF line ends through a temporary sibling renamed into place.

    A reader never sees half a file; CapsuleError (with `hint`) when it cannot be written.
    """
    partial = target.with_name(f".{target.name}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
        partial.replace(target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
        raise CapsuleError(f"cannot write {target}: {exc.strerror or exc}", hint=hint) from exc
    return target

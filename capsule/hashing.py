"""Checksums and snapshots of file trees: SHA-256, streamed, never a whole file in memory."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20  # 1 MiB: large enough for hashlib's SHA-NI speed, small enough for any file

# Never part of an analysis: version control, caches, virtual environments, editor litter.
ALWAYS_EXCLUDED: tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".ipynb_checkpoints",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    "node_modules",
    ".DS_Store",
    "*.pyc",
    "*.capsule",
    ".capsule-*",
)


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_hashed(src: Path, dst: Path) -> tuple[str, int]:
    """Copy a file in 1 MiB chunks, hashing the bytes as they pass; return (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    with src.open("rb") as reader, dst.open("wb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
    shutil.copymode(src, dst)
    return digest.hexdigest(), size


def sha256_bytes(data: bytes) -> str:
    """The hex SHA-256 of bytes already in memory."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Stat:
    """What a snapshot knows of one file."""

    size: int
    mtime_ns: int
    sha256: str


Snapshot = dict[str, Stat]  # relative POSIX path -> Stat


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Whether a relative POSIX path matches any glob (`**` spans folders, a bare name any part)."""
    parts = path.split("/")
    for pattern in patterns:
        if "/" not in pattern.rstrip("/") and not pattern.startswith("**"):
            # A bare name such as ".venv" or "*.pyc" excludes that name at any depth.
            if any(fnmatch.fnmatchcase(part, pattern.rstrip("/")) for part in parts):
                return True
            continue
        if _glob_match(parts, pattern.strip("/").split("/")):
            return True
    return False


def _glob_match(parts: list[str], pattern: list[str]) -> bool:
    """Match path parts against glob parts where `**` matches zero or more parts."""
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob_match(parts[i:], rest) for i in range(len(parts) + 1))
    if not parts or not fnmatch.fnmatchcase(parts[0], head):
        return False
    return _glob_match(parts[1:], rest)


def walk(root: Path, exclude: Iterable[str] = ()) -> Iterator[str]:
    """Relative POSIX paths of the regular files under root, sorted, skipping excluded ones.

    A folder holding a `pyvenv.cfg` is a virtual environment and is skipped whole. Symbolic
    links are not followed: a link to a file is listed, a link to a folder is not entered.
    """
    patterns = (*ALWAYS_EXCLUDED, *exclude)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            name
            for name in dirnames
            if not matches(prefix + name, patterns)
            and not (here / name / "pyvenv.cfg").exists()
            and not (here / name).is_symlink()
        )
        for name in sorted(filenames):
            rel = prefix + name
            if not matches(rel, patterns):
                yield rel


def snapshot(root: Path, exclude: Iterable[str] = (), previous: Snapshot | None = None) -> Snapshot:
    """Size, mtime and SHA-256 of every file under root.

    With `previous`, a file whose size and mtime are unchanged keeps its old hash instead of
    being read again; this is only used between steps of one run, never to trust an input.
    """
    result: Snapshot = {}
    for rel in walk(root, exclude):
        path = root / rel
        st = path.stat()
        old = previous.get(rel) if previous else None
        if old is not None and old.size == st.st_size and old.mtime_ns == st.st_mtime_ns:
            result[rel] = old
        else:
            result[rel] = Stat(st.st_size, st.st_mtime_ns, sha256_file(path))
    return result


@dataclass(frozen=True)
class Change:
    """What differs between two snapshots of one tree."""

    created: tuple[str, ...]
    modified: tuple[str, ...]
    removed: tuple[str, ...]

    @property
    def written(self) -> tuple[str, ...]:
        """Paths created or modified, sorted."""
        return tuple(sorted((*self.created, *self.modified)))


def diff(before: Snapshot, after: Snapshot) -> Change:
    """Created, modified (by content) and removed paths between two snapshots."""
    created = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    modified = sorted(
        path for path in set(before) & set(after) if before[path].sha256 != after[path].sha256
    )
    return Change(tuple(created), tuple(modified), tuple(removed))

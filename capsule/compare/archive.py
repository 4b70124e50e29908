"""Archives (.tar, .tar.gz/.tgz, .tar.bz2, .tar.xz, .gz, .zip): member by member.

Members are matched by name and compared by type, size, mode, link target and the SHA-256 of
their content. Volatile, named when they differ: member mtimes, member ownership (uid, gid,
uname, gname), member order, extra fields and pax headers, the zip comment, the gzip header
(mtime, file name, OS byte) and "encoding only" (compression, tar header format) when every
member is otherwise the same. Differing members are named with their sizes; their contents are
not compared further.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from capsule.compare import binary
from capsule.compare._shared import differ, error_text, fallback, plural
from capsule.compare.model import HASH_CHUNK, Comparison, Tolerance

NAME = "archive"
MEMBER_MTIMES = "member mtimes"
MEMBER_OWNERSHIP = "member ownership"
MEMBER_ORDER = "member order"
EXTRA_FIELDS = "member extra fields"
ZIP_COMMENT = "zip comment"
GZIP_MTIME = "gzip mtime"
GZIP_NAME = "gzip filename"
GZIP_HEADER = "gzip header (OS, flags, comment)"
ENCODING_ONLY = "encoding only (compression or archive headers)"
MEMBERS_SHOWN = 5
_TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
# pax header keys that repeat what is compared elsewhere, or are volatile times and owners
_PAX_COMPARED = frozenset(
    {"path", "linkpath", "size", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"}
)
# zip extra fields holding times or owners: extended timestamp, Info-ZIP unix, NTFS, old unix
_ZIP_VOLATILE_EXTRA = frozenset({0x5455, 0x7875, 0x000A, 0x5855})


@dataclass(frozen=True)
class _Member:
    """One member of an archive, as compared."""

    name: str
    kind: str  # file, dir, symlink, hardlink, other
    size: int
    sha256: str
    mode: int
    link: str
    mtime: object
    owner: tuple[object, ...]
    extra: tuple[object, ...]


@dataclass
class _Archive:
    """What is read from one archive."""

    members: list[_Member] = field(default_factory=list)
    gzip: dict[str, object] | None = None
    comment: bytes = b""


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Metadata-only if every member has the same content and only volatile metadata differs."""
    kind = _kind(path)
    archives: list[_Archive] = []
    for label, file in (("expected", expected), ("actual", actual)):
        try:
            archives.append(_read(file, kind))
        except Exception as exc:  # tarfile, zipfile, gzip, zlib, lzma raise many types
            return fallback(
                f"{label} is not a readable {kind} file ({error_text(exc)})",
                binary.compare,
                expected,
                actual,
                path=path,
                tolerance=tolerance,
                artifacts_dir=artifacts_dir,
            )
    old, new = archives
    volatile: list[str] = []
    differences = _member_differences(old.members, new.members, volatile)
    if old.gzip is not None and new.gzip is not None:
        volatile.extend(_gzip_differences(old.gzip, new.gzip))
    if old.comment != new.comment:
        volatile.append(ZIP_COMMENT)
    if differences:
        reason = f"{plural(len(differences), 'difference')} in members: " + "; ".join(
            differences[:MEMBERS_SHOWN]
        )
        if len(differences) > MEMBERS_SHOWN:
            reason += "; …"
        if volatile:
            reason += f" (also {', '.join(volatile)})"
        return Comparison(
            path=path,
            verdict="differs",
            reason=reason,
            details=tuple(differences),
            volatile=tuple(volatile),
            comparator=NAME,
        )
    if not volatile:
        volatile.append(ENCODING_ONLY)
    return Comparison(
        path=path,
        verdict="metadata-only",
        reason=f"same {plural(len(old.members), 'member')} and contents; only {differ(volatile)}",
        volatile=tuple(volatile),
        comparator=NAME,
    )


def _kind(path: str) -> str:
    """'tar', 'zip' or 'gzip', from the file name."""
    lower = path.lower()
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(_TAR_SUFFIXES):
        return "tar"
    return "gzip"


def _read(file: Path, kind: str) -> _Archive:
    """Read every member's facts and content hash; raises on a broken archive."""
    with file.open("rb") as stream:
        start = stream.read(65536)
    archive = _Archive(gzip=_gzip_header(start) if start[:2] == b"\x1f\x8b" else None)
    if kind == "zip":
        with zipfile.ZipFile(file) as zipped:
            archive.comment = zipped.comment
            archive.members = [_zip_member(zipped, info) for info in zipped.infolist()]
    elif kind == "tar":
        with tarfile.open(file, mode="r:*") as tarred:
            archive.members = [_tar_member(tarred, info) for info in tarred]
    else:
        if archive.gzip is None:
            raise ValueError("no gzip header")
        with gzip.open(file, "rb") as content:
            size, digest = _hash(content)
        # The file name stored in the header is compared as header metadata, not as content.
        archive.members = [_Member("(content)", "file", size, digest, 0, "", None, (), ())]
    return archive


def _tar_member(tarred: tarfile.TarFile, info: tarfile.TarInfo) -> _Member:
    """The facts of one tar member."""
    kind = (
        "file"
        if info.isfile()
        else "dir"
        if info.isdir()
        else "symlink"
        if info.issym()
        else "hardlink"
        if info.islnk()
        else "other"
    )
    size, digest = 0, ""
    if info.isfile():
        content = tarred.extractfile(info)
        if content is None:
            raise ValueError(f"cannot read member {info.name}")
        with content:
            size, digest = _hash(content)
    pax = tuple(sorted((k, v) for k, v in info.pax_headers.items() if k not in _PAX_COMPARED))
    return _Member(
        name=info.name,
        kind=kind,
        size=size,
        sha256=digest,
        mode=info.mode,
        link=info.linkname,
        mtime=info.mtime,
        owner=(info.uid, info.gid, info.uname, info.gname),
        extra=pax,
    )


def _zip_member(zipped: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    """The facts of one zip member; zipfile checks the CRC while reading."""
    mode = info.external_attr >> 16
    kind = "dir" if info.is_dir() else "symlink" if (mode & 0o170000) == 0o120000 else "file"
    size, digest = 0, ""
    if not info.is_dir():
        with zipped.open(info) as content:
            size, digest = _hash(content)
    times, owners, other = [], [], []
    for ident, data in _zip_extra(info.extra):
        if ident == 0x7875:
            owners.append(data)
        elif ident in _ZIP_VOLATILE_EXTRA:
            times.append(data)
        else:
            other.append((ident, data))
    return _Member(
        name=info.filename,
        kind=kind,
        size=size,
        sha256=digest,
        mode=mode & 0o7777,
        link="",
        mtime=(info.date_time, *times),
        owner=tuple(owners),
        extra=tuple(other),
    )


def _zip_extra(extra: bytes) -> Iterator[tuple[int, bytes]]:
    """Split a zip extra field into (header id, data) records."""
    position = 0
    while position + 4 <= len(extra):
        ident, length = struct.unpack("<HH", extra[position : position + 4])
        yield ident, extra[position + 4 : position + 4 + length]
        position += 4 + length


class _Readable(Protocol):
    """Anything with read(size) -> bytes: files, tar and zip members, gzip streams."""

    def read(self, size: int = -1, /) -> bytes: ...


def _hash(stream: _Readable) -> tuple[int, str]:
    """Size and SHA-256 of a stream, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(HASH_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


def _gzip_header(data: bytes) -> dict[str, object]:
    """The fields of a gzip member header (RFC 1952); ValueError if malformed."""
    if len(data) < 10:
        raise ValueError("gzip header cut short")
    flags = data[3]
    header: dict[str, object] = {
        "mtime": int.from_bytes(data[4:8], "little"),
        "xfl": data[8],
        "os": data[9],
        "flags": flags & 0b11,  # FTEXT, FHCRC; the others are compared as fields
    }
    position = 10
    if flags & 0x04:  # FEXTRA
        (length,) = struct.unpack("<H", data[position : position + 2])
        header["extra"] = data[position + 2 : position + 2 + length]
        position += 2 + length
    for bit, key in ((0x08, "name"), (0x10, "comment")):
        if flags & bit:
            end = data.find(b"\0", position)
            if end == -1:
                raise ValueError(f"gzip header {key} not terminated")
            header[key] = data[position:end].decode("latin-1")
            position = end + 1
    return header


def _gzip_differences(old: dict[str, object], new: dict[str, object]) -> list[str]:
    """Name the gzip header fields that differ (the compression level byte is encoding)."""
    names = []
    if old.get("mtime") != new.get("mtime"):
        names.append(GZIP_MTIME)
    if old.get("name") != new.get("name"):
        names.append(GZIP_NAME)
    keys = ("os", "flags", "comment", "extra")
    if any(old.get(k) != new.get(k) for k in keys):
        names.append(GZIP_HEADER)
    return names


def _member_differences(old: list[_Member], new: list[_Member], volatile: list[str]) -> list[str]:
    """Describe each member missing or different; append volatile names to volatile."""
    old_keyed, new_keyed = _keyed(old), _keyed(new)
    differences = []
    removed = [k[0] for k in old_keyed if k not in new_keyed]
    added = [k[0] for k in new_keyed if k not in old_keyed]
    if removed:
        differences.append(f"only in expected: {', '.join(removed[:MEMBERS_SHOWN])}")
    if added:
        differences.append(f"only in actual: {', '.join(added[:MEMBERS_SHOWN])}")
    found: dict[str, bool] = {}
    for key, a in old_keyed.items():
        b = new_keyed.get(key)
        if b is None:
            continue
        content = _content_difference(a, b)
        if content:
            differences.append(f"{a.name} ({content})")
        found[MEMBER_MTIMES] = found.get(MEMBER_MTIMES, False) or a.mtime != b.mtime
        found[MEMBER_OWNERSHIP] = found.get(MEMBER_OWNERSHIP, False) or a.owner != b.owner
        found[EXTRA_FIELDS] = found.get(EXTRA_FIELDS, False) or a.extra != b.extra
    common_old = [k for k in old_keyed if k in new_keyed]
    common_new = [k for k in new_keyed if k in old_keyed]
    found[MEMBER_ORDER] = common_old != common_new
    volatile.extend(name for name, differs in found.items() if differs)
    return differences


def _keyed(members: list[_Member]) -> dict[tuple[str, int], _Member]:
    """Members by (name, occurrence), in archive order: a name may repeat in a tar."""
    seen: dict[str, int] = {}
    keyed = {}
    for member in members:
        occurrence = seen.get(member.name, 0)
        seen[member.name] = occurrence + 1
        keyed[(member.name, occurrence)] = member
    return keyed


def _content_difference(a: _Member, b: _Member) -> str:
    """How the content of one member differs, or ''."""
    if a.kind != b.kind:
        return f"{a.kind} → {b.kind}"
    if a.link != b.link:
        return f"link {a.link} → {b.link}"
    if a.size != b.size:
        return f"{a.size} → {b.size} bytes"
    if a.sha256 != b.sha256:
        return f"content differs, same size {plural(a.size, 'byte')}"
    if a.mode != b.mode:
        return f"mode {a.mode:04o} → {b.mode:04o}"
    return ""

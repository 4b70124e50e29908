"""PDF documents: metadata-only when nothing but dates, document ids and derived offsets differ.

Both files are cut into their objects (streams decoded when Flate-compressed, object streams
included) and the structure between them (xref tables, trailers). Volatile values are replaced
by placeholders: /CreationDate and /ModDate (literal or hex strings), the trailer /ID pair, and
the XMP dates and ids. Values derived from byte positions (xref entries, startxref, /Prev,
stream /Length, object-stream offsets, cross-reference streams) are dropped, because a date of
another length moves every object after it. If what remains is equal, the PDFs differ only in
the volatile fields named; otherwise the differing objects are named.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from capsule.compare import binary
from capsule.compare._shared import differ, error_text, fallback, first_difference, plural
from capsule.compare.model import Comparison, Tolerance

NAME = "pdf"
CREATION_DATE = "PDF CreationDate"
MOD_DATE = "PDF ModDate"
DOCUMENT_ID = "PDF ID"
XMP_FIELDS = {
    b"xmp:CreateDate": "XMP CreateDate",
    b"xmp:ModifyDate": "XMP ModifyDate",
    b"xmp:MetadataDate": "XMP MetadataDate",
    b"xmpMM:DocumentID": "XMP DocumentID",
    b"xmpMM:InstanceID": "XMP InstanceID",
}
STREAM_ENCODING = "encoding only (stream compression)"
OBJECT_ORDER = "encoding only (object order)"
OBJECTS_SHOWN = 3
EXCERPT = 16  # bytes either side of a stream's first difference, in the details

_STRING = rb"(?:\((?:[^()\\]|\\.)*\)|<[0-9A-Fa-f\s]*>)"
_DATE = re.compile(rb"/(CreationDate|ModDate)(\s*)(" + _STRING + rb")", re.DOTALL)
_ID = re.compile(rb"/ID\s*\[\s*(" + _STRING + rb")\s*(" + _STRING + rb")\s*\]", re.DOTALL)
_XMP_NAMES = b"|".join(re.escape(k) for k in XMP_FIELDS)
_XMP_ELEMENT = re.compile(rb"<(" + _XMP_NAMES + rb")>(.*?)</\1>", re.DOTALL)
_XMP_ATTRIBUTE = re.compile(rb"(" + _XMP_NAMES + rb")(\s*=\s*)(\"[^\"]*\"|'[^']*')")
_OBJECT = re.compile(rb"(?<![0-9])(\d{1,10})\s+(\d{1,5})\s+obj\b")
_STREAM = re.compile(rb">>\s*stream(?:\r\n|\n|\r)")
_ENDSTREAM = re.compile(rb"\s*endstream")
_LENGTH = re.compile(rb"/Length\s+(\d+)(\s+\d+\s+R)?")
_DERIVED = [  # values computed from byte positions or lengths
    (re.compile(rb"/Length\s+\d++(?!\s+\d+\s+R)"), b"/Length _"),
    (re.compile(rb"/(Prev|First|DL|XRefStm)\s+\d+"), rb"/\1 _"),
]
_LINEARIZED = re.compile(rb"/(L|E|T|O|N|H)\s*(?:\d+|\[[\d\s]*\])")
_XREF_STRUCTURE = [
    (re.compile(rb"\d{10} \d{5} [nf]"), b"XREF"),
    (re.compile(rb"startxref\s+\d+"), b"startxref _"),
    (re.compile(rb"/(Prev|XRefStm)\s+\d+"), rb"/\1 _"),
]


@dataclass(frozen=True)
class _Object:
    """One indirect object, normalised."""

    key: tuple[int, int, int]  # number, generation, occurrence (incremental updates repeat)
    head: bytes  # dictionary or value, volatile fields and derived numbers replaced
    content: bytes | None  # stream data: decoded when possible, volatile fields replaced
    raw_equal_key: bytes  # the stream data as stored, to tell compression changes apart
    decoded: bytes | None  # stream data decoded, before the volatile fields were replaced
    kind: str


@dataclass
class _Document:
    """A parsed PDF: objects, the structure between them, volatile values found."""

    objects: dict[tuple[int, int, int], _Object]
    order: list[tuple[int, int, int]]
    structure: bytes
    volatile: list[tuple[str, bytes]]
    complete: bool  # ends with %%EOF
    encrypted: bool


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Metadata-only if only dates, ids and offsets differ; else name the differing objects."""
    documents: list[_Document] = []
    for label, file in (("expected", expected), ("actual", actual)):
        try:
            data = file.read_bytes()
            if b"%PDF-" not in data[:1024]:
                raise ValueError("no %PDF- header")
            documents.append(_parse(data))
        except Exception as exc:  # a parser of untrusted bytes: never let it raise
            return fallback(
                f"{label} is not a readable PDF ({error_text(exc)})",
                binary.compare,
                expected,
                actual,
                path=path,
                tolerance=tolerance,
                artifacts_dir=artifacts_dir,
            )
    old, new = documents
    volatile = _volatile_differences(old.volatile, new.volatile)
    excerpts: list[str] = []
    problems = _object_differences(old, new, excerpts)
    notes = [
        f"{label} has no %%EOF at the end: truncated?"
        for label, doc in (("expected", old), ("actual", new))
        if not doc.complete
    ]
    if old.encrypted or new.encrypted:
        notes.append("encrypted: strings and streams depend on the document id")
    if old.structure != new.structure:
        problems.append("file structure (header, xref or trailer)")
    if not problems:
        if _stream_encoding_differs(old, new):
            volatile.append(STREAM_ENCODING)
        if old.order != new.order:
            volatile.append(OBJECT_ORDER)
    if not problems and volatile:
        return Comparison(
            path=path,
            verdict="metadata-only",
            reason=f"same content; only {differ(volatile)}",
            details=tuple(notes + _volatile_samples(old.volatile, new.volatile, volatile)),
            volatile=tuple(volatile),
            comparator=NAME,
        )
    if not problems:
        problems.append("bytes outside the objects compared")
    total = len(old.objects.keys() | new.objects.keys())
    objects = [p for p in problems if p.startswith("object")]
    if objects:
        shown = ", ".join(objects[:OBJECTS_SHOWN]) + (", …" if len(objects) > OBJECTS_SHOWN else "")
        verb = "differs" if len(objects) == 1 else "differ"
        reason = f"{len(objects)} of {plural(total, 'object')} {verb}: {shown}"
        rest = [p for p in problems if not p.startswith("object")]
        if rest:
            reason += "; " + "; ".join(rest)
    else:
        reason = "; ".join(problems) + (" differ" if len(problems) > 1 else " differs")
    if volatile:
        reason += f" (also {', '.join(volatile)})"
    if notes:
        reason = f"{notes[0]}; {reason}"
    return Comparison(
        path=path,
        verdict="differs",
        reason=reason,
        details=tuple(notes + problems + excerpts),
        volatile=tuple(volatile),
        comparator=NAME,
    )


def _parse(data: bytes) -> _Document:
    """Cut a PDF into normalised objects and structure."""
    found: list[tuple[str, bytes]] = []
    objects: dict[tuple[int, int, int], _Object] = {}
    order: list[tuple[int, int, int]] = []
    structure: list[bytes] = []
    seen: dict[tuple[int, int], int] = {}
    lengths: set[tuple[int, int]] = set()
    position = 0
    while match := _OBJECT.search(data, position):
        structure.append(data[position : match.start()])
        head, stream, position = _split_object(data, match.end())
        number, generation = int(match[1]), int(match[2])
        occurrence = seen.get((number, generation), 0)
        seen[(number, generation)] = occurrence + 1
        for ref in _LENGTH.finditer(head):
            if ref[2]:
                lengths.add((int(ref[1]), int(ref[2].split()[0])))
        obj = _object(head, stream, (number, generation, occurrence), found)
        if obj is not None:  # cross-reference streams are derived data: left out
            objects[obj.key] = obj
            order.append(obj.key)
    structure.append(data[position:])
    text = b"".join(structure)
    for pattern, placeholder in _XREF_STRUCTURE:
        text = pattern.sub(placeholder, text)
    text = _replace_volatile(text, found)
    for key in list(objects):  # objects holding the /Length of a stream are derived too
        if key[:2] in lengths and objects[key].content is None:
            objects[key] = _Object(key, b"LENGTH", None, b"", None, "length")
    return _Document(
        objects=objects,
        order=order,
        structure=text,
        volatile=found,
        complete=b"%%EOF" in data[-1024:],
        encrypted=b"/Encrypt" in text,
    )


def _split_object(data: bytes, start: int) -> tuple[bytes, bytes | None, int]:
    """From just after 'N G obj': (head, stream data or None, position after endobj)."""
    end = data.find(b"endobj", start)
    stream = _STREAM.search(data, start, end if end != -1 else len(data))
    if stream is None:
        stop = end if end != -1 else len(data)
        return data[start:stop], None, stop + len(b"endobj") if end != -1 else len(data)
    head = data[start : stream.start() + 2]
    data_start = stream.end()
    data_end = -1
    length = _LENGTH.search(head)
    if length and not length[2]:
        candidate = data_start + int(length[1])
        if _ENDSTREAM.match(data, candidate):
            data_end = candidate
    if data_end == -1:
        found = data.find(b"endstream", data_start)
        data_end = found if found != -1 else len(data)
        while data_end > data_start and data[data_end - 1 : data_end] in (b"\r", b"\n"):
            data_end -= 1
    end = data.find(b"endobj", data_end)
    after = end + len(b"endobj") if end != -1 else len(data)
    return head, data[data_start:data_end], after


def _object(
    head: bytes, stream: bytes | None, key: tuple[int, int, int], found: list[tuple[str, bytes]]
) -> _Object | None:
    """Normalise one object; None for a cross-reference stream."""
    is_xref = re.search(rb"/Type\s*/XRef\b", head) is not None
    if is_xref:
        _replace_volatile(head, found)  # records its /ID, which is volatile
        return None
    kind = _kind(head, stream is not None)
    decoded = None
    content = None
    if stream is not None:
        decoded = _decode(head, stream)
        content = decoded if decoded is not None else stream
        if kind == "ObjStm" and decoded is not None:
            content = _object_stream_without_offsets(head, decoded)
        content = _replace_volatile(content, found)
    normal = _replace_volatile(head, found)
    for pattern, placeholder in _DERIVED:
        normal = pattern.sub(placeholder, normal)
    if b"/Linearized" in normal:  # the first-page hints are byte positions too
        normal = _LINEARIZED.sub(rb"/\1 _", normal)
    return _Object(key, normal, content, stream or b"", decoded, kind)


def _decode(head: bytes, stream: bytes) -> bytes | None:
    """Inflate a /FlateDecode stream (predictors are left applied); None if not or if broken."""
    if not re.search(rb"/Filter\s*(?:/FlateDecode|\[\s*/FlateDecode\s*\])", head):
        return None
    try:
        return zlib.decompressobj().decompress(stream)
    except zlib.error:
        return None


def _object_stream_without_offsets(head: bytes, decoded: bytes) -> bytes:
    """Drop the byte offsets from an object stream's header, keeping the object numbers."""
    first = re.search(rb"/First\s+(\d+)", head)
    if not first:
        return decoded
    split = int(first[1])
    numbers = decoded[:split].split()[0::2]
    return b"OBJECTS " + b" ".join(numbers) + b"\n" + decoded[split:]


def _replace_volatile(data: bytes, found: list[tuple[str, bytes]]) -> bytes:
    """Replace volatile values by placeholders, appending (field name, value) to found."""

    def keep(name: str, value: bytes, replacement: bytes) -> bytes:
        found.append((name, value))
        return replacement

    def date(m: re.Match[bytes]) -> bytes:
        name = CREATION_DATE if m[1] == b"CreationDate" else MOD_DATE
        return keep(name, _string_value(m[3]), b"/" + m[1] + m[2] + b"(DATE)")

    def ident(m: re.Match[bytes]) -> bytes:
        return keep(DOCUMENT_ID, m[1] + m[2], b"/ID [(ID) (ID)]")

    def xmp_element(m: re.Match[bytes]) -> bytes:
        return keep(XMP_FIELDS[m[1]], m[2], b"<" + m[1] + b">XMP</" + m[1] + b">")

    def xmp_attribute(m: re.Match[bytes]) -> bytes:
        return keep(XMP_FIELDS[m[1]], m[3], m[1] + m[2] + b'"XMP"')

    steps: list[tuple[re.Pattern[bytes], Callable[[re.Match[bytes]], bytes]]] = [
        (_DATE, date),
        (_ID, ident),
        (_XMP_ELEMENT, xmp_element),
        (_XMP_ATTRIBUTE, xmp_attribute),
    ]
    for pattern, replace in steps:
        data = pattern.sub(replace, data)
    return data


def _string_value(token: bytes) -> bytes:
    """The bytes of a PDF literal or hex string token, so both spellings compare alike."""
    if token.startswith(b"<"):
        digits = re.sub(rb"\s", b"", token[1:-1])
        try:
            return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii"))
        except ValueError:
            return token
    return token[1:-1]


def _kind(head: bytes, has_stream: bool) -> str:
    """What an object is, for the reason: its /Type, /Subtype, 'Info', 'stream' or 'object'."""
    for key in (rb"/Type\s*/(\w+)", rb"/Subtype\s*/(\w+)"):
        match = re.search(key, head)
        if match:
            return match[1].decode("latin-1")
    if b"/Producer" in head or b"/Creator" in head or b"/CreationDate" in head:
        return "Info"
    return "stream" if has_stream else "object"


def _volatile_differences(old: list[tuple[str, bytes]], new: list[tuple[str, bytes]]) -> list[str]:
    """Names of the volatile fields whose values differ, in a stable order."""
    names: list[str] = []
    for name in dict.fromkeys(n for n, _ in old + new):
        if [v for n, v in old if n == name] != [v for n, v in new if n == name]:
            names.append(name)
    return names


def _volatile_samples(
    old: list[tuple[str, bytes]], new: list[tuple[str, bytes]], names: list[str]
) -> list[str]:
    """One 'name: old → new' line per differing volatile field, for the details."""
    lines = []
    for name in names:
        pairs = zip(
            [v for n, v in old if n == name], [v for n, v in new if n == name], strict=False
        )
        for a, b in pairs:
            if a != b:
                shown = (v.decode("latin-1") if v.isascii() else v.hex() for v in (a, b))
                lines.append(f"{name}: {' → '.join(shown)}")
                break
    return lines


def _object_differences(old: _Document, new: _Document, excerpts: list[str]) -> list[str]:
    """Describe each object missing from one side or different; add content excerpts."""
    problems = []
    for key in sorted(old.objects.keys() | new.objects.keys()):
        a, b = old.objects.get(key), new.objects.get(key)
        label = f"object {key[0]} {key[1]}" + (f" (update {key[2]})" if key[2] else "")
        if a is None or b is None:
            problems.append(f"{label} only in {'actual' if a is None else 'expected'}")
        elif a.head != b.head or a.content != b.content:
            what = a.kind if a.kind == b.kind else f"{a.kind} → {b.kind}"
            if a.content is not None and b.content is not None and a.content != b.content:
                at = first_difference(a.content, b.content)
                size = (
                    f"{len(a.content)} bytes"
                    if len(a.content) == len(b.content)
                    else f"{len(a.content)} → {len(b.content)} bytes"
                )
                what += f", {size} decoded, first difference at byte {at}"
                excerpts.append(
                    f"{label} at byte {at}: {_excerpt(a.content, at)} → {_excerpt(b.content, at)}"
                )
            elif a.head != b.head:
                what += ", dictionary"
            problems.append(f"{label} ({what})")
    return problems


def _excerpt(data: bytes, at: int) -> str:
    """A few bytes around a position, as text when they are printable."""
    piece = data[max(0, at - EXCERPT) : at + EXCERPT]
    if all(32 <= c < 127 or c in b"\n\r\t" for c in piece):
        return repr(piece.decode("ascii"))
    return piece.hex(" ")


def _stream_encoding_differs(old: _Document, new: _Document) -> bool:
    """True if some stream is stored differently although it decodes to the same bytes."""
    for key, a in old.objects.items():
        b = new.objects.get(key)
        if (
            b is not None
            and a.raw_equal_key != b.raw_equal_key
            and a.decoded is not None
            and a.decoded == b.decoded
        ):
            return True
    return False

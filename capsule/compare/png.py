"""PNG images: differing pixels, their largest channel delta and bounding box, a difference image.

With identical pixels, the differing chunks are named: text chunks by key ("tEXt Software"),
tIME, eXIf, and "encoding only (...)" for compression, filter, IDAT split, palette or colour
type changes that decode to the same pixels. Those are "metadata-only"; any other chunk that
differs (pHYs, gAMA, iCCP, ... which change how the image is shown) is "differs".
Only the first frame of an animated PNG is compared.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops, ImageMath

from capsule.compare import binary
from capsule.compare._shared import differ, error_text, fallback, plural, safe_name, short
from capsule.compare.model import Comparison, Tolerance, Verdict

NAME = "png"
SIGNATURE = b"\x89PNG\r\n\x1a\n"
ENCODING_ONLY = "encoding only"
TIME_CHUNK = "tIME"
EXIF_CHUNK = "eXIf"
DIFF_SUFFIX = ".diff.png"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_ENCODING_CHUNKS = (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND")
_EIGHT_BIT = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX"})
_RED, _ORANGE = (230, 0, 0), (255, 160, 0)


@dataclass(frozen=True)
class _PixelDifference:
    """How the pixels of two same-size images differ."""

    differing: int  # pixels with any channel different
    beyond: int  # pixels with a channel delta above the tolerance's atol
    max_delta: float
    box: tuple[int, int, int, int] | None  # left, top, right, bottom (exclusive)
    any_mask: Image.Image  # "L", 255 where any channel differs
    beyond_mask: Image.Image  # "L", 255 where a delta exceeds atol


def compare(
    expected: Path,
    actual: Path,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Pixels first, then chunks; a file Pillow cannot decode falls back to binary."""
    data: list[bytes] = []
    images: list[Image.Image] = []
    for label, file in (("expected", expected), ("actual", actual)):
        try:
            data.append(file.read_bytes())
            images.append(_decode(data[-1]))
        except Exception as exc:  # Pillow raises many types for a broken file
            return fallback(
                f"{label} is not a readable PNG ({error_text(exc)})",
                binary.compare,
                expected,
                actual,
                path=path,
                tolerance=tolerance,
                artifacts_dir=artifacts_dir,
            )
    return _guarded(data[0], data[1], images[0], images[1], path, tolerance, artifacts_dir)


def compare_bytes(
    expected: bytes,
    actual: bytes,
    *,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None = None,
) -> Comparison:
    """Compare two PNGs held in memory (e.g. notebook outputs); never raises."""
    if expected == actual:
        return _result(path, "identical", "identical bytes")
    try:
        old = _decode(expected)
    except Exception as exc:
        return _result(path, "differs", f"expected is not a readable PNG ({error_text(exc)})")
    try:
        new = _decode(actual)
    except Exception as exc:
        return _result(path, "differs", f"actual is not a readable PNG ({error_text(exc)})")
    return _guarded(expected, actual, old, new, path, tolerance, artifacts_dir)


def _guarded(
    expected: bytes,
    actual: bytes,
    old: Image.Image,
    new: Image.Image,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """_explain, turning an unexpected failure (e.g. out of memory) into a reason."""
    try:
        return _explain(expected, actual, old, new, path, tolerance, artifacts_dir)
    except Exception as exc:
        return _result(path, "differs", f"pixels could not be compared ({error_text(exc)})")


def _explain(
    expected: bytes,
    actual: bytes,
    old: Image.Image,
    new: Image.Image,
    path: str,
    tolerance: Tolerance,
    artifacts_dir: Path | None,
) -> Comparison:
    """Explain two decoded images whose bytes differ."""
    frames = (getattr(old, "n_frames", 1), getattr(new, "n_frames", 1))
    if old.size != new.size:
        return _result(path, "differs", f"image size {_size(old)} → {_size(new)}")
    if frames[0] != frames[1]:
        return _result(path, "differs", f"frames {frames[0]} → {frames[1]}")
    pixels = _pixel_difference(old, new, tolerance.atol)
    if isinstance(pixels, str):
        return _result(path, "differs", pixels)
    if pixels is None:
        details: list[str] = []
        volatile, other = _chunk_differences(expected, actual, details)
        if other or not volatile:
            named = differ(other or ("bytes outside the chunks read",))
            return _result(
                path,
                "differs",
                f"same pixels, but {named}"
                + (f" (also {', '.join(volatile)})" if volatile else ""),
                details=details,
                volatile=volatile,
            )
        return _result(
            path,
            "metadata-only",
            f"same pixels; only {differ(volatile)}",
            details=details,
            volatile=volatile,
        )
    total = old.size[0] * old.size[1]
    reason = (
        f"{pixels.differing} of {plural(total, 'pixel')} differ "
        f"(max channel delta {pixels.max_delta:g})"
    )
    if pixels.box:
        left, top, right, bottom = pixels.box
        reason += f" in x {left}..{right - 1}, y {top}..{bottom - 1}"
    details = [f"mode {old.mode} → {new.mode}, size {_size(old)}"]
    artifacts: tuple[str, ...] = ()
    if artifacts_dir is not None:
        try:
            artifacts = (str(_write_difference_image(old, pixels, path, artifacts_dir)),)
            name = Path(artifacts[0]).name
            details.append(f"difference image: {name} (red: beyond atol, orange: within)")
        except Exception as exc:
            details.append(f"difference image not written: {error_text(exc)}")
    if not tolerance.exact:
        budget = f"atol {tolerance.atol:g}, {plural(tolerance.pixels, 'pixel')} allowed"
        if pixels.beyond <= tolerance.pixels:
            return _result(
                path,
                "within-tolerance",
                f"{reason}; within tolerance ({budget})",
                details=details,
                artifacts=artifacts,
            )
        reason += f"; {pixels.beyond} beyond tolerance ({budget})"
    return _result(path, "differs", reason, details=details, artifacts=artifacts)


def _decode(data: bytes) -> Image.Image:
    """Open and fully decode a PNG; raises if it is not one or is broken."""
    image = Image.open(io.BytesIO(data), formats=["PNG"])
    image.load()
    return image


def _pixel_difference(
    old: Image.Image, new: Image.Image, atol: float
) -> _PixelDifference | str | None:
    """None if the pixels are equal, a reason if they cannot be compared, else the difference."""
    if old.mode == new.mode and old.tobytes() == new.tobytes():
        return None
    if old.mode in _EIGHT_BIT and new.mode in _EIGHT_BIT:
        bands = ImageChops.difference(old.convert("RGBA"), new.convert("RGBA")).split()
        delta = bands[0]
        for band in bands[1:]:
            delta = ImageChops.lighter(delta, band)
    elif {old.mode, new.mode} <= {"I", "I;16", "I;16B", "I;16L", "F"}:
        mode = "F" if "F" in (old.mode, new.mode) else "I"
        result = ImageMath.lambda_eval(
            lambda x: abs(x["a"] - x["b"]), a=old.convert(mode), b=new.convert(mode)
        )
        assert isinstance(result, Image.Image)  # noqa: S101 (lambda_eval returns an image here)
        delta = result
    else:
        return f"pixel formats differ: {old.mode} → {new.mode}"
    highest = delta.getextrema()[1]
    assert isinstance(highest, int | float)  # noqa: S101 (single band: a number)
    if highest == 0:
        return None
    any_mask = _mask(delta, 0)
    beyond_mask = _mask(delta, atol)
    return _PixelDifference(
        differing=_count(any_mask),
        beyond=_count(beyond_mask),
        max_delta=highest,
        box=any_mask.getbbox(),
        any_mask=any_mask,
        beyond_mask=beyond_mask,
    )


def _mask(delta: Image.Image, threshold: float) -> Image.Image:
    """An "L" mask, 255 where delta exceeds threshold."""
    above = ImageMath.lambda_eval(lambda x: x["d"] > threshold, d=delta)
    assert isinstance(above, Image.Image)  # noqa: S101
    return above.convert("L").point(lambda v: 255 if v else 0)


def _count(mask: Image.Image) -> int:
    """Number of set pixels of an "L" mask."""
    return mask.histogram()[255]


def _write_difference_image(
    old: Image.Image, pixels: _PixelDifference, path: str, artifacts_dir: Path
) -> Path:
    """Differing pixels in red (orange when within atol) over a faded copy of the expected image."""
    base = old.convert("RGBA")
    white = Image.new("RGBA", old.size, (255, 255, 255, 255))
    flat = Image.alpha_composite(white, base).convert("L").convert("RGB")
    faded = Image.blend(flat, Image.new("RGB", old.size, (255, 255, 255)), 0.7)
    marked = Image.composite(Image.new("RGB", old.size, _ORANGE), faded, pixels.any_mask)
    marked = Image.composite(Image.new("RGB", old.size, _RED), marked, pixels.beyond_mask)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    target = artifacts_dir / f"{safe_name(path)}{DIFF_SUFFIX}"
    marked.save(target, format="PNG")
    return target


def _chunks(data: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Split a PNG into (type, data) chunks and the bytes after IEND; ValueError if malformed."""
    if not data.startswith(SIGNATURE):
        raise ValueError("no PNG signature")
    chunks = []
    position = len(SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        if end > len(data):
            raise ValueError(f"chunk {kind!r} runs past the end")
        chunks.append((kind, data[position + 8 : end - 4]))
        position = end
        if kind == b"IEND":
            break
    return chunks, data[position:]


def _chunk_differences(
    expected: bytes, actual: bytes, details: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Name what differs between two PNGs with equal pixels: (volatile, other); add values."""
    try:
        (old, old_tail), (new, new_tail) = _chunks(expected), _chunks(actual)
    except ValueError as exc:
        return (), (f"chunks ({exc})",)
    volatile: list[str] = []
    other: list[str] = []
    old_texts, new_texts = _texts(old), _texts(new)
    for key in sorted(old_texts.keys() | new_texts.keys()):
        before, after = old_texts.get(key, []), new_texts.get(key, [])
        if before != after:
            kinds = {k for k, _ in before} | {k for k, _ in after}
            name = f"{'/'.join(sorted(kinds))} {key}"
            volatile.append(name)
            shown = (", ".join(_text_value(*item) for item in v) or "-" for v in (before, after))
            details.append(f"{name}: {' → '.join(shown)}")
    for kind, name in ((b"tIME", TIME_CHUNK), (b"eXIf", EXIF_CHUNK)):
        if _of(old, kind) != _of(new, kind):
            volatile.append(name)
    encoding = []
    if _of(old, b"IHDR") != _of(new, b"IHDR"):
        encoding.append("header: colour type, bit depth or interlace")
    if (_of(old, b"PLTE"), _of(old, b"tRNS")) != (_of(new, b"PLTE"), _of(new, b"tRNS")):
        encoding.append("palette")
    if b"".join(_of(old, b"IDAT")) != b"".join(_of(new, b"IDAT")):
        encoding.append(_compression(old, new))
    known = (*_TEXT_CHUNKS, b"tIME", b"eXIf", *_ENCODING_CHUNKS)
    for kind in sorted({k for k, _ in old + new} - set(known)):
        if _of(old, kind) != _of(new, kind):
            other.append(f"{kind.decode('latin-1')} chunk")
    # Chunk order or IDAT split; a text chunk added or removed is named already.
    metadata = {*_TEXT_CHUNKS, b"tIME", b"eXIf"}
    if [k for k, _ in old if k not in metadata] != [k for k, _ in new if k not in metadata] or (
        not volatile and [k for k, _ in old] != [k for k, _ in new]
    ):
        encoding.append("chunk layout")
    if encoding:
        volatile.append(f"{ENCODING_ONLY} ({', '.join(encoding)})")
    if old_tail != new_tail:
        other.append("bytes after IEND")
    return tuple(volatile), tuple(other)


def _texts(chunks: list[tuple[bytes, bytes]]) -> dict[str, list[tuple[str, bytes]]]:
    """Text chunks by keyword: [(chunk type, raw value), ...]."""
    found: dict[str, list[tuple[str, bytes]]] = {}
    for kind, data in chunks:
        if kind in _TEXT_CHUNKS:
            key, _, value = data.partition(b"\0")
            found.setdefault(key.decode("latin-1"), []).append((kind.decode("latin-1"), value))
    return found


def _text_value(kind: str, raw: bytes) -> str:
    """The readable value of a text chunk: tEXt and uncompressed iTXt, else its size."""
    if kind == "tEXt":
        return short(raw.decode("latin-1"))
    if kind == "iTXt" and raw[:2] == b"\0\0":  # not compressed
        return short(raw[2:].split(b"\0", 2)[-1].decode("utf-8", "replace"))
    return f"({len(raw)} bytes compressed)"


def _of(chunks: list[tuple[bytes, bytes]], kind: bytes) -> list[bytes]:
    """The data of every chunk of one type, in order."""
    return [data for k, data in chunks if k == kind]


def _compression(old: list[tuple[bytes, bytes]], new: list[tuple[bytes, bytes]]) -> str:
    """Say whether the image data differs in compression only, or in filters too."""
    try:
        same = zlib.decompress(b"".join(_of(old, b"IDAT"))) == zlib.decompress(
            b"".join(_of(new, b"IDAT"))
        )
    except zlib.error:
        return "compressed data"
    return "compression level" if same else "compression and filters"


def _size(image: Image.Image) -> str:
    """Width x height."""
    return f"{image.size[0]}x{image.size[1]}"


def _result(
    path: str,
    verdict: Verdict,
    reason: str,
    *,
    details: list[str] | tuple[str, ...] = (),
    volatile: tuple[str, ...] = (),
    artifacts: tuple[str, ...] = (),
) -> Comparison:
    """Build the Comparison of this comparator."""
    return Comparison(
        path=path,
        verdict=verdict,
        reason=reason,
        details=tuple(details),
        volatile=volatile,
        artifacts=artifacts,
        comparator=NAME,
    )

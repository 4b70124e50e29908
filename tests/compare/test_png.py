"""The PNG comparator: pixels decide; chunks that cannot change pixels are named."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, PngImagePlugin

from capsule.compare import Comparison, Tolerance, compare, png

EXACT = Tolerance()


def picture(mode: str = "RGB") -> Image.Image:
    """A small drawing: a grey frame and a blue diagonal on white, 40x40."""
    image = Image.new("RGB", (40, 40), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((2, 2, 37, 37), outline=(90, 90, 90))
    draw.line((4, 35, 35, 4), fill=(31, 119, 180), width=2)
    return image.convert(mode)


def save(image: Image.Image, file: Path, **options: object) -> Path:
    """Save as PNG with Pillow's options (pnginfo, compress_level, dpi, ...)."""
    image.save(file, format="PNG", **options)
    return file


def info(**texts: str) -> PngImagePlugin.PngInfo:
    """tEXt chunks."""
    chunks = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        chunks.add_text(key.replace("_", " "), value)
    return chunks


def explain(
    old: Path, new: Path, tolerance: Tolerance = EXACT, artifacts: Path | None = None
) -> Comparison:
    """Run the PNG comparator itself."""
    return png.compare(
        old, new, path="figs/fig 1.png", tolerance=tolerance, artifacts_dir=artifacts
    )


# ── pixels ────────────────────────────────────────────────────────────────────────────────


def test_a_few_pixels_differ_with_a_difference_image(tmp_path: Path) -> None:
    changed = picture()
    for xy in ((10, 20), (11, 20), (12, 22)):
        changed.putpixel(xy, (255, 0, 255))
    old, new = save(picture(), tmp_path / "a.png"), save(changed, tmp_path / "b.png")
    result = explain(old, new, artifacts=tmp_path / "art")
    assert result.verdict == "differs"
    assert result.reason == "3 of 1600 pixels differ (max channel delta 255) in x 10..12, y 20..22"
    diff_image = tmp_path / "art" / "figs__fig_1.png.diff.png"
    assert result.artifacts == (str(diff_image),)
    with Image.open(diff_image) as written:
        assert written.size == (40, 40)
        assert written.getpixel((12, 22)) == (230, 0, 0)  # differing: red
        elsewhere = written.getpixel((30, 30))
        assert isinstance(elsewhere, tuple)
        assert elsewhere[0] > 200  # faded, light
        assert elsewhere != (230, 0, 0)


def test_matplotlib_figures_of_different_data_differ(figure_runs: tuple[Path, Path]) -> None:
    run = figure_runs[0]
    result = compare(run / "fig.png", run / "changed.png", path="fig.png")
    assert result.verdict == "differs"
    count = int(result.reason.split(" of ")[0])
    assert 50 < count < 10000
    assert "of 10000 pixels differ (max channel delta" in result.reason


def test_pixel_budget_allows_a_few_pixels(tmp_path: Path) -> None:
    changed = picture()
    for x in (5, 6, 7):
        changed.putpixel((x, 20), (0, 0, 0))
    old, new = save(picture(), tmp_path / "a.png"), save(changed, tmp_path / "b.png")
    within = explain(old, new, Tolerance(pixels=3))
    assert within.verdict == "within-tolerance"
    assert within.reason.endswith("; within tolerance (atol 0, 3 pixels allowed)")
    beyond = explain(old, new, Tolerance(pixels=2))
    assert beyond.verdict == "differs"
    assert beyond.reason.endswith("; 3 beyond tolerance (atol 0, 2 pixels allowed)")


def test_channel_tolerance_ignores_small_deltas(tmp_path: Path) -> None:
    base = picture()
    shifted = base.point(lambda v: min(v + 2, 255) if v < 250 else v)  # antialiasing drift
    old, new = save(base, tmp_path / "a.png"), save(shifted, tmp_path / "b.png")
    exact = explain(old, new)
    assert exact.verdict == "differs"
    assert "(max channel delta 2)" in exact.reason
    assert explain(old, new, Tolerance(atol=2)).verdict == "within-tolerance"
    assert explain(old, new, Tolerance(atol=1)).verdict == "differs"


def test_different_sizes_differ(tmp_path: Path) -> None:
    old = save(picture(), tmp_path / "a.png")
    new = save(picture().resize((41, 40)), tmp_path / "b.png")
    result = explain(old, new, Tolerance(pixels=10_000))
    assert result.verdict == "differs"
    assert result.reason == "image size 40x40 → 41x40"


def test_sixteen_bit_pixels_are_compared_exactly(tmp_path: Path) -> None:
    old_image = Image.new("I;16", (8, 8), 1000)
    new_image = old_image.copy()
    new_image.putpixel((3, 4), 1001)
    result = explain(save(old_image, tmp_path / "a.png"), save(new_image, tmp_path / "b.png"))
    assert result.verdict == "differs"
    assert result.reason == "1 of 64 pixels differ (max channel delta 1) in x 3..3, y 4..4"


def test_incomparable_pixel_formats_differ(tmp_path: Path) -> None:
    old = save(Image.new("I;16", (8, 8), 1000), tmp_path / "a.png")
    new = save(Image.new("RGB", (8, 8), "white"), tmp_path / "b.png")
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason == "pixel formats differ: I;16 → RGB"


# ── same pixels, other bytes ──────────────────────────────────────────────────────────────


def test_matplotlib_software_text_is_metadata_only(figure_runs: tuple[Path, Path]) -> None:
    one, two = (run / "fig.png" for run in figure_runs)
    result = compare(one, two, path="fig.png")
    assert result.verdict == "metadata-only"
    assert result.volatile == ("tEXt Software",)
    assert result.reason == "same pixels; only tEXt Software differs"
    assert result.details[0].startswith("tEXt Software: 'run at 2020-01-01")


def test_text_and_time_chunks_are_named(tmp_path: Path) -> None:
    old_info = info(Software="a", Creation_Time="2020-01-01")
    old_info.add(b"tIME", struct.pack(">HBBBBB", 2020, 1, 1, 0, 0, 0))
    new_info = info(Software="a", Creation_Time="2024-02-29")
    new_info.add(b"tIME", struct.pack(">HBBBBB", 2024, 2, 29, 23, 59, 59))
    new_info.add_itxt("Comment", "run 2", lang="en")
    old = save(picture(), tmp_path / "a.png", pnginfo=old_info)
    new = save(picture(), tmp_path / "b.png", pnginfo=new_info)
    result = explain(old, new, artifacts=tmp_path / "art")
    assert result.verdict == "metadata-only"
    assert result.volatile == ("iTXt Comment", "tEXt Creation Time", png.TIME_CHUNK)
    assert "tEXt Creation Time: '2020-01-01' → '2024-02-29'" in result.details
    assert result.artifacts == ()  # nothing to draw when the pixels are the same


def test_compression_level_is_encoding_only(tmp_path: Path) -> None:
    old = save(picture(), tmp_path / "a.png", compress_level=1)
    new = save(picture(), tmp_path / "b.png", compress_level=9)
    assert old.read_bytes() != new.read_bytes()
    result = explain(old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile == ("encoding only (compression level)",)


def test_colour_type_with_same_pixels_is_encoding_only(tmp_path: Path) -> None:
    old = save(picture("RGB"), tmp_path / "a.png")
    new = save(picture("RGBA"), tmp_path / "b.png")  # opaque alpha: same pixels
    result = explain(old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile[0].startswith("encoding only (header: colour type")


def split_idat(data: bytes) -> bytes:
    """The same PNG with its image data split over two IDAT chunks, as some encoders write."""
    out, position = bytearray(data[:8]), 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        parts = [body[: length // 2], body[length // 2 :]] if kind == b"IDAT" else [body]
        for part in parts:
            crc = zlib.crc32(kind + part)
            out += struct.pack(">I", len(part)) + kind + part + struct.pack(">I", crc)
        position += 12 + length
    return bytes(out)


def test_split_image_data_is_encoding_only(tmp_path: Path) -> None:
    old = save(picture(), tmp_path / "a.png")
    new = tmp_path / "b.png"
    new.write_bytes(split_idat(old.read_bytes()))
    result = explain(old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile == ("encoding only (chunk layout)",)


def test_resolution_chunk_is_not_volatile(tmp_path: Path) -> None:
    old = save(picture(), tmp_path / "a.png", dpi=(72, 72))
    new = save(picture(), tmp_path / "b.png", dpi=(300, 300))
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason == "same pixels, but pHYs chunk differs"


def test_bytes_after_iend_are_not_volatile(tmp_path: Path) -> None:
    old = save(picture(), tmp_path / "a.png")
    new = tmp_path / "b.png"
    new.write_bytes(old.read_bytes() + b"hidden payload")
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason == "same pixels, but bytes after IEND differs"


# ── broken files fall back to binary ──────────────────────────────────────────────────────


def test_truncated_png_falls_back_to_binary(tmp_path: Path) -> None:
    old = save(picture(), tmp_path / "a.png")
    new = tmp_path / "b.png"
    new.write_bytes(old.read_bytes()[:200])
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not a readable PNG (")
    assert "first difference at byte 200" in result.reason
    assert result.comparator == "binary"


def test_a_jpeg_named_png_is_not_decoded_as_an_image(tmp_path: Path) -> None:
    old = save(picture(), tmp_path / "a.png")
    new = tmp_path / "b.png"
    picture().save(new, format="JPEG")
    result = explain(old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not a readable PNG (")


def test_corrupt_image_data_falls_back_to_binary(tmp_path: Path) -> None:
    data = bytearray(save(picture(), tmp_path / "a.png").read_bytes())
    start = data.index(b"IDAT") + 4
    data[start : start + 40] = zlib.compress(b"nonsense")[:40].ljust(40, b"\0")
    broken = tmp_path / "b.png"
    broken.write_bytes(bytes(data))
    result = explain(tmp_path / "a.png", broken)
    assert result.verdict == "differs"
    assert result.comparator == "binary"


def test_in_memory_comparison_never_raises() -> None:
    result = png.compare_bytes(b"not a png", b"\x89PNG\r\n\x1a\n", path="x", tolerance=EXACT)
    assert result.verdict == "differs"
    assert result.reason.startswith("expected is not a readable PNG")
    result = png.compare_bytes(b"\x89PNG\r\n\x1a\n", b"", path="x", tolerance=EXACT)
    assert result.reason.startswith("expected is not a readable PNG")

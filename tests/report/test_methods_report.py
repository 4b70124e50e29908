"""report.html: rendered from a capsule alone, self-contained, escaped, deterministic, and
checked in headless Chromium (screenshots at two widths go to test-artifacts/)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from capsule import manifest, verify
from capsule.build import BuildOptions, build
from capsule.hashing import sha256_bytes
from capsule.report import methods_report as report
from capsule.report import methods_text as methods

from conftest import REPO, MakeProject, run_chromium

ARTIFACTS = REPO / "test-artifacts"
# Chromium's own background services (time, updates, accounts); the page names none of these.
BROWSER_SERVICES = re.compile(
    r"https?://([a-z0-9.-]+\.)?(google\.com|googleapis\.com|gstatic\.com)/"
)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'

# A stdlib-only analysis: a real PNG written by hand (zlib + struct), an SVG, a CSV with a
# hostile cell, and a log line with the same hostile text. No third-party import, so the
# build pins nothing and fetches no wheel.
PLOT = (
    """
import pathlib, struct, zlib

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def png(width, height):
    rows = b"".join(
        b"\\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))

rows = pathlib.Path("data/values.csv").read_text().splitlines()
out = pathlib.Path("figures")
out.mkdir(exist_ok=True)
(out / "gradient.png").write_bytes(png(64, 40))
(out / "shape.svg").write_text(
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80" viewBox="0 0 120 80">'
    '<rect width="120" height="80" fill="#2f5fb3"/></svg>'
)
pathlib.Path("tables").mkdir(exist_ok=True)
pathlib.Path("tables/summary.csv").write_text(
    "name,value\\n" + "\\n".join(rows[1:]) + "\\n"
)
"""
    + f"print({HOSTILE!r})\n"
)

CAPSULE_TOML = """
[analysis]
title = "Gradient study <b>bold</b>"
authors = ["Ada Lovelace", "Grace Hopper"]

[files]
data = ["data/**"]
outputs = ["figures/**", "tables/**"]

[[steps]]
name = "plot"
script = "plot.py"
"""


@pytest.fixture
def small_capsule(make_project: MakeProject, tmp_path: Path) -> Path:
    """A capsule of a stdlib-only analysis, copied where no analysis is around it."""
    rows = "name,value\n" + "".join(f"row{i},{i * 1.5}\n" for i in range(30))
    rows += f"{HOSTILE},1\n"
    source = make_project({"plot.py": PLOT, "capsule.toml": CAPSULE_TOML, "data/values.csv": rows})
    built = tmp_path / "out" / "gradient.capsule"
    build(BuildOptions(source=source, output=built))
    alone = tmp_path / "elsewhere" / "gradient.capsule"
    shutil.copytree(built, alone, symlinks=True)
    shutil.rmtree(source)
    shutil.rmtree(built.parent)
    return alone


def _data_uris(html: str) -> list[tuple[str, bytes]]:
    """(mime type, decoded bytes) of every data: URI in an src attribute."""
    found = re.findall(r'src="data:([a-z+/]+);base64,([A-Za-z0-9+/=]+)"', html)
    return [(mime, base64.b64decode(data)) for mime, data in found]


def test_renders_from_the_capsule_alone_with_every_png_embedded(small_capsule: Path) -> None:
    html = report.render_report(small_capsule)
    the_manifest = manifest.read(small_capsule)
    embedded = [data for mime, data in _data_uris(html) if mime == "image/png"]
    pngs = [o.path for o in the_manifest.outputs if o.path.endswith(".png")]
    assert pngs
    for path in pngs:
        assert (small_capsule / "expected" / path).read_bytes() in embedded


def test_is_self_contained(small_capsule: Path) -> None:
    html = report.render_report(small_capsule)
    assert "<script" not in html.lower()
    for attribute in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html):
        assert not attribute.lower().startswith(("http:", "https:", "//")), attribute
    assert "default-src 'none'" in html
    # outside the inline provenance SVG (its xmlns is a name, not a request), no URL at all
    outside = re.sub(r"<svg\b.*?</svg>", "", html, flags=re.DOTALL)
    assert "http://" not in outside and "https://" not in outside


def test_shows_methods_summary_and_sections(small_capsule: Path) -> None:
    html = report.render_report(small_capsule)
    the_manifest = manifest.read(small_capsule)
    capsule_id = sha256_bytes((small_capsule / manifest.MANIFEST_FILE).read_bytes())
    text = methods.methods_text(the_manifest, capsule_id)
    from markupsafe import escape

    for paragraph in text.paragraphs:
        assert str(escape(paragraph)) in html
    assert capsule_id in html
    assert "Ada Lovelace, Grace Hopper" in html
    assert f"capsule verify {the_manifest.name}.capsule" in html
    for entry in the_manifest.files:
        if entry.role == "data":
            assert entry.sha256 in html
    assert "tables/summary.csv" in html and "<td>row19</td>" in html
    assert "<td>row25</td>" not in html  # only the first rows of a table
    assert "Not verified yet" in html


def test_hostile_text_is_escaped(small_capsule: Path) -> None:
    html = report.render_report(small_capsule)
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(" in html  # from the CSV preview and the step log
    assert "Gradient study &lt;b&gt;bold&lt;/b&gt;" in html


def test_svg_outputs_are_embedded_as_images(small_capsule: Path) -> None:
    html = report.render_report(small_capsule)
    svgs = [data for mime, data in _data_uris(html) if mime == "image/svg+xml"]
    expected = (small_capsule / "expected" / "figures" / "shape.svg").read_bytes()
    assert expected in svgs


def test_same_capsule_same_bytes(small_capsule: Path, tmp_path: Path) -> None:
    first = report.render_report(small_capsule)
    copy = tmp_path / "again" / "other-name.capsule"
    shutil.copytree(small_capsule, copy)
    assert report.render_report(copy) == first


def test_verification_json_beside_the_capsule_is_shown(small_capsule: Path) -> None:
    capsule_id = sha256_bytes((small_capsule / manifest.MANIFEST_FILE).read_bytes())
    folder = small_capsule.parent / "gradient.verification"
    folder.mkdir()
    record = {
        "capsule_id": capsule_id,
        "capsule_version": "0.1.0",
        "outcome": "differs",
        "backend": "local",
        "accept": "identical",
        "image": "/usr/bin/python3",
        "finished_at": "2025-03-01T12:00:00+00:00",
        "outputs": [
            {
                "path": "figures/gradient.png",
                "status": "differs",
                "reason": HOSTILE,
                "accepted": False,
            },
            {"path": "tables/summary.csv", "status": "identical", "reason": "", "accepted": True},
        ],
    }
    (folder / report.VERIFICATION_JSON).write_text(json.dumps(record), encoding="utf-8")
    html = report.render_report(small_capsule)
    assert "Not reproduced: 1 of 2 outputs accepted." in html
    assert "2025-03-01 12:00:00 UTC" in html
    assert HOSTILE not in html
    # a verification of another build is not this capsule's: ignored unless given explicitly
    record["capsule_id"] = "0" * 64
    (folder / report.VERIFICATION_JSON).write_text(json.dumps(record), encoding="utf-8")
    assert "Not reproduced" not in report.render_report(small_capsule)
    explicit = report.render_report(small_capsule, verification=folder)
    assert "it checked another build" in explicit


def test_write_report_defaults_into_the_capsule(small_capsule: Path, tmp_path: Path) -> None:
    written = report.write_report(small_capsule)
    assert written == small_capsule / report.REPORT_HTML
    assert written.read_text(encoding="utf-8") == report.render_report(small_capsule)
    md = report.write_report(small_capsule, tmp_path / "m.md", fmt="md")
    assert md.read_text(encoding="utf-8").strip()


def test_log_tail_keeps_the_last_lines(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text(
        "".join(f"\x1b[1mline {i}\x1b[0m\n" for i in range(40)), encoding="utf-8"
    )
    tail = report.log_tail(tmp_path, "logs/a.log")
    assert tail == tuple(f"line {i}" for i in range(25, 40))
    assert report.log_tail(tmp_path, "../etc/passwd")[0].startswith("(not shown")


def test_verification_file_name_matches_verify() -> None:
    assert report.VERIFICATION_JSON == verify.VERIFICATION_JSON


# ── in a real browser ─────────────────────────────────────────────────────────────────────


def _screenshot(html: Path, width: int, target: Path, tmp_path: Path) -> Image.Image:
    """A screenshot of the page at width CSS pixels, saved at target."""
    run_chromium(
        tmp_path / f"profile-{width}",
        f"--window-size={width},2400",
        f"--screenshot={target}",
        html.as_uri(),
    )
    assert target.is_file(), f"Chromium wrote no screenshot at {width} px"
    return Image.open(target).convert("RGB")


def _assert_not_blank(image: Image.Image) -> None:
    """More than a handful of colours: text, figures and badges were drawn."""
    colours = image.resize((200, 400)).getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_screenshots_at_desktop_and_phone_widths(
    small_capsule: Path, tmp_path: Path, width: int
) -> None:
    html = report.write_report(small_capsule)
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / f"report-{width}.png"
    image = _screenshot(html, width, target, tmp_path)
    assert image.size[0] == width
    _assert_not_blank(image)
    # the layout holds: nothing wider than the viewport makes the page scroll sideways, so the
    # right-most column of the screenshot is page background, not cut-off content
    right = image.crop((width - 2, 0, width, image.size[1])).getcolors(maxcolors=1 << 16)
    assert right is not None and len(right) <= 3


@pytest.mark.browser
def test_prints_to_pdf(small_capsule: Path, tmp_path: Path) -> None:
    html = report.write_report(small_capsule)
    pdf = tmp_path / "report.pdf"
    run_chromium(
        tmp_path / "profile", "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.as_uri()
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 10_000


@pytest.mark.browser
def test_every_image_decodes_and_no_request_leaves(small_capsule: Path, tmp_path: Path) -> None:
    html_path = report.write_report(small_capsule)
    html = html_path.read_text(encoding="utf-8")
    images = _data_uris(html)
    assert images
    for mime, data in images:
        if mime == "image/png":
            with Image.open(io.BytesIO(data)) as decoded:
                decoded.load()
                assert decoded.width > 0 and decoded.height > 0
        else:
            assert mime == "image/svg+xml"
            root = ET.fromstring(data)  # noqa: S314 (our own build's output)
            assert root.tag.endswith("svg")
    # Every network request Chromium makes passes NetworkDelegate::NotifyBeforeURLRequest, which
    # --v=1 logs. A control page that does load a remote image proves the log catches it.
    control = tmp_path / "control.html"
    control.write_text('<img src="http://capsule-control.invalid/x.png">', encoding="utf-8")
    assert "capsule-control.invalid" in " ".join(_requests(control, tmp_path / "c"))
    assert _requests(html_path, tmp_path / "r") == []


def _requests(page: Path, profile: Path) -> list[str]:
    """The http(s) URLs Chromium requested while loading page, without its own services."""
    result = run_chromium(profile, "--enable-logging=stderr", "--v=1", "--dump-dom", page.as_uri())
    assert "<html" in result.stdout.lower()  # the page loaded
    urls = re.findall(r"NotifyBeforeURLRequest: (https?://\S+)", result.stderr)
    return [url for url in urls if not BROWSER_SERVICES.match(url)]

"""The PDF comparator: volatile dates and ids are named, real changes name their objects."""

from __future__ import annotations

import textwrap
import zlib
from pathlib import Path

from capsule.compare import Comparison, Tolerance, compare, pdf

EXACT = Tolerance()


def explain(tmp_path: Path, old: bytes, new: bytes) -> Comparison:
    """Write two PDFs and run the PDF comparator itself (not the SHA-256 front door)."""
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    a.write_bytes(old)
    b.write_bytes(new)
    return pdf.compare(a, b, path="fig.pdf", tolerance=EXACT, artifacts_dir=None)


def pdf_stream(dictionary: bytes, data: bytes) -> bytes:
    """The body of a stream object."""
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def build_pdf(bodies: list[bytes], trailer: bytes) -> bytes:
    """A PDF 1.4 with objects 1..n in order, a classic xref table and the given trailer keys."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d " % (len(bodies) + 1) + trailer + b" >>\n"
    out += b"startxref\n%d\n%%%%EOF\n" % start
    return bytes(out)


def xmp(create: str, document_id: str) -> bytes:
    """An XMP packet with the dates and ids PDF producers write."""
    return textwrap.dedent(
        f"""\
        <?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
        <x:xmpmeta xmlns:x="adobe:ns:meta/">
         <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
          <rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
            xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" xmp:MetadataDate="{create}">
           <xmp:CreateDate>{create}</xmp:CreateDate>
           <xmp:ModifyDate>{create}</xmp:ModifyDate>
           <xmpMM:DocumentID>uuid:{document_id}</xmpMM:DocumentID>
          </rdf:Description>
         </rdf:RDF>
        </x:xmpmeta>
        <?xpacket end="w"?>"""
    ).encode()


def info_first_pdf(
    created: bytes, modified: bytes, ids: bytes, xmp_date: str, uuid: str, text: bytes = b"Hi"
) -> bytes:
    """Info dictionary first, so a date of another length moves every later xref offset."""
    content = zlib.compress(b"BT /F1 12 Tf 20 20 Td (" + text + b") Tj ET")
    return build_pdf(
        [
            b"<< /Producer (hand) /CreationDate " + created + b" /ModDate " + modified + b" >>",
            b"<< /Type /Catalog /Pages 3 0 R /Metadata 4 0 R >>",
            b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
            pdf_stream(b"/Type /Metadata /Subtype /XML", xmp(xmp_date, uuid)),
            b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 100 100] /Contents 6 0 R >>",
            pdf_stream(b"/Filter /FlateDecode", content),
        ],
        b"/Root 2 0 R /Info 1 0 R /ID " + ids,
    )


def object_stream_pdf(created: bytes, ids: bytes, level: int = 6) -> bytes:
    """A PDF 1.5 whose Info dictionary sits in a compressed object stream, with an xref stream."""
    inner = {
        1: b"<< /Producer (hand) /CreationDate " + created + b" >>",
        2: b"<< /Type /Catalog /Pages 3 0 R >>",
        3: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        4: b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 100 100] >>",
    }
    header, objects = b"", b""
    for number, body in inner.items():
        header += b"%d %d " % (number, len(objects))
        objects += body + b"\n"
    compressed = zlib.compress(header + objects, level)
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    objstm_offset = len(out)
    out += b"5 0 obj\n" + pdf_stream(
        b"/Type /ObjStm /N 4 /First %d /Filter /FlateDecode" % len(header), compressed
    )
    out += b"\nendobj\n"
    xref_offset = len(out)
    rows = [b"\x00" + (0).to_bytes(4) + b"\xff\xff"]  # object 0
    rows += [b"\x02" + (5).to_bytes(4) + index.to_bytes(2) for index in range(4)]
    rows += [b"\x01" + objstm_offset.to_bytes(4) + b"\x00\x00"]  # object 5
    rows += [b"\x01" + xref_offset.to_bytes(4) + b"\x00\x00"]  # object 6, this stream
    out += b"6 0 obj\n" + pdf_stream(
        b"/Type /XRef /Size 7 /W [1 4 2] /Root 2 0 R /Info 1 0 R /ID "
        + ids
        + b" /Filter /FlateDecode",
        zlib.compress(b"".join(rows)),
    )
    out += b"\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(out)


# ── matplotlib, two runs ──────────────────────────────────────────────────────────────────


def test_source_date_epoch_runs_differ_only_in_creation_date(
    figure_runs: tuple[Path, Path],
) -> None:
    one, two = figure_runs
    assert (one / "fig.pdf").read_bytes() != (two / "fig.pdf").read_bytes()
    result = compare(one / "fig.pdf", two / "fig.pdf", path="fig.pdf")
    assert result.verdict == "metadata-only"
    assert result.volatile == (pdf.CREATION_DATE,)
    assert result.reason == "same content; only PDF CreationDate differs"
    assert "PDF CreationDate: D:20010909014640Z → D:20231114221320Z" in result.details
    assert result.comparator == "pdf"


def test_creation_dates_of_different_lengths_move_offsets_and_still_match(
    figure_runs: tuple[Path, Path],
) -> None:
    one, two = (run / "fig-dated.pdf" for run in figure_runs)
    assert one.stat().st_size != two.stat().st_size  # the startxref offset moved
    result = compare(one, two, path="fig-dated.pdf")
    assert result.verdict == "metadata-only"
    assert result.volatile == (pdf.CREATION_DATE,)
    assert any("D:20200101000000Z" in line for line in result.details)


def test_a_changed_plot_names_the_content_stream(figure_runs: tuple[Path, Path]) -> None:
    one, _ = figure_runs
    result = compare(one / "fig.pdf", one / "changed.pdf", path="fig.pdf")
    assert result.verdict == "differs"
    assert "objects differ" in result.reason
    assert "bytes decoded" in result.reason  # a Flate stream was decoded and compared
    assert result.volatile == ()  # same run: same date


def test_a_changed_plot_in_another_run_also_names_the_date(
    figure_runs: tuple[Path, Path],
) -> None:
    one, two = figure_runs
    result = compare(one / "fig.pdf", two / "changed.pdf", path="fig.pdf")
    assert result.verdict == "differs"
    assert result.volatile == (pdf.CREATION_DATE,)
    assert "also PDF CreationDate" in result.reason


def test_truncated_pdf_differs_and_says_so(figure_runs: tuple[Path, Path], tmp_path: Path) -> None:
    whole = (figure_runs[0] / "fig.pdf").read_bytes()
    result = explain(tmp_path, whole, whole[: len(whole) // 2])
    assert result.verdict == "differs"
    assert result.reason.startswith("actual has no %%EOF at the end: truncated?")
    assert "only in expected" in " ".join(result.details)


def test_not_a_pdf_falls_back_to_binary(tmp_path: Path) -> None:
    result = explain(tmp_path, b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\n", b"GIF89a not a pdf")
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not a readable PDF (ValueError: no %PDF- header)")
    assert result.comparator == "binary"


# ── hand-made layouts: Info first, XMP, hex dates, object streams ─────────────────────────


def test_info_first_with_xmp_and_ids_is_metadata_only(tmp_path: Path) -> None:
    old = info_first_pdf(
        b"(D:20200101000000Z)",
        b"<443A32303230303130313030303030305A>",  # hex string: D:20200101000000Z
        b"[<00112233445566778899aabbccddeeff> <00112233445566778899aabbccddeeff>]",
        "2020-01-01T00:00:00Z",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
    )
    new = info_first_pdf(
        b"(D:20240229235959+01'00')",  # longer: every later offset moves
        b"<FEFF0044003A0032003000320034>",  # UTF-16 hex
        b"[<ffeeddccbbaa99887766554433221100> <ffeeddccbbaa99887766554433221100>]",
        "2024-02-29T23:59:59.123+01:00",  # longer XMP: the stream /Length changes too
        "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    )
    assert old.split(b"xref")[1] != new.split(b"xref")[1]  # the xref offsets really differ
    result = explain(tmp_path, old, new)
    assert result.verdict == "metadata-only", result.reason
    assert set(result.volatile) == {
        pdf.CREATION_DATE,
        pdf.MOD_DATE,
        pdf.DOCUMENT_ID,
        "XMP CreateDate",
        "XMP ModifyDate",
        "XMP MetadataDate",
        "XMP DocumentID",
    }


def test_a_changed_text_next_to_changed_dates_differs(tmp_path: Path) -> None:
    ids = b"[<00> <00>]"
    old = info_first_pdf(b"(D:2020)", b"(D:2020)", ids, "2020", "a", text=b"accuracy 0.8123")
    new = info_first_pdf(b"(D:2024)", b"(D:2020)", ids, "2020", "a", text=b"accuracy 0.8125")
    result = explain(tmp_path, old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("1 of 6 objects differs: object 6 0 (stream, 45 bytes decoded")
    assert "(accuracy 0.8123) Tj ET' → ' (accuracy 0.8125)" in result.details[-1]
    assert result.volatile == (pdf.CREATION_DATE,)


def test_a_changed_producer_is_not_volatile(tmp_path: Path) -> None:
    ids = b"[<00> <00>]"
    old = info_first_pdf(b"(D:2020)", b"(D:2020)", ids, "2020", "a")
    new = old.replace(b"/Producer (hand)", b"/Producer (HAND)")
    result = explain(tmp_path, old, new)
    assert result.verdict == "differs"
    assert result.reason == "1 of 6 objects differs: object 1 0 (Info, dictionary)"


def test_info_in_a_compressed_object_stream_is_found(tmp_path: Path) -> None:
    old = object_stream_pdf(b"(D:20200101000000Z)", b"[<0011> <0011>]")
    new = object_stream_pdf(b"(D:20240229235959+01'00')", b"[<2233> <2233>]")
    assert b"CreationDate" not in old  # only visible after inflating the object stream
    result = explain(tmp_path, old, new)
    assert result.verdict == "metadata-only", result.reason
    assert result.volatile == (pdf.CREATION_DATE, pdf.DOCUMENT_ID)


def test_recompressed_streams_are_encoding_only(tmp_path: Path) -> None:
    old = object_stream_pdf(b"(D:2020)", b"[<00> <00>]", level=1)
    new = object_stream_pdf(b"(D:2020)", b"[<00> <00>]", level=9)
    assert old != new
    result = explain(tmp_path, old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile == (pdf.STREAM_ENCODING,)


def test_a_changed_page_inside_an_object_stream_differs(tmp_path: Path) -> None:
    old = object_stream_pdf(b"(D:2020)", b"[<00> <00>]")
    new = zlib.decompress(old.split(b"stream\n")[1].split(b"\nendstream")[0])
    assert b"[0 0 100 100]" in new
    changed = old.replace(
        old.split(b"stream\n")[1].split(b"\nendstream")[0],
        zlib.compress(new.replace(b"[0 0 100 100]", b"[0 0 100 200]")),
    )
    result = explain(tmp_path, old, changed)
    assert result.verdict == "differs"
    assert "object 5 0 (ObjStm" in result.reason

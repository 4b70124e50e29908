"""The SVG comparator: matplotlib's dates and random ids are volatile, drawings are not."""

from __future__ import annotations

import re
from pathlib import Path

from capsule.compare import Comparison, Tolerance, compare, svg

IDS = re.compile(r'id="(m[0-9a-f]{10})"')


def explain(tmp_path: Path, old: str | bytes, new: str | bytes) -> Comparison:
    """Write two SVGs and run the SVG comparator itself."""
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    for file, content in ((a, old), (b, new)):
        file.write_bytes(content.encode() if isinstance(content, str) else content)
    return svg.compare(a, b, path="fig.svg", tolerance=Tolerance(), artifacts_dir=None)


def test_two_runs_without_hashsalt_differ_in_date_and_random_ids(
    figure_runs: tuple[Path, Path],
) -> None:
    one, two = ((run / "fig.svg").read_text() for run in figure_runs)
    assert IDS.findall(one) and IDS.findall(one) != IDS.findall(two)  # the ids really differ
    result = compare(figure_runs[0] / "fig.svg", figure_runs[1] / "fig.svg", path="fig.svg")
    assert result.verdict == "metadata-only"
    assert result.volatile == (svg.SVG_DATE, svg.RANDOM_IDS)
    assert result.reason == "same drawing; only SVG date and random ids differ"
    assert result.details[0] == "SVG date: 2001-09-09T01:46:40+00:00 → 2023-11-14T22:13:20+00:00"


def test_a_changed_plot_differs_with_a_diff_of_the_drawing(
    figure_runs: tuple[Path, Path],
) -> None:
    one, two = figure_runs
    result = compare(one / "fig.svg", two / "changed.svg", path="fig.svg")
    assert result.verdict == "differs"
    assert result.reason.startswith("SVG text differs: ")
    assert result.reason.endswith("(after normalising: SVG date and random ids differ too)")
    assert any(line.startswith("-") and "d=" in line for line in result.details)  # a path


def test_references_are_renamed_with_their_ids(tmp_path: Path) -> None:
    template = (
        '<svg xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<clipPath id="p{a}"><rect/></clipPath><path id="m{b}"/>'
        '<g clip-path="url(#p{a})"><use xlink:href="#m{b}"/><use href="#m{b}"/></g></svg>'
    )
    old = template.format(a="0123456789", b="abcdefabcd")
    new = template.format(a="9876543210", b="0a0b0c0d0e")
    assert svg.normalise(old)[0] == svg.normalise(new)[0]
    result = explain(tmp_path, old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile == (svg.RANDOM_IDS,)


def test_swapped_references_are_not_volatile(tmp_path: Path) -> None:
    # Two clip paths used the other way round: same ids, different drawing.
    def drawing(first: str, second: str) -> str:
        return (
            '<svg><clipPath id="p1111111111"/><clipPath id="p2222222222"/>'
            f'<g clip-path="url(#p{first})"/><g clip-path="url(#p{second})"/></svg>'
        )

    result = explain(
        tmp_path, drawing("1111111111", "2222222222"), drawing("2222222222", "1111111111")
    )
    assert result.verdict == "differs"
    assert result.volatile == ()


def test_readable_ids_are_not_renumbered() -> None:
    text, _, ids = svg.normalise('<svg><g id="figure_1"/><path id="DejaVuSans-30"/></svg>')
    assert ids == []
    assert 'id="figure_1"' in text


def test_an_svg_that_is_not_utf8_falls_back_to_binary(tmp_path: Path) -> None:
    result = explain(tmp_path, "<svg/>", b"<svg>\xff\xfe</svg>")
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not UTF-8 SVG text (UnicodeDecodeError")
    assert result.comparator == "binary"


def test_a_truncated_svg_differs(figure_runs: tuple[Path, Path], tmp_path: Path) -> None:
    whole = (figure_runs[0] / "fig.svg").read_text()
    result = explain(tmp_path, whole, whole[: len(whole) // 3])
    assert result.verdict == "differs"
    assert "lines removed" in result.reason

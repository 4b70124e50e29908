"""The provenance graph's layout as numbers: columns, boxes inside the drawing, curves that join
the boxes they connect, labels cut to fit."""

from __future__ import annotations

import dataclasses

from capsule.model import Provenance
from capsule.report import graph_layout
from capsule.report.graph_layout import FILE_W, NAME_PT, PAD, fit_text, layout, text_width
from report.test_graph import big
from report.test_lineage import sample


def test_nothing_to_draw_is_no_layout() -> None:
    manifest = dataclasses.replace(
        sample(), outputs=(), steps=(), provenance=Provenance((), (), ())
    )
    assert layout(manifest) is None


def test_boxes_fit_in_the_drawing_and_are_counted() -> None:
    drawn = layout(big())
    assert drawn is not None
    assert drawn.counts == {"data": 6, "external": 0, "step": 10, "output": 40}
    assert len(drawn.boxes) == 56
    for box in drawn.boxes:
        assert box.x >= 0 and box.x + box.width <= drawn.width
        assert box.y >= 0 and box.y + box.height <= drawn.height


def test_curves_leave_and_enter_the_boxes_they_join() -> None:
    drawn = layout(sample())
    assert drawn is not None
    boxes = {box.key: box for box in drawn.boxes}
    for curve in drawn.curves:
        source, target = (boxes[key] for key in curve.label.split("->"))
        (move, (x0, y0)), (_, last) = curve.commands[0], curve.commands[-1]
        assert move == "M" and x0 == source.x + source.width
        assert source.y <= y0 <= source.y + source.height
        assert last[-2] == target.x
        assert target.y <= last[-1] <= target.y + target.height
        assert {command for command, _ in curve.commands[1:]} <= {"C", "L"}


def test_legend_names_only_the_kinds_drawn() -> None:
    drawn = layout(big())
    assert drawn is not None
    assert [swatch.kind for swatch in drawn.legend] == ["data", "step", "output"]
    assert [swatch.x for swatch in drawn.legend] == sorted(swatch.x for swatch in drawn.legend)


def test_long_names_are_cut_to_the_box() -> None:
    name = "an_extremely_long_file_name_indeed.csv"
    cut = fit_text(name, FILE_W - 2 * PAD, NAME_PT, "middle", bold=True)
    assert "…" in cut and cut.endswith(".csv")
    assert text_width(cut, NAME_PT, bold=True) <= FILE_W - 2 * PAD
    assert fit_text("short.csv", FILE_W, NAME_PT, "end") == "short.csv"
    assert graph_layout.fit_text("x" * 80, 20, NAME_PT, "start").startswith("…")

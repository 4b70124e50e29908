"""The provenance graph of a capsule drawn as one self-contained SVG: data → steps → outputs.

capsule.report.graph_layout decides where everything goes; templates/provgraph.svg.j2 draws it
(no JavaScript, no external layout tool). The same manifest always gives the same bytes.
"""

from __future__ import annotations

import re

from capsule import render
from capsule.model import Manifest
from capsule.report import graph_layout
from capsule.report.graph_layout import Curve
from capsule.wording import plural

TEMPLATE = "provgraph.svg.j2"
NO_PROVENANCE = "no provenance recorded"
GRAPH_LABEL = "Provenance graph: {inputs}, {steps}, {outputs}"
EMPTY_WIDTH, EMPTY_HEIGHT = 320.0, 60.0  # the box that says there is no graph

# XML 1.0 forbids most control characters, even escaped: a path holding one would break parsing.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def graph_svg(manifest: Manifest) -> str:
    """The provenance graph as a self-contained inline SVG: data → steps → outputs."""
    drawing = graph_layout.layout(manifest)
    size: tuple[float, float]
    if drawing is None:
        size, label = (EMPTY_WIDTH, EMPTY_HEIGHT), NO_PROVENANCE
    else:
        size, label = (drawing.width, drawing.height), _label(drawing.counts)
    return render.render(
        TEMPLATE,
        layout=drawing,
        width=size[0],
        height=size[1],
        label=label,
        name_pt=graph_layout.NAME_PT,
        sub_pt=graph_layout.SUB_PT,
        mono_pt=graph_layout.MONO_PT,
        legend_pt=graph_layout.LEGEND_PT,
        num=_num,
        xml=_xml,
        path=_path,
    )


def _label(counts: dict[str, int]) -> str:
    """What the graph shows, for screen readers: "Provenance graph: 3 input files, …"."""
    return GRAPH_LABEL.format(
        inputs=plural(counts["data"] + counts["external"], "input file"),
        steps=plural(counts["step"], "step"),
        outputs=plural(counts["output"], "output"),
    )


def _xml(text: str) -> str:
    """Text XML 1.0 can hold: the characters it forbids even escaped become U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _num(value: float) -> str:
    """A coordinate with one decimal at most: short, and the same on every machine."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _path(curve: Curve) -> str:
    """The d attribute of an edge: "M1,2C3,4 5,6 7,8L9,10"."""
    return "".join(
        command + " ".join(f"{_num(x)},{_num(y)}" for x, y in zip(xy[::2], xy[1::2], strict=True))
        for command, xy in curve.commands
    )

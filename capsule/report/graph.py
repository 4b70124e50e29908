"""The provenance graph of a capsule drawn as one self-contained SVG: data → steps → outputs.

Pure functions over a Manifest (no I/O, no JavaScript, no external layout tool). The rules:

- Nodes: every file of work/ with role "data", every external path a step read, one node per
  step run (its processes collapsed into it, in run order) and every output. A file is drawn
  once: an output that a later step reads is the output of one step and the input of the next.
- Edges: file → step when any activity of the step read the file (a step reading what it wrote
  itself is no edge); step → output when an activity of the step generated it, or when the
  manifest says the step last wrote it.
- Layout (Sugiyama-style): longest-path columns, data in column 0, steps and outputs
  alternating; long edges pass through invisible waypoints; a few barycenter sweeps order each
  column (the order with the fewest crossings wins); vertical positions are least-squares fits
  to the neighbours that keep boxes apart. The same manifest always gives the same bytes.
"""

from __future__ import annotations

import html
import itertools
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from capsule.model import Manifest
from capsule.runner import NOTEBOOK_RUNNER

NO_PROVENANCE = "no provenance recorded"
EXTERNAL_NOTE = "read from outside the analysis: the rerun may not have it"
LEGEND: tuple[tuple[str, str], ...] = (
    ("data", "input data"),
    ("external", "external read"),
    ("step", "step"),
    ("output", "output"),
)

NodeKind = Literal["data", "external", "step", "output", "waypoint"]
_Where = Literal["start", "middle", "end"]

_FILE_W = 206.0  # box widths, by kind
_STEP_W = 224.0
_BOX_H = 40.0
_PAD = 10.0  # inside a box, left and right of the text
_NAME_PT = 12.0  # font sizes
_SUB_PT = 10.0
_MONO_PT = 9.5  # a step's command
_COL_GAP = 72.0  # between columns: room for the edges' curves
_ROW_GAP = 14.0  # between boxes of a column
_WAY_GAP = 10.0  # next to a waypoint of a long edge
_MARGIN = 16.0
_LEGEND_H = 30.0
_SWEEPS = 6  # barycenter sweeps for the order within columns
_FITS = 8  # passes of the vertical placement

_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif'
_MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace'
_STYLE = f"""
.cg-graph{{font-family:{_FONT};}}
.cg-node rect{{stroke-width:1.4;}}
.cg-data rect{{fill:#eaf1fb;stroke:#3b6fb6;}}
.cg-external rect{{fill:#fff5e1;stroke:#c2850c;stroke-dasharray:5 3;}}
.cg-step rect{{fill:#2f3640;stroke:#1e242b;}}
.cg-output rect{{fill:#e8f5ec;stroke:#2e8b57;}}
.cg-name{{font-size:{_NAME_PT:g}px;font-weight:600;fill:#1f2933;}}
.cg-sub{{font-size:{_SUB_PT:g}px;fill:#52606d;}}
.cg-step .cg-name{{fill:#ffffff;}}
.cg-step .cg-sub{{fill:#cbd2d9;font-family:{_MONO};font-size:{_MONO_PT:g}px;}}
.cg-node:hover rect{{stroke-width:2.6;}}
.cg-edge{{fill:none;stroke-width:1.3;}}
.cg-read{{stroke:#7b8ba3;}}
.cg-write{{stroke:#4f9a6a;}}
.cg-ext{{stroke:#c2850c;stroke-dasharray:4 3;}}
.cg-back{{stroke-dasharray:2 3;}}
.cg-legend{{font-size:11px;fill:#52606d;}}
.cg-empty{{font-size:13px;fill:#52606d;}}
@media print{{
.cg-step rect{{fill:#ffffff;stroke:#1f2933;}}
.cg-step .cg-name{{fill:#1f2933;}}
.cg-step .cg-sub{{fill:#52606d;}}
}}
"""
_ARROWS = (("read", "#7b8ba3"), ("write", "#4f9a6a"), ("ext", "#c2850c"))
# XML 1.0 forbids most control characters, even escaped: a path holding one would break parsing.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass
class _Node:
    """A box of the drawing (or a waypoint of a long edge) and, once laid out, where it is."""

    id: str  # "f:<path>", "s:<step>" or "w:<n>": unique across kinds
    key: str  # the path or step name, as data-id and in data-edge
    kind: NodeKind
    layer: int
    title: str = ""
    name: str = ""  # first line
    sub: str = ""  # second, smaller line
    x: float = 0.0  # left
    y: float = 0.0  # centre
    span: float = 0.0  # a waypoint's column width: the edge runs straight across it

    @property
    def width(self) -> float:
        """Width of the box: waypoints are points."""
        return {"step": _STEP_W, "waypoint": 0.0}.get(self.kind, _FILE_W)

    @property
    def height(self) -> float:
        """Height of the box: waypoints are points."""
        return 0.0 if self.kind == "waypoint" else _BOX_H


@dataclass(frozen=True)
class _Edge:
    """A drawn edge: from a file to a step or a step to an output, through its waypoints."""

    label: str  # "src->dst", as data-edge
    path: tuple[str, ...]  # node ids, source first
    css: str  # "read", "write" or "ext"
    back: bool  # goes against the columns (a step read a file a later step rewrote)


def graph_svg(manifest: Manifest) -> str:
    """The provenance graph as a self-contained inline SVG: data → steps → outputs."""
    nodes, edges = _graph(manifest)
    if not any(node.kind in ("step", "output") for node in nodes.values()):
        return _empty_svg()
    layers, edges = _with_waypoints(nodes, edges)
    _order(layers, edges)
    width, height = _place(nodes, layers, edges)
    return _draw(nodes, edges, width, height)


# ── the graph ─────────────────────────────────────────────────────────────────────────────


def _graph(manifest: Manifest) -> tuple[dict[str, _Node], list[_Edge]]:
    """The nodes (with their columns) and edges of a manifest, by the module's rules."""
    provenance = manifest.provenance
    steps = list(dict.fromkeys(run.name for run in manifest.steps))
    runs = {run.name: run for run in manifest.steps}
    step_of = {activity.id: activity.step for activity in provenance.activities}

    def step(activity: str) -> str:
        return step_of.get(activity, activity.split("/")[0])

    outputs = {entry.path for entry in manifest.outputs}
    data = {f.path for f in manifest.files if f.role == "data" and f.path not in outputs}
    producers: dict[str, set[str]] = {path: set() for path in outputs}
    for generation in provenance.generated:
        if generation.entity in outputs and step(generation.activity) in runs:
            producers[generation.entity].add(step(generation.activity))
    for entry in manifest.outputs:
        if entry.step in runs:
            producers[entry.path].add(entry.step)
    external: set[str] = set()
    reads: dict[str, set[str]] = {name: set() for name in steps}
    for usage in provenance.used:
        reader, path = step(usage.activity), usage.entity
        if reader not in runs:
            continue
        if usage.external:
            external.add(path)
        elif not (path in data or (path in outputs and reader not in producers[path])):
            continue  # code, other files, files the capsule lacks, a step's own writes
        reads[reader].add(path)

    # Longest-path columns, steps in run order: a step sits right of everything it read that
    # was already written; its outputs right of the last step that wrote them.
    column: dict[str, int] = dict.fromkeys(sorted(data | external), 0)
    for name in steps:
        column["s:" + name] = 1 + max((column.get(p, -1) for p in reads[name]), default=0)
        for path in sorted(outputs):
            if name in producers[path]:
                column[path] = max(column.get(path, 0), column["s:" + name] + 1)
    for path in outputs:
        column.setdefault(path, 2)  # no step of the capsule wrote it
    used = sorted(set(column.values()))
    compact = {layer: index for index, layer in enumerate(used)}

    nodes: dict[str, _Node] = {}
    for path in sorted(data | external | outputs):
        kind: NodeKind = "output" if path in outputs else "data"
        if path in external and path not in data and path not in outputs:
            kind = "external"
        nodes["f:" + path] = _file_node(path, kind, compact[column[path]])
    for name in steps:
        processes = [a for a in provenance.activities if a.step == name and a.kind == "process"]
        nodes["s:" + name] = _step_node(
            name, runs[name].argv, len(processes), compact[column["s:" + name]]
        )

    edges: list[_Edge] = []
    for name in steps:
        for path in sorted(reads[name]):
            source = nodes["f:" + path]
            css = "ext" if source.kind == "external" else "read"
            edges.append(_edge(source, nodes["s:" + name], css))
    for name in steps:
        for path in sorted(p for p in outputs if name in producers[p]):
            edges.append(_edge(nodes["s:" + name], nodes["f:" + path], "write"))
    return nodes, edges


def _edge(source: _Node, target: _Node, css: str) -> _Edge:
    """A direct edge between two nodes; back when it does not go to a later column."""
    return _Edge(
        f"{source.key}->{target.key}", (source.id, target.id), css, source.layer >= target.layer
    )


def _file_node(path: str, kind: NodeKind, layer: int) -> _Node:
    """A box for a file: its name, its folder below."""
    pure = PurePosixPath(path)
    folder = str(pure.parent) if str(pure.parent) != "." else ""
    role = {"data": "input data", "external": EXTERNAL_NOTE, "output": "output"}[kind]
    return _Node(
        "f:" + path, path, kind, layer, title=f"{path}\n{role}", name=pure.name or path, sub=folder
    )


def _step_node(name: str, argv: tuple[str, ...], processes: int, layer: int) -> _Node:
    """A box for a step: its name, its command below."""
    command = shlex.join(argv)
    title = f"step {name}\n{command}"
    if processes > 1:
        title += f"\n{processes} processes traced"
    return _Node("s:" + name, name, "step", layer, title=title, name=name, sub=_short(argv))


def _short(argv: tuple[str, ...]) -> str:
    """The command of a step as people would type it: a notebook step names its notebook."""
    if len(argv) >= 4 and argv[1:3] == ("-m", NOTEBOOK_RUNNER):
        return shlex.join(("notebook", *argv[3:]))
    return shlex.join(argv)


def _with_waypoints(
    nodes: dict[str, _Node], edges: list[_Edge]
) -> tuple[list[list[str]], list[_Edge]]:
    """The columns' initial orders, and the edges with a waypoint in each column they cross."""
    count = max(node.layer for node in nodes.values()) + 1
    layers: list[list[str]] = [[] for _ in range(count)]
    order = {"data": 0, "external": 1, "step": 0, "output": 0}
    for node in sorted(nodes.values(), key=lambda n: (order.get(n.kind, 0), n.key)):
        if node.kind != "step":
            layers[node.layer].append(node.id)
    for node in nodes.values():  # in run order
        if node.kind == "step":
            layers[node.layer].append(node.id)
    routed: list[_Edge] = []
    for edge in edges:
        source, target = nodes[edge.path[0]], nodes[edge.path[-1]]
        if edge.back:
            routed.append(edge)
            continue
        path = [source.id]
        for layer in range(source.layer + 1, target.layer):
            waypoint = _Node(f"w:{len(nodes)}", "", "waypoint", layer)
            nodes[waypoint.id] = waypoint
            layers[layer].append(waypoint.id)
            path.append(waypoint.id)
        routed.append(_Edge(edge.label, (*path, target.id), edge.css, back=False))
    return layers, routed


# ── order within columns ──────────────────────────────────────────────────────────────────


def _order(layers: list[list[str]], edges: list[_Edge]) -> None:
    """Reorder the columns in place by barycenter sweeps; the order with fewest crossings wins."""
    pred: dict[str, list[str]] = {}
    succ: dict[str, list[str]] = {}
    for a, b in _segments(edges):
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    best = [list(layer) for layer in layers]
    fewest = _crossings(layers, succ)
    for sweep in range(_SWEEPS):
        down = sweep % 2 == 0
        indices = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for index in indices:
            near = layers[index - 1] if down else layers[index + 1]
            layers[index] = _by_barycenter(layers[index], near, pred if down else succ)
        crossings = _crossings(layers, succ)
        if crossings < fewest:
            fewest, best = crossings, [list(layer) for layer in layers]
    layers[:] = best


def _by_barycenter(layer: list[str], near: list[str], links: dict[str, list[str]]) -> list[str]:
    """A column sorted by the mean position of each node's links in the next column.

    A node without links keeps its place; ties keep the current order, so sorting is stable.
    """
    position = {node: i for i, node in enumerate(near)}

    def key(item: tuple[int, str]) -> tuple[float, int]:
        linked = [position[n] for n in links.get(item[1], ()) if n in position]
        return (sum(linked) / len(linked) if linked else float(item[0]), item[0])

    return [node for _, node in sorted(enumerate(layer), key=key)]


def _segments(edges: Iterable[_Edge]) -> list[tuple[str, str]]:
    """The pieces of forward edges between neighbouring columns."""
    return [
        (edge.path[i], edge.path[i + 1])
        for edge in edges
        if not edge.back
        for i in range(len(edge.path) - 1)
    ]


def _crossings(layers: list[list[str]], succ: dict[str, list[str]]) -> int:
    """How many pairs of edge pieces cross between neighbouring columns."""
    total = 0
    for left, right in itertools.pairwise(layers):
        position = {node: i for i, node in enumerate(right)}
        pairs = [(i, position[b]) for i, a in enumerate(left) for b in succ.get(a, ())]
        for k, (a1, b1) in enumerate(pairs):
            total += sum(1 for a2, b2 in pairs[k + 1 :] if (a1 - a2) * (b1 - b2) < 0)
    return total


# ── coordinates ───────────────────────────────────────────────────────────────────────────


def _place(
    nodes: dict[str, _Node], layers: list[list[str]], edges: list[_Edge]
) -> tuple[float, float]:
    """Set every node's x and centre y; the drawing's width and height."""
    x = _MARGIN
    for layer in layers:
        width = max(nodes[n].width for n in layer)
        for n in layer:
            nodes[n].x = x + (width - nodes[n].width) / 2 if nodes[n].width else x
            nodes[n].span = width
        x += width + _COL_GAP
    neighbours: dict[str, list[str]] = {}
    for a, b in _segments(edges):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    for layer in layers:
        _fit(nodes, layer, [nodes[n].y for n in layer], neighbours)  # stacked from 0
    for rounds in range(_FITS):
        sweep = layers if rounds % 2 == 0 else layers[::-1]
        for layer in sweep:
            wanted = []
            for n in layer:
                linked = [nodes[m].y for m in neighbours.get(n, ())]
                wanted.append(sum(linked) / len(linked) if linked else nodes[n].y)
            _fit(nodes, layer, wanted, neighbours)
    top = min(nodes[n].y - nodes[n].height / 2 for layer in layers for n in layer)
    bottom = max(nodes[n].y + nodes[n].height / 2 for layer in layers for n in layer)
    shift = _MARGIN + _LEGEND_H - top
    for node in nodes.values():
        node.y = round(node.y + shift, 1)
    return x - _COL_GAP + _MARGIN, bottom - top + 2 * _MARGIN + _LEGEND_H


def _fit(
    nodes: dict[str, _Node], layer: list[str], wanted: list[float], weights: dict[str, list[str]]
) -> None:
    """Centres closest (least squares) to the wanted ones that keep the column's boxes apart."""
    offsets = [0.0]
    for a, b in itertools.pairwise(layer):
        gap = _ROW_GAP if "waypoint" not in (nodes[a].kind, nodes[b].kind) else _WAY_GAP
        offsets.append(offsets[-1] + (nodes[a].height + nodes[b].height) / 2 + gap)
    # Pool adjacent violators on wanted - offset: a non-decreasing fit keeps every gap.
    blocks: list[tuple[float, float, int]] = []  # mean, weight, size
    for n, want, offset in zip(layer, wanted, offsets, strict=True):
        mean, weight, size = want - offset, float(max(1, len(weights.get(n, ())))), 1
        while blocks and blocks[-1][0] >= mean:
            m, w, s = blocks.pop()
            mean, weight, size = (m * w + mean * weight) / (w + weight), w + weight, s + size
        blocks.append((mean, weight, size))
    index = 0
    for mean, _, size in blocks:
        for _ in range(size):
            nodes[layer[index]].y = mean + offsets[index]
            index += 1


# ── drawing ───────────────────────────────────────────────────────────────────────────────


def _draw(nodes: dict[str, _Node], edges: list[_Edge], width: float, height: float) -> str:
    """The SVG text of a laid-out graph."""
    boxes = [n for n in nodes.values() if n.kind != "waypoint"]
    counts = {kind: sum(1 for n in boxes if n.kind == kind) for kind, _ in LEGEND}
    label = (
        f"Provenance graph: {counts['data'] + counts['external']} input files, "
        f"{counts['step']} steps, {counts['output']} outputs"
    )
    out = [_open_svg(width, height, label)]
    out.append("<defs>")
    for css, colour in _ARROWS:
        out.append(
            f'<marker id="cg-arrow-{css}" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" '
            f'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto">'
            f'<path d="M0,0L8,4L0,8z" fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.extend(_legend(counts))
    ports = _ports(nodes, edges)
    out.append('<g class="cg-edges">')
    for index, edge in enumerate(edges):
        out.append(_edge_svg(nodes, edge, ports[(index, 0)], ports[(index, 1)]))
    out.append("</g>")
    out.append('<g class="cg-nodes">')
    for node in sorted(boxes, key=lambda n: (n.layer, n.y)):
        out.append(_node_svg(node))
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _open_svg(width: float, height: float, label: str) -> str:
    """The opening tag and style of the SVG: it scales to its container, never above 1:1."""
    w, h = _num(width), _num(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cg-graph" viewBox="0 0 {w} {h}" '
        f'width="100%" style="max-width:{w}px;height:auto" role="img" '
        f'aria-label="{_esc(label)}">\n<style>{_STYLE}</style>'
    )


def _empty_svg() -> str:
    """A small SVG that says there is no graph to draw."""
    return (
        _open_svg(320, 60, NO_PROVENANCE)
        + '\n<rect x="0.5" y="0.5" width="319" height="59" rx="6" fill="#f8f9fa" '
        'stroke="#c4cdd5" stroke-dasharray="4 3"/>\n'
        f'<text class="cg-empty" x="160" y="34" text-anchor="middle">{NO_PROVENANCE}</text>\n'
        "</svg>\n"
    )


def _legend(counts: dict[str, int]) -> list[str]:
    """A row of swatches naming the kinds of boxes the graph has."""
    out = ['<g class="cg-legend">']
    x = _MARGIN
    for kind, text in LEGEND:
        if not counts[kind]:
            continue
        out.append(
            f'<g class="cg-{kind}"><rect x="{_num(x)}" y="{_num(_MARGIN)}" width="14" '
            f'height="10" rx="2"/></g>'
            f'<text x="{_num(x + 20)}" y="{_num(_MARGIN + 9)}">{_esc(text)}</text>'
        )
        x += 20 + _text_width(text, 11) + 18
    out.append("</g>")
    return out


def _ports(nodes: dict[str, _Node], edges: list[_Edge]) -> dict[tuple[int, int], float]:
    """The y where each edge leaves (edge index, 0) and enters (edge index, 1) its boxes.

    A box's edges spread along its side, sorted by where they come from or go to, so that
    arrows into one box neither overlap nor cross each other.
    """
    sides: dict[tuple[str, int], list[tuple[float, int]]] = {}
    for index, edge in enumerate(edges):
        first, second = nodes[edge.path[1]], nodes[edge.path[-2]]
        sides.setdefault((edge.path[0], 0), []).append((first.y, index))
        sides.setdefault((edge.path[-1], 1), []).append((second.y, index))
    ports: dict[tuple[int, int], float] = {}
    for (node_id, end), items in sides.items():
        node = nodes[node_id]
        span = min(node.height * 0.6, 6.0 * (len(items) - 1))
        for rank, (_, index) in enumerate(sorted(items)):
            step = span / (len(items) - 1) if len(items) > 1 else 0.0
            ports[(index, end)] = node.y - span / 2 + rank * step
    return ports


def _edge_svg(nodes: dict[str, _Node], edge: _Edge, start: float, end: float) -> str:
    """One edge as cubic Bézier curves between columns, straight through its waypoints."""
    source, target = nodes[edge.path[0]], nodes[edge.path[-1]]
    points = [(source.x + source.width, start)]
    for waypoint in (nodes[n] for n in edge.path[1:-1]):
        points += [(waypoint.x, waypoint.y), (waypoint.x + waypoint.span, waypoint.y)]
    points.append((target.x, end))
    d = f"M{_num(points[0][0])},{_num(points[0][1])}"
    for index, ((ax, ay), (bx, by)) in enumerate(itertools.pairwise(points)):
        if index % 2:  # across a column, through its waypoint
            d += f"L{_num(bx)},{_num(by)}"
            continue
        bend = max((bx - ax) / 2, _COL_GAP * 0.75)  # a back edge loops out and in again
        d += f"C{_num(ax + bend)},{_num(ay)} {_num(bx - bend)},{_num(by)} {_num(bx)},{_num(by)}"
    css = f"cg-edge cg-{edge.css}" + (" cg-back" if edge.back else "")
    return (
        f'<path class="{css}" data-edge="{_esc(edge.label)}" d="{d}" '
        f'marker-end="url(#cg-arrow-{edge.css})"><title>{_esc(edge.label.replace("->", " → "))}'
        "</title></path>"
    )


def _node_svg(node: _Node) -> str:
    """One box, its two lines of text and its tooltip."""
    inner = node.width - 2 * _PAD
    left, top = node.x, node.y - node.height / 2
    name_where: _Where = "end" if node.kind == "step" else "middle"
    name = _fit_text(node.name, inner, _NAME_PT, name_where, bold=True)
    sub_where: _Where = "end" if node.kind == "step" else "start"
    mono = node.kind == "step"
    sub = _fit_text(node.sub, inner, _MONO_PT if mono else _SUB_PT, sub_where, mono=mono)
    rx = 6 if node.kind == "step" else 4
    parts = [
        f'<g class="cg-node cg-{node.kind}" data-node="{node.kind}" data-id="{_esc(node.key)}">',
        f"<title>{_esc(node.title)}</title>",
        f'<rect x="{_num(left)}" y="{_num(top)}" width="{_num(node.width)}" '
        f'height="{_num(node.height)}" rx="{rx}"/>',
    ]
    if sub:
        parts.append(_text("cg-name", left + _PAD, top + 17, name))
        parts.append(_text("cg-sub", left + _PAD, top + 31, sub))
    else:
        parts.append(_text("cg-name", left + _PAD, node.y + 4, name))
    parts.append("</g>")
    return "".join(parts)


def _text(css: str, x: float, y: float, text: str) -> str:
    """A line of text, escaped."""
    return f'<text class="{css}" x="{_num(x)}" y="{_num(y)}">{_esc(text)}</text>'


# ── text ──────────────────────────────────────────────────────────────────────────────────

# Advance widths in ems, rounded up from DejaVu Sans (the widest common fallback of the system
# font stack; Helvetica, Arial and Segoe UI are narrower): enough to decide where to cut a label.
_NARROW = frozenset("iljI.,:;'|!`")
_SMALL = frozenset('frt()[]{}-/\\ "')
_WIDE = frozenset("mwMW@%")


def _text_width(text: str, size: float, bold: bool = False, mono: bool = False) -> float:
    """The estimated width of a line of text, in pixels, erring on the wide side."""
    if mono:
        return len(text) * 0.6 * size
    ems = 0.0
    for char in text:
        if char in _NARROW:
            ems += 0.32
        elif char in _SMALL:
            ems += 0.42
        elif char in _WIDE:
            ems += 0.98
        elif char.isupper():
            ems += 0.76
        else:
            ems += 0.63
    return ems * size * (1.1 if bold else 1.0)


def _fit_text(
    text: str, width: float, size: float, where: _Where, bold: bool = False, mono: bool = False
) -> str:
    """The text, cut with "…" at its start, middle or end until it fits the width."""
    if _text_width(text, size, bold, mono) <= width:
        return text
    for keep in range(len(text) - 1, 0, -1):
        if where == "end":
            cut = text[:keep] + "…"
        elif where == "start":
            cut = "…" + text[len(text) - keep :]
        else:
            tail = min(len(PurePosixPath(text).suffix) + 3, keep // 2) if keep > 1 else 0
            cut = (
                text[: keep - tail] + "…" + text[len(text) - tail :] if tail else text[:keep] + "…"
            )
        if _text_width(cut, size, bold, mono) <= width:
            return cut
    return "…"


def _esc(text: str) -> str:
    """Text safe in XML content and in a double- or single-quoted attribute."""
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


def _num(value: float) -> str:
    """A coordinate with one decimal at most: short, and the same on every machine."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text

"""The provenance graph of a capsule laid out: boxes, curves and legend as numbers, no markup.

Pure functions over a Manifest (no I/O, no external layout tool); capsule.report.graph draws
the result through templates/provgraph.svg.j2. The rules:

- Nodes: every file of work/ with role "data", every external path a step read, one node per
  step run (its processes collapsed into it, in run order) and every output. A file is drawn
  once: an output that a later step reads is the output of one step and the input of the next.
- Edges: file → step when any activity of the step read the file (a step reading what it wrote
  itself is no edge); step → output when an activity of the step generated it, or when the
  manifest says the step last wrote it.
- Layout (Sugiyama-style): longest-path columns, data in column 0, steps and outputs
  alternating; long edges pass through invisible waypoints; a few barycenter sweeps order each
  column (the order with the fewest crossings wins); vertical positions are least-squares fits
  to the neighbours that keep boxes apart. The same manifest always gives the same numbers.
"""

from __future__ import annotations

import itertools
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

from capsule.model import Manifest, StepRun
from capsule.report.facts import EXTERNAL_NOTE
from capsule.runner import NOTEBOOK_RUNNER

EXTERNAL_ROLE = "read from " + EXTERNAL_NOTE  # a tooltip line: the role of an external file
LEGEND: tuple[tuple[str, str], ...] = (
    ("data", "input data"),
    ("external", "external read"),
    ("step", "step"),
    ("output", "output"),
)

NodeKind = Literal["data", "external", "step", "output", "waypoint"]
_Where = Literal["start", "middle", "end"]

FILE_W = 206.0  # box widths, by kind
STEP_W = 224.0
BOX_H = 40.0
PAD = 10.0  # inside a box, left and right of the text
NAME_PT = 12.0  # font sizes
SUB_PT = 10.0
MONO_PT = 9.5  # a step's command
LEGEND_PT = 11.0
COL_GAP = 72.0  # between columns: room for the edges' curves
ROW_GAP = 14.0  # between boxes of a column
WAY_GAP = 10.0  # next to a waypoint of a long edge
MARGIN = 16.0
LEGEND_H = 30.0
SWEEPS = 6  # barycenter sweeps for the order within columns
FITS = 8  # passes of the vertical placement


# ── what the drawing gets ─────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Line:
    """A line of text inside a box, already cut to fit; x, y is the start of its baseline."""

    css: str  # "cg-name" or "cg-sub"
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Box:
    """A node as drawn: its rectangle (x, y is the top left), its lines and its tooltip."""

    kind: NodeKind
    key: str  # the path or step name
    title: str
    x: float
    y: float
    width: float
    height: float
    rx: float  # corner radius
    lines: tuple[Line, ...]


@dataclass(frozen=True)
class Curve:
    """An edge as drawn: SVG path commands ("M", "C" or "L") with their coordinates."""

    label: str  # "src->dst"
    css: str  # "read", "write" or "ext"
    back: bool  # goes against the columns (a step read a file a later step rewrote)
    commands: tuple[tuple[str, tuple[float, ...]], ...]


@dataclass(frozen=True)
class Swatch:
    """One entry of the legend: a small box of a kind at x, y and its text beside it."""

    kind: str
    text: str
    x: float
    y: float
    text_x: float
    text_y: float


@dataclass(frozen=True)
class Layout:
    """The whole drawing: its size, legend, curves (edges) and boxes (nodes), in drawing order."""

    width: float
    height: float
    counts: dict[str, int]  # boxes by kind
    legend: tuple[Swatch, ...]
    curves: tuple[Curve, ...]
    boxes: tuple[Box, ...]


@dataclass
class Node:
    """A box of the graph (or a waypoint of a long edge) and, once laid out, where it is."""

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
        return {"step": STEP_W, "waypoint": 0.0}.get(self.kind, FILE_W)

    @property
    def height(self) -> float:
        """Height of the box: waypoints are points."""
        return 0.0 if self.kind == "waypoint" else BOX_H


@dataclass(frozen=True)
class Edge:
    """An edge of the graph: from a file to a step or a step to an output, through waypoints."""

    label: str  # "src->dst", as data-edge
    path: tuple[str, ...]  # node ids, source first
    css: str  # "read", "write" or "ext"
    back: bool  # goes against the columns (a step read a file a later step rewrote)


def layout(manifest: Manifest) -> Layout | None:
    """The laid-out provenance graph of a manifest; None when it has no step and no output."""
    nodes, edges = graph(manifest)
    if not any(node.kind in ("step", "output") for node in nodes.values()):
        return None
    layers, edges = _with_waypoints(nodes, edges)
    _order(layers, edges)
    width, height = _place(nodes, layers, edges)
    boxes = [n for n in nodes.values() if n.kind != "waypoint"]
    counts = {kind: sum(1 for n in boxes if n.kind == kind) for kind, _ in LEGEND}
    ports = _ports(nodes, edges)
    return Layout(
        width=width,
        height=height,
        counts=counts,
        legend=_legend(counts),
        curves=tuple(
            _curve(nodes, edge, ports[(index, 0)], ports[(index, 1)])
            for index, edge in enumerate(edges)
        ),
        boxes=tuple(_box(node) for node in sorted(boxes, key=lambda n: (n.layer, n.y))),
    )


# ── the graph ─────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _Flow:
    """Who read and wrote what, collapsed to steps: the graph before it has columns."""

    steps: list[str]  # in run order, once each
    runs: dict[str, StepRun]
    data: set[str]
    external: set[str]
    outputs: set[str]
    producers: dict[str, set[str]]  # output path → the steps that wrote it
    reads: dict[str, set[str]]  # step → the drawn files it read


def graph(manifest: Manifest) -> tuple[dict[str, Node], list[Edge]]:
    """The nodes (with their columns) and edges of a manifest, by the module's rules."""
    flow = _flow(manifest)
    column = _columns(flow)
    nodes: dict[str, Node] = {}
    for path in sorted(flow.data | flow.external | flow.outputs):
        kind: NodeKind = "output" if path in flow.outputs else "data"
        if path in flow.external and path not in flow.data and path not in flow.outputs:
            kind = "external"
        nodes["f:" + path] = _file_node(path, kind, column[path])
    for name in flow.steps:
        processes = [
            a for a in manifest.provenance.activities if a.step == name and a.kind == "process"
        ]
        nodes["s:" + name] = _step_node(
            name, flow.runs[name].argv, len(processes), column["s:" + name]
        )
    edges: list[Edge] = []
    for name in flow.steps:
        for path in sorted(flow.reads[name]):
            source = nodes["f:" + path]
            css = "ext" if source.kind == "external" else "read"
            edges.append(_edge(source, nodes["s:" + name], css))
    for name in flow.steps:
        for path in sorted(p for p in flow.outputs if name in flow.producers[p]):
            edges.append(_edge(nodes["s:" + name], nodes["f:" + path], "write"))
    return nodes, edges


def _flow(manifest: Manifest) -> _Flow:
    """The steps, files, producers and reads the graph is drawn from."""
    runs = {run.name: run for run in manifest.steps}
    step = _step_namer(manifest)
    outputs = {entry.path for entry in manifest.outputs}
    data = {f.path for f in manifest.files if f.role == "data" and f.path not in outputs}
    producers: dict[str, set[str]] = {path: set() for path in outputs}
    for generation in manifest.provenance.generated:
        if generation.entity in outputs and step(generation.activity) in runs:
            producers[generation.entity].add(step(generation.activity))
    for entry in manifest.outputs:
        if entry.step in runs:
            producers[entry.path].add(entry.step)
    flow = _Flow(
        steps=list(dict.fromkeys(run.name for run in manifest.steps)),
        runs=runs,
        data=data,
        external=set(),
        outputs=outputs,
        producers=producers,
        reads={run.name: set() for run in manifest.steps},
    )
    for usage in manifest.provenance.used:
        reader, path = step(usage.activity), usage.entity
        if reader not in runs:
            continue
        if usage.external:
            flow.external.add(path)
        elif not (path in data or (path in outputs and reader not in producers[path])):
            continue  # code, other files, files the capsule lacks, a step's own writes
        flow.reads[reader].add(path)
    return flow


def _step_namer(manifest: Manifest) -> Callable[[str], str]:
    """The step of an activity id (its first part when the activity is unknown)."""
    step_of = {activity.id: activity.step for activity in manifest.provenance.activities}
    return lambda activity: step_of.get(activity, activity.split("/")[0])


def _columns(flow: _Flow) -> dict[str, int]:
    """Each file path's and "s:<step>"'s column, numbered without gaps from 0."""
    # Longest-path columns, steps in run order: a step sits right of everything it read that
    # was already written; its outputs right of the last step that wrote them.
    column: dict[str, int] = dict.fromkeys(sorted(flow.data | flow.external), 0)
    for name in flow.steps:
        column["s:" + name] = 1 + max((column.get(p, -1) for p in flow.reads[name]), default=0)
        for path in sorted(flow.outputs):
            if name in flow.producers[path]:
                column[path] = max(column.get(path, 0), column["s:" + name] + 1)
    for path in flow.outputs:
        column.setdefault(path, 2)  # no step of the capsule wrote it
    compact = {layer: index for index, layer in enumerate(sorted(set(column.values())))}
    return {key: compact[layer] for key, layer in column.items()}


def _edge(source: Node, target: Node, css: str) -> Edge:
    """A direct edge between two nodes; back when it does not go to a later column."""
    return Edge(
        f"{source.key}->{target.key}", (source.id, target.id), css, source.layer >= target.layer
    )


def _file_node(path: str, kind: NodeKind, layer: int) -> Node:
    """A box for a file: its name, its folder below."""
    pure = PurePosixPath(path)
    folder = str(pure.parent) if str(pure.parent) != "." else ""
    role = {"data": "input data", "external": EXTERNAL_ROLE, "output": "output"}[kind]
    return Node(
        "f:" + path, path, kind, layer, title=f"{path}\n{role}", name=pure.name or path, sub=folder
    )


def _step_node(name: str, argv: tuple[str, ...], processes: int, layer: int) -> Node:
    """A box for a step: its name, its command below."""
    command = shlex.join(argv)
    title = f"step {name}\n{command}"
    if processes > 1:
        title += f"\n{processes} processes traced"
    return Node("s:" + name, name, "step", layer, title=title, name=name, sub=_short(argv))


def _short(argv: tuple[str, ...]) -> str:
    """The command of a step as people would type it: a notebook step names its notebook."""
    if len(argv) >= 4 and argv[1:3] == ("-m", NOTEBOOK_RUNNER):
        return shlex.join(("notebook", argv[-1]))  # the notebook comes last, after the options
    return shlex.join(argv)


def _with_waypoints(
    nodes: dict[str, Node], edges: list[Edge]
) -> tuple[list[list[str]], list[Edge]]:
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
    routed: list[Edge] = []
    for edge in edges:
        source, target = nodes[edge.path[0]], nodes[edge.path[-1]]
        if edge.back:
            routed.append(edge)
            continue
        path = [source.id]
        for layer in range(source.layer + 1, target.layer):
            waypoint = Node(f"w:{len(nodes)}", "", "waypoint", layer)
            nodes[waypoint.id] = waypoint
            layers[layer].append(waypoint.id)
            path.append(waypoint.id)
        routed.append(Edge(edge.label, (*path, target.id), edge.css, back=False))
    return layers, routed


# ── order within columns ──────────────────────────────────────────────────────────────────


def _order(layers: list[list[str]], edges: list[Edge]) -> None:
    """Reorder the columns in place by barycenter sweeps; the order with fewest crossings wins."""
    pred: dict[str, list[str]] = {}
    succ: dict[str, list[str]] = {}
    for a, b in _segments(edges):
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    best = [list(layer) for layer in layers]
    fewest = _crossings(layers, succ)
    for sweep in range(SWEEPS):
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


def _segments(edges: Iterable[Edge]) -> list[tuple[str, str]]:
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
    nodes: dict[str, Node], layers: list[list[str]], edges: list[Edge]
) -> tuple[float, float]:
    """Set every node's x and centre y; the drawing's width and height."""
    x = MARGIN
    for layer in layers:
        width = max(nodes[n].width for n in layer)
        for n in layer:
            nodes[n].x = x + (width - nodes[n].width) / 2 if nodes[n].width else x
            nodes[n].span = width
        x += width + COL_GAP
    neighbours: dict[str, list[str]] = {}
    for a, b in _segments(edges):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    for layer in layers:
        _fit(nodes, layer, [nodes[n].y for n in layer], neighbours)  # stacked from 0
    for rounds in range(FITS):
        sweep = layers if rounds % 2 == 0 else layers[::-1]
        for layer in sweep:
            wanted = []
            for n in layer:
                linked = [nodes[m].y for m in neighbours.get(n, ())]
                wanted.append(sum(linked) / len(linked) if linked else nodes[n].y)
            _fit(nodes, layer, wanted, neighbours)
    top = min(nodes[n].y - nodes[n].height / 2 for layer in layers for n in layer)
    bottom = max(nodes[n].y + nodes[n].height / 2 for layer in layers for n in layer)
    shift = MARGIN + LEGEND_H - top
    for node in nodes.values():
        node.y = round(node.y + shift, 1)
    return x - COL_GAP + MARGIN, bottom - top + 2 * MARGIN + LEGEND_H


def _fit(
    nodes: dict[str, Node], layer: list[str], wanted: list[float], weights: dict[str, list[str]]
) -> None:
    """Centres closest (least squares) to the wanted ones that keep the column's boxes apart."""
    offsets = [0.0]
    for a, b in itertools.pairwise(layer):
        gap = ROW_GAP if "waypoint" not in (nodes[a].kind, nodes[b].kind) else WAY_GAP
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


# ── shapes ────────────────────────────────────────────────────────────────────────────────


def _legend(counts: dict[str, int]) -> tuple[Swatch, ...]:
    """A row of swatches naming the kinds of boxes the graph has."""
    swatches = []
    x = MARGIN
    for kind, text in LEGEND:
        if not counts[kind]:
            continue
        swatches.append(Swatch(kind, text, x, MARGIN, x + 20, MARGIN + 9))
        x += 20 + text_width(text, LEGEND_PT) + 18
    return tuple(swatches)


def _ports(nodes: dict[str, Node], edges: list[Edge]) -> dict[tuple[int, int], float]:
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


def _curve(nodes: dict[str, Node], edge: Edge, start: float, end: float) -> Curve:
    """One edge as cubic Bézier curves between columns, straight through its waypoints."""
    source, target = nodes[edge.path[0]], nodes[edge.path[-1]]
    points = [(source.x + source.width, start)]
    for waypoint in (nodes[n] for n in edge.path[1:-1]):
        points += [(waypoint.x, waypoint.y), (waypoint.x + waypoint.span, waypoint.y)]
    points.append((target.x, end))
    commands: list[tuple[str, tuple[float, ...]]] = [("M", points[0])]
    for index, ((ax, ay), (bx, by)) in enumerate(itertools.pairwise(points)):
        if index % 2:  # across a column, through its waypoint
            commands.append(("L", (bx, by)))
            continue
        bend = max((bx - ax) / 2, COL_GAP * 0.75)  # a back edge loops out and in again
        commands.append(("C", (ax + bend, ay, bx - bend, by, bx, by)))
    return Curve(edge.label, edge.css, edge.back, tuple(commands))


def _box(node: Node) -> Box:
    """A node's rectangle and its one or two lines of text, cut to fit."""
    inner = node.width - 2 * PAD
    left, top = node.x, node.y - node.height / 2
    step = node.kind == "step"
    name = fit_text(node.name, inner, NAME_PT, "end" if step else "middle", bold=True)
    sub_pt = MONO_PT if step else SUB_PT
    sub = fit_text(node.sub, inner, sub_pt, "end" if step else "start", mono=step)
    lines: tuple[Line, ...]
    if sub:
        lines = (
            Line("cg-name", left + PAD, top + 17, name),
            Line("cg-sub", left + PAD, top + 31, sub),
        )
    else:
        lines = (Line("cg-name", left + PAD, node.y + 4, name),)
    return Box(
        kind=node.kind,
        key=node.key,
        title=node.title,
        x=left,
        y=top,
        width=node.width,
        height=node.height,
        rx=6 if step else 4,
        lines=lines,
    )


# ── text ──────────────────────────────────────────────────────────────────────────────────

# Advance widths in ems, rounded up from DejaVu Sans (the widest common fallback of the system
# font stack; Helvetica, Arial and Segoe UI are narrower): enough to decide where to cut a label.
_NARROW = frozenset("iljI.,:;'|!`")
_SMALL = frozenset('frt()[]{}-/\\ "')
_WIDE = frozenset("mwMW@%")


def text_width(text: str, size: float, bold: bool = False, mono: bool = False) -> float:
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


def fit_text(
    text: str, width: float, size: float, where: _Where, mono: bool = False, bold: bool = False
) -> str:
    """The text, cut with "…" at its start, middle or end until it fits the width."""
    if text_width(text, size, bold, mono) <= width:
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
        if text_width(cut, size, bold, mono) <= width:
            return cut
    return "…"

"""The provenance graph as SVG: nodes, edges, escaping, determinism, a layout without overlaps."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from capsule.model import (
    Activity,
    FileEntry,
    Generation,
    Manifest,
    OutputEntry,
    Provenance,
    Usage,
)
from capsule.report.graph import NO_PROVENANCE, graph_svg
from report.test_lineage import sample

from conftest import run_chromium

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "data/<script>&\"'.csv"


def parse(svg: str) -> ET.Element:
    """The SVG's root element; fails the test if the SVG is not well-formed XML."""
    return ET.fromstring(svg)  # noqa: S314 (our own output, under test)


def nodes(root: ET.Element, kind: str) -> list[str]:
    """The data-id of every node of a kind."""
    return [g.attrib["data-id"] for g in root.iter(SVG + "g") if g.get("data-node") == kind]


def edges(root: ET.Element) -> set[str]:
    """The data-edge of every edge."""
    return {p.attrib["data-edge"] for p in root.iter(SVG + "path") if "data-edge" in p.attrib}


def boxes(root: ET.Element) -> list[tuple[float, float, float, float]]:
    """x, y, width and height of every node's box."""
    found = []
    for g in root.iter(SVG + "g"):
        if "data-node" in g.attrib:
            rect = g.find(SVG + "rect")
            assert rect is not None
            found.append(tuple(float(rect.attrib[k]) for k in ("x", "y", "width", "height")))
    return found  # type: ignore[return-value]


def test_one_node_per_data_file_step_and_output() -> None:
    root = parse(graph_svg(sample()))
    assert sorted(nodes(root, "data")) == ["data/late.csv", "data/raw.csv"]
    assert nodes(root, "external") == ["/home/x/ext.csv"]
    assert sorted(nodes(root, "step")) == ["01_table", "02_plot", "03_copy"]
    assert sorted(nodes(root, "output")) == [
        "fig.png",
        "fig2.png",
        "out/copy.txt",
        "tables/t1.csv",
    ]


def test_edges_follow_reads_and_writes_collapsed_to_steps() -> None:
    root = parse(graph_svg(sample()))
    assert edges(root) == {
        "data/raw.csv->01_table",
        "01_table->tables/t1.csv",
        "tables/t1.csv->02_plot",  # an intermediate output, once: read by the next step
        "data/late.csv->02_plot",
        "/home/x/ext.csv->02_plot",  # read by a child process of the step
        "02_plot->fig.png",
        "02_plot->fig2.png",
        "03_copy->out/copy.txt",  # snapshot-only generation
    }


def test_columns_run_data_steps_outputs() -> None:
    root = parse(graph_svg(sample()))
    x = {
        g.attrib["data-id"]: float(g.find(SVG + "rect").attrib["x"])  # type: ignore[union-attr]
        for g in root.iter(SVG + "g")
        if "data-node" in g.attrib
    }
    assert x["data/raw.csv"] < x["01_table"] < x["tables/t1.csv"] < x["02_plot"] < x["fig.png"]
    assert x["data/raw.csv"] == x["data/late.csv"] == x["/home/x/ext.csv"]
    assert x["01_table"] == x["03_copy"]  # 03 read nothing: first step column


def test_a_step_reading_its_own_output_draws_no_loop() -> None:
    base = sample()
    used = (*base.provenance.used, Usage(activity="02_plot/p1", entity="fig.png", seq=8))
    svg = graph_svg(dataclasses.replace(base, provenance=_with(base, used=used)))
    assert "fig.png->02_plot" not in edges(parse(svg))


def test_without_provenance_outputs_hang_from_the_step_that_wrote_them() -> None:
    root = parse(graph_svg(dataclasses.replace(sample(), provenance=Provenance((), (), ()))))
    assert edges(root) == {
        "01_table->tables/t1.csv",
        "02_plot->fig.png",
        "02_plot->fig2.png",
        "03_copy->out/copy.txt",
    }


def test_hostile_path_is_escaped_everywhere() -> None:
    base = sample()
    files = (*base.files, FileEntry(path=HOSTILE, sha256="h" * 64, size=1, role="data"))
    used = (*base.provenance.used, Usage(activity="01_table/p1", entity=HOSTILE, seq=2))
    manifest = dataclasses.replace(base, files=files, provenance=_with(base, used=used))
    svg = graph_svg(manifest)
    assert "<script>" not in svg
    root = parse(svg)
    assert HOSTILE in nodes(root, "data")
    assert f"{HOSTILE}->01_table" in edges(root)
    titles = [t.text or "" for t in root.iter(SVG + "title")]
    assert any(t.startswith(HOSTILE) for t in titles)


def test_control_characters_do_not_break_the_xml() -> None:
    base = sample()
    files = (*base.files, FileEntry(path="data/a\x01b.csv", sha256="h" * 64, size=1, role="data"))
    root = parse(graph_svg(dataclasses.replace(base, files=files)))
    # The node is drawn, the character XML forbids shown as U+FFFD wherever the path is.
    assert "data/a\ufffdb.csv" in nodes(root, "data")
    group = next(g for g in root.iter(SVG + "g") if g.get("data-id") == "data/a\ufffdb.csv")
    assert [t.text for t in group.iter(SVG + "text")] == ["a\ufffdb.csv", "data"]
    title = group.find(SVG + "title")
    assert title is not None and title.text == "data/a\ufffdb.csv\ninput data"


def test_long_labels_are_cut_with_the_full_path_in_the_tooltip() -> None:
    base = sample()
    long = "data/" + "very_long_folder_name/" * 3 + "an_extremely_long_file_name_indeed.csv"
    files = (*base.files, FileEntry(path=long, sha256="h" * 64, size=1, role="data"))
    root = parse(graph_svg(dataclasses.replace(base, files=files)))
    group = next(g for g in root.iter(SVG + "g") if g.get("data-id") == long)
    texts = [t.text or "" for t in group.iter(SVG + "text")]
    assert all("…" in text for text in texts)
    assert texts[0].endswith(".csv")  # the extension survives the cut
    title = group.find(SVG + "title")
    assert title is not None and title.text is not None and title.text.startswith(long)


def test_same_manifest_same_bytes() -> None:
    assert graph_svg(sample()) == graph_svg(sample())


def test_scales_with_a_view_box() -> None:
    root = parse(graph_svg(sample()))
    assert root.attrib["width"] == "100%"
    _, _, width, height = (float(v) for v in root.attrib["viewBox"].split())
    for x, y, w, h in boxes(root):
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height


def test_empty_provenance_says_so() -> None:
    manifest = dataclasses.replace(
        sample(), outputs=(), steps=(), provenance=Provenance((), (), ())
    )
    svg = graph_svg(manifest)
    root = parse(svg)
    assert NO_PROVENANCE in svg
    assert not boxes(root)


def test_a_big_graph_has_no_overlapping_boxes() -> None:
    manifest = big()
    root = parse(graph_svg(manifest))
    assert len(nodes(root, "step")) == 10
    assert len(nodes(root, "output")) == 40
    found = boxes(root)
    for i, (x1, y1, w1, h1) in enumerate(found):
        for x2, y2, w2, h2 in found[i + 1 :]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart, ((x1, y1), (x2, y2))
    assert graph_svg(manifest) == graph_svg(big())


@pytest.mark.browser
def test_big_graph_renders_in_chromium(tmp_path: Path) -> None:
    """The 50-node graph renders to a screenshot in headless Chromium."""
    page = tmp_path / "graph.html"
    page.write_text(f'<!doctype html><meta charset="utf-8"><body>{graph_svg(big())}</body>')
    png = tmp_path / "graph.png"
    run_chromium(
        tmp_path / "profile",
        f"--screenshot={png}",
        "--window-size=1400,900",
        page.as_uri(),
        check=True,
    )
    assert png.stat().st_size > 1000


def _with(base: Manifest, used: tuple[Usage, ...]) -> Provenance:
    """The sample's provenance with other usages."""
    return dataclasses.replace(base.provenance, used=used)


def big() -> Manifest:
    """10 steps in a chain-ish graph, 40 outputs, 6 data files: each step reads two data files
    and the first output of the previous step, and writes four outputs."""
    base = sample()
    data = tuple(f"data/d{i}.csv" for i in range(6))
    activities, used, generated, outputs, runs = [], [], [], [], []
    for s in range(10):
        name = f"{s:02d}_step"
        activity = f"{name}/p1"
        activities.append(Activity(id=activity, step=name, argv=("python", f"s/{name}.py")))
        used += [Usage(activity, data[s % 6], 1), Usage(activity, data[(s * 5 + 1) % 6], 2)]
        if s:
            used.append(Usage(activity, f"out/{s - 1:02d}_0.csv", 3))
        if s > 2:
            used.append(Usage(activity, f"out/{s - 3:02d}_1.csv", 4))
        wrote = tuple(f"out/{s:02d}_{k}.csv" for k in range(4))
        generated += [Generation(path, activity, 10 + k, "traced") for k, path in enumerate(wrote)]
        outputs += [
            OutputEntry(path=p, sha256="o" * 64, size=1, step=name, on_disk="identical")
            for p in wrote
        ]
        runs.append(dataclasses.replace(base.steps[0], name=name, argv=("python", f"{name}.py")))
    return dataclasses.replace(
        base,
        files=tuple(FileEntry(path=p, sha256="d" * 64, size=1, role="data") for p in data),
        outputs=tuple(sorted(outputs, key=lambda o: o.path)),
        steps=tuple(runs),
        provenance=Provenance(tuple(activities), tuple(used), tuple(generated)),
    )


def test_big_graph_steps_follow_their_inputs() -> None:
    root = parse(graph_svg(big()))
    x = {
        g.attrib["data-id"]: float(g.find(SVG + "rect").attrib["x"])  # type: ignore[union-attr]
        for g in root.iter(SVG + "g")
        if "data-node" in g.attrib
    }
    assert x["00_step"] < x["out/00_0.csv"] < x["01_step"] < x["out/01_0.csv"] < x["02_step"]
    assert x["03_step"] > x["out/00_1.csv"]


SNAPSHOT = Path(__file__).parent / "snapshots" / "provgraph-sample.svg"
REGENERATE = (
    'python -c \'import sys; sys.path[:0] = ["tests"]; '
    "from report.test_lineage import sample; from capsule.report.graph import graph_svg; "
    f'open("{SNAPSHOT.relative_to(Path(__file__).parents[2])}", "w").write(graph_svg(sample()))\''
)


def test_sample_graph_matches_its_snapshot() -> None:
    """The drawing of the sample, byte for byte: a change to layout or template shows here."""
    expected = SNAPSHOT.read_text(encoding="utf-8")
    assert graph_svg(sample()) == expected, f"if the change is wanted, regenerate: {REGENERATE}"

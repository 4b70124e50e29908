"""The notebook comparator: cell by cell, execution metadata and volatile text set aside."""

from __future__ import annotations

import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin

from capsule.compare import Comparison, Tolerance, compare, notebook

EXACT = Tolerance()


def png_base64(colour: str = "white", software: str = "", changed: bool = False) -> str:
    """A small PNG as a notebook stores it."""
    image = Image.new("RGB", (10, 10), colour)
    if changed:
        image.putpixel((4, 4), (0, 0, 0))
    info = PngImagePlugin.PngInfo()
    if software:
        info.add_text("Software", software)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return base64.b64encode(buffer.getvalue()).decode()


def executed() -> dict[str, Any]:
    """A notebook as nbclient leaves it: counts, timings, kernel facts."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3"},
            "language_info": {"name": "python", "version": "3.11.7"},
        },
        "cells": [
            {"cell_type": "markdown", "id": "intro", "metadata": {}, "source": ["# Scores"]},
            {
                "cell_type": "code",
                "id": "load",
                "execution_count": 1,
                "metadata": {"execution": {"iopub.execute_input": "2024-01-01T10:00:00Z"}},
                "source": ["scores = load()\n", "print(scores.mean())"],
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["0.8123\n"]}],
            },
            {
                "cell_type": "code",
                "id": "plot",
                "execution_count": 2,
                "metadata": {},
                "source": "plot(scores)",
                "outputs": [
                    {
                        "output_type": "execute_result",
                        "execution_count": 2,
                        "metadata": {},
                        "data": {
                            "text/plain": ["<Figure size 640x480 with 1 Axes at 0x7f1a2b3c4d50>"]
                        },
                    },
                    {
                        "output_type": "display_data",
                        "metadata": {},
                        "data": {"image/png": png_base64(), "text/plain": ["<Figure>"]},
                    },
                ],
            },
            {
                "cell_type": "code",
                "id": "fail",
                "execution_count": 3,
                "metadata": {},
                "source": "check(scores)",
                "outputs": [
                    {
                        "output_type": "error",
                        "ename": "ValueError",
                        "evalue": "too low",
                        "traceback": [
                            "\u001b[31mValueError\u001b[39m Traceback",
                            "Cell \u001b[32mIn[3]\u001b[39m, line 1",
                            "File /tmp/ipykernel_4242/3067491219.py:2, in check(s)",
                        ],
                    }
                ],
            },
        ],
    }


def write(tmp_path: Path, old: dict[str, Any], new: dict[str, Any]) -> Comparison:
    """Write two notebooks as nbformat does and run the notebook comparator itself."""
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    a.write_text(json.dumps(old, indent=1))
    b.write_text(json.dumps(new, indent=1))
    return notebook.compare(a, b, path="analysis.ipynb", tolerance=EXACT, artifacts_dir=None)


# ── real kernels ──────────────────────────────────────────────────────────────────────────


def test_two_executions_on_the_same_data_are_metadata_only(
    notebook_runs: tuple[Path, Path, Path],
) -> None:
    first, second, _ = notebook_runs
    assert first.read_bytes() != second.read_bytes()
    result = compare(first, second, path="analysis.ipynb")
    assert result.verdict == "metadata-only"
    assert result.comparator == "notebook"
    assert notebook.EXECUTION_TIMINGS in result.volatile
    assert notebook.MEMORY_ADDRESSES in result.volatile  # repr of object()
    assert result.reason.startswith("same sources and outputs; only ")


def test_an_execution_on_changed_data_names_the_output(
    notebook_runs: tuple[Path, Path, Path],
) -> None:
    first, _, third = notebook_runs
    result = compare(first, third, path="analysis.ipynb")
    assert result.verdict == "differs"
    assert result.reason.startswith(
        "1 difference: cell 2 output 1 text differs: line 1: '0.8123' → '0.8125'"
    )
    assert notebook.EXECUTION_TIMINGS in result.volatile


# ── hand-made differences ─────────────────────────────────────────────────────────────────


def test_execution_counts_timings_and_kernel_are_metadata_only(tmp_path: Path) -> None:
    old, new = executed(), executed()
    new["metadata"]["language_info"]["version"] = "3.12.1"
    for cell in new["cells"][1:]:
        cell["execution_count"] += 10
    new["cells"][1]["metadata"]["execution"]["iopub.execute_input"] = "2025-05-05T05:05:05Z"
    new["cells"][2]["outputs"][0]["execution_count"] = 12
    new["cells"][3]["outputs"][0]["traceback"][1] = "Cell \u001b[32mIn[13]\u001b[39m, line 1"
    result = write(tmp_path, old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile == (
        "notebook metadata language_info",
        notebook.EXECUTION_TIMINGS,
        notebook.EXECUTION_COUNTS,
    )


def test_volatile_output_text_is_named(tmp_path: Path) -> None:
    old, new = executed(), executed()
    new["cells"][2]["outputs"][0]["data"]["text/plain"] = [
        "<Figure size 640x480 with 1 Axes at 0x7fee00001111>"
    ]
    new["cells"][3]["outputs"][0]["traceback"][2] = "File /tmp/ipykernel_977/1188.py:2, in check(s)"
    result = write(tmp_path, old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile == (notebook.MEMORY_ADDRESSES, notebook.KERNEL_PATHS)
    assert result.reason == (
        "same sources and outputs; only memory addresses and kernel temp paths differ"
    )


def test_image_with_other_png_metadata_is_metadata_only(tmp_path: Path) -> None:
    old, new = executed(), executed()
    new["cells"][2]["outputs"][1]["data"]["image/png"] = png_base64(software="Matplotlib 9")
    result = write(tmp_path, old, new)
    assert result.verdict == "metadata-only"
    assert result.volatile == ("image tEXt Software",)


def test_image_with_other_pixels_differs(tmp_path: Path) -> None:
    old, new = executed(), executed()
    new["cells"][2]["outputs"][1]["data"]["image/png"] = png_base64(changed=True)
    result = write(tmp_path, old, new)
    assert result.verdict == "differs"
    assert result.reason == (
        "1 difference: cell 3 output 2 image/png differs: "
        "1 of 100 pixels differ (max channel delta 255) in x 4..4, y 4..4"
    )
    tolerant = notebook.compare(
        tmp_path / "a.ipynb",
        tmp_path / "b.ipynb",
        path="analysis.ipynb",
        tolerance=Tolerance(pixels=1),
        artifacts_dir=None,
    )
    assert tolerant.verdict == "within-tolerance"


def test_base64_wrapping_and_json_layout_are_encoding_only(tmp_path: Path) -> None:
    old, new = executed(), executed()
    encoded = new["cells"][2]["outputs"][1]["data"]["image/png"]
    new["cells"][2]["outputs"][1]["data"]["image/png"] = "\n".join(
        encoded[i : i + 76] for i in range(0, len(encoded), 76)
    )
    assert write(tmp_path, old, new).volatile == (notebook.BASE64_WRAPPING,)
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    a.write_text(json.dumps(old, indent=1))
    b.write_text(json.dumps(old, indent=2, sort_keys=True))
    result = notebook.compare(a, b, path="x.ipynb", tolerance=EXACT, artifacts_dir=None)
    assert result.verdict == "metadata-only"
    assert result.volatile == (notebook.JSON_FORMATTING,)


def test_source_and_output_count_differences(tmp_path: Path) -> None:
    old, new = executed(), executed()
    new["cells"][1]["source"] = ["scores = load(seed=1)\n", "print(scores.mean())"]
    new["cells"][2]["outputs"].pop()
    new["cells"][1]["execution_count"] = 7
    result = write(tmp_path, old, new)
    assert result.verdict == "differs"
    assert result.reason == (
        "2 differences: cell 2 source differs: line 1: 'scores = load()' → "
        "'scores = load(seed=1)' (also volatile: execution counts)"
    )
    assert "cell 3: 2 outputs → 1" in result.details


def test_unknown_fields_are_compared_too(tmp_path: Path) -> None:
    old, new = executed(), executed()
    new["cells"][1]["outputs"][0]["transient"] = {"display_id": "x"}
    result = write(tmp_path, old, new)
    assert result.verdict == "differs"
    assert result.reason == "1 difference: cell 2 output 1 field 'transient' differs"


def test_other_notebook_metadata_is_not_volatile(tmp_path: Path) -> None:
    old, new = executed(), copy.deepcopy(executed())
    new["metadata"]["title"] = "Draft"
    result = write(tmp_path, old, new)
    assert result.verdict == "differs"
    assert result.reason == "1 difference: notebook metadata 'title' differs"


def test_broken_json_falls_back_to_text(tmp_path: Path) -> None:
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    a.write_text(json.dumps(executed(), indent=1))
    b.write_text(a.read_text()[:300])
    result = notebook.compare(a, b, path="x.ipynb", tolerance=EXACT, artifacts_dir=None)
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not a notebook (NotebookError: not valid JSON")
    assert result.comparator == "text"


def test_json_that_is_not_a_notebook_falls_back_to_text(tmp_path: Path) -> None:
    a, b = tmp_path / "a.ipynb", tmp_path / "b.ipynb"
    a.write_text('{"cells": "none"}\n')
    b.write_text("[1, 2]\n")
    result = notebook.compare(a, b, path="x.ipynb", tolerance=EXACT, artifacts_dir=None)
    assert result.reason.startswith("expected is not a notebook (NotebookError: no list of cells)")


def test_odd_cell_shapes_do_not_raise(tmp_path: Path) -> None:
    old, new = executed(), executed()
    new["cells"][1]["outputs"] = [None]
    result = write(tmp_path, old, new)
    assert result.verdict == "differs"
    assert result.reason.startswith("1 difference: notebook structure not understood")

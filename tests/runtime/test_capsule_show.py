"""runtime/_capsule_show.py: the matplotlib backend whose show() saves, run for real (no tracer;
tests/test_figures.py runs it under the tracer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import run_runtime

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PLOT = """
import matplotlib.pyplot as plt
for n in (1, 2):
    plt.figure(n, figsize=(1, 1), dpi=20).gca().plot([0, 1], [0, n])
plt.show()
print(plt.get_fignums())
"""


@pytest.mark.parametrize(
    ("root_env", "folder"), [(True, "analysis"), (False, "analysis/scripts")], ids=["root", "cwd"]
)
def test_show_saves_every_open_figure_and_closes_them(
    tmp_path: Path, root_env: bool, folder: str
) -> None:
    root = tmp_path / "analysis"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "02_plot.py").write_text(PLOT, encoding="utf-8")
    env = {"MPLBACKEND": "module://_capsule_show", "MPLCONFIGDIR": str(tmp_path / "mpl")}
    if root_env:
        env["CAPSULE_ANALYSIS_ROOT"] = str(root)
    done = run_runtime(["02_plot.py"], cwd=root / "scripts", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"  # a blocking show closes what it showed
    shown = tmp_path / folder / "shown"
    assert sorted(p.name for p in shown.iterdir()) == ["02_plot-figure1.png", "02_plot-figure2.png"]
    assert (shown / "02_plot-figure1.png").read_bytes().startswith(PNG_SIGNATURE)

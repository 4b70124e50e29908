"""Mean and spread of each group, as a CSV table and an SVG bar chart (standard library only).

Written for Python 3.8: typing.Dict and List, no `X | Y` types, no match statement.
"""

import csv
import platform
import statistics
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results"
WIDTH, HEIGHT, BAR = 240, 160, 60


def read_groups(path: Path) -> Dict[str, List[float]]:
    """Values by group, in the order the groups first appear."""
    groups: Dict[str, List[float]] = {}
    with path.open(newline="") as stream:
        for row in csv.DictReader(stream):
            groups.setdefault(row["group"], []).append(float(row["value"]))
    return groups


def write_table(groups: Dict[str, List[float]], path: Path) -> None:
    """One row per group: n, mean, standard deviation."""
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["group", "n", "mean", "sd"])
        for name, values in groups.items():
            mean, sd = statistics.fmean(values), statistics.stdev(values)
            writer.writerow([name, len(values), f"{mean:.4f}", f"{sd:.4f}"])


def write_figure(groups: Dict[str, List[float]], path: Path) -> None:
    """A bar per group mean, drawn as SVG by hand."""
    top = max(statistics.fmean(values) for values in groups.values())
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}">']
    for i, (name, values) in enumerate(groups.items()):
        height = round(statistics.fmean(values) / top * (HEIGHT - 30), 2)
        x = 20 + i * (BAR + 10)
        parts.append(
            f'<rect x="{x}" y="{round(HEIGHT - 20 - height, 2)}" width="{BAR}" height="{height}"'
            ' fill="steelblue"/>'
        )
        parts.append(f'<text x="{x}" y="{HEIGHT - 5}" font-size="10">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main() -> None:
    groups = read_groups(ROOT / "data" / "measurements.csv")
    RESULTS.mkdir(exist_ok=True)
    write_table(groups, RESULTS / "summary.csv")
    write_figure(groups, RESULTS / "means.svg")
    (RESULTS / "python.txt").write_text(platform.python_version() + "\n")


if __name__ == "__main__":
    main()

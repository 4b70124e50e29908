"""Draw the yearly counts of data/counts.csv in Liberation Sans, as a paper's style asks."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["font.family"] = "sans-serif"
plt.rcParams["font.sans-serif"] = ["Liberation Sans", "DejaVu Sans"]

with open("data/counts.csv", encoding="utf-8") as handle:
    rows = list(csv.DictReader(handle))
years = [int(row["year"]) for row in rows]
counts = [int(row["count"]) for row in rows]

figure, axes = plt.subplots(figsize=(4, 3))
axes.bar(years, counts, color="#4477aa")
axes.set_title("Observations per year")
axes.set_xlabel("Year")
axes.set_ylabel("Count")
Path("figures").mkdir(exist_ok=True)
figure.savefig("figures/counts.png", dpi=100)
Path("figures/font.txt").write_text(
    matplotlib.font_manager.findfont("Liberation Sans", fallback_to_default=False) + "\n",
    encoding="utf-8",
)

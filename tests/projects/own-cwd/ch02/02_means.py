"""Chapter 2: the mean of each column. Also written to run from its own folder."""

import csv
import statistics

with open("measurements.csv", encoding="utf-8") as handle:
    rows = list(csv.DictReader(handle))
with open("means.csv", "w", encoding="utf-8") as handle:
    for column in rows[0]:
        handle.write(f"{column},{statistics.mean(float(row[column]) for row in rows):.6f}\n")

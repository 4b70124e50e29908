"""Chapter 1: total the counts. Written to run from its own folder (`cd ch01 && python ...`)."""

import csv

with open("counts.csv", encoding="utf-8") as handle:
    total = sum(int(row["count"]) for row in csv.DictReader(handle))
with open("total.txt", "w", encoding="utf-8") as handle:
    handle.write(f"{total}\n")

"""Prepare the cohort."""

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from helpers import clean

try:
    import tqdm
except ImportError:
    tqdm = None

settings = yaml.safe_load(Path("settings.yml").read_text())
with Path("data/raw/cohort.csv").open() as handle:
    rows = clean(list(csv.DictReader(handle)))
frame = pd.DataFrame(rows)
Path("results").mkdir(exist_ok=True)
Path("results/summary.json").write_text(
    json.dumps({"rows": len(frame), "mean": float(np.mean([1]))})
)

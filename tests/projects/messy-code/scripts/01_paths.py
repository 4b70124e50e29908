"""Paths: one absolute path; the rest are relative, URLs, patterns or system paths.

The data once lived in /home/ana/project/raw.csv: a docstring may say so.
"""

from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE.parent / "data" / "values.csv"  # clean: relative to the analysis
SOURCE_URL = "https://x.org/a/b"  # clean: a URL
PATTERN = r"^/api/(\d+)/items$"  # clean: a regular expression
SINK = "/dev/null"  # clean: exists everywhere
RAW = "/home/ana/project/raw.csv"  # DEFECT absolute-path


def load() -> str:
    """Read the values (copied from /Users/ana/Desktop/values.csv)."""
    return DATA.read_text(encoding="utf-8")

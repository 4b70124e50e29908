"""Write what capfix_recent says, and the interpreter that ran this, into results/."""

from pathlib import Path

import capfix_recent

Path("results").mkdir(exist_ok=True)
Path("results/report.txt").write_text(capfix_recent.describe() + "\n", encoding="utf-8")

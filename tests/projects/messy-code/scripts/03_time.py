"""Time: a timestamp written into an output; timing with perf_counter is fine."""

import time
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).parent.parent / "results" / "stamp.txt"

start = time.perf_counter()  # clean: timing, never written
stamp = datetime.now().isoformat()  # DEFECT wall-clock
OUT.write_text(f"made at {stamp}\n", encoding="utf-8")
print(f"took {time.perf_counter() - start:.3f} s")

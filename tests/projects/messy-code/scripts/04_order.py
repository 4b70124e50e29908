"""Ordering: one loop over a raw directory listing; the others are sorted."""

import glob
import os
import time
from pathlib import Path

HERE = Path(__file__).parent

for name in sorted(os.listdir(HERE)):  # clean: sorted
    print(name)
names = [path.name for path in sorted(HERE.glob("*.py"))]  # clean: sorted
count = len(set(names))  # clean: counted, not iterated
known = "a" in {"a", "b"}  # clean: membership, not iteration
print(time.time(), count, known)  # clean: this script writes no output
for path in glob.glob("*.csv"):  # DEFECT unordered-iteration
    print(path)

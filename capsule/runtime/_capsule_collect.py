"""Copy what a rerun wrote: `python -m _capsule_collect PRISTINE WORKDIR OUTDIR`.

PRISTINE is the capsule's work/ folder as packaged, WORKDIR the scratch copy the steps ran in.
Every file of WORKDIR that PRISTINE lacks, or holds with other bytes, was written by a step and is
copied to OUTDIR at the same relative path. Standard library only: it runs inside the container.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys

SKIPPED_DIRS = {"__pycache__", ".ipynb_checkpoints"}


def main(argv: list[str]) -> int:
    """Copy the files written under WORKDIR into OUTDIR; print how many."""
    if len(argv) != 3:
        sys.stderr.write("usage: python -m _capsule_collect PRISTINE WORKDIR OUTDIR\n")
        return 2
    pristine, workdir, outdir = argv
    copied = 0
    for dirpath, dirnames, filenames in os.walk(workdir):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS)
        for name in sorted(filenames):
            source = os.path.join(dirpath, name)
            rel = os.path.relpath(source, workdir)
            original = os.path.join(pristine, rel)
            if os.path.isfile(original) and filecmp.cmp(source, original, shallow=False):
                continue
            target = os.path.join(outdir, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)
            copied += 1
    sys.stderr.write(f"capsule: collected {copied} output file(s) into {outdir}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

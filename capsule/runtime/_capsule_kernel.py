"""The kernel of a notebook step: `python -m _capsule_kernel -f CONNECTION_FILE`.

capsule's notebook client (_capsule_notebook.py, in capsule's own environment) starts this with
the analysis' interpreter, so the kernel, and everything the notebook imports, is the analysis'
process. It is IPython's kernel (ipykernel_launcher, which must be installed there), with one
change: figures a cell shows are drawn by matplotlib_inline when the analysis has it, so they
become image outputs rendered by Agg as savefig would render them.

Standard library only, and no import of the analysis' packages beyond ipykernel's own: it runs in
the analysis' Python, whatever its version.
"""

from __future__ import annotations

import importlib.util
import os
import runpy

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def main() -> None:
    """Run IPython's kernel in this process, with inline figures when matplotlib_inline exists."""
    # find_spec only looks: the module is not imported, so it is not counted as the analysis'.
    if importlib.util.find_spec("matplotlib_inline") is not None:
        os.environ["MPLBACKEND"] = INLINE_BACKEND
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

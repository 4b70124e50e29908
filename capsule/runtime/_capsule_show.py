"""A matplotlib backend that saves the figures a script shows: `MPLBACKEND=module://_capsule_show`.

It is Agg in every respect but `show()`, which saves each open figure, in figure-number order, as
`shown/<script stem>-figure<N>.png` under the analysis root (CAPSULE_ANALYSIS_ROOT, else the
working directory), as sphinx-gallery's matplotlib scraper does, so that a script that only calls
`plt.show()` still yields outputs. The save runs inside the author's `plt.show()` call, so the
tracer names that line as the call site of the write and sees the figure in Figure.savefig.

A blocking show (the default in a script) closes the figures afterwards, as a window being closed
would; a non-blocking one (`block=False`, `plt.pause`, interactive mode) leaves them open. A name
already written by this process gets a suffix (`-2`, `-3`), so a figure shown twice, or a figure
number reused after a close, never overwrites an earlier picture. Agg's PNG output carries no
date, so the files are byte-identical from run to run.

Written the documented way: https://matplotlib.org/stable/users/explain/figure/backends.html and
matplotlib/backends/backend_template.py (`_Backend.export` fills in the module-level names).
"""

from __future__ import annotations

import os
import sys

from matplotlib import is_interactive
from matplotlib._pylab_helpers import Gcf
from matplotlib.backend_bases import FigureManagerBase, _Backend
from matplotlib.backends.backend_agg import FigureCanvasAgg

SHOWN_FOLDER = "shown"
INTERACTIVE_STEM = "interactive"  # a notebook kernel, `python -c`, stdin or the REPL

_written: set[str] = set()  # the names this process's show() calls have saved so far


def script_stem(argv: list[str] | None = None) -> str:
    """The stem of the running script (`scripts/02_plot.py` -> `02_plot`), or "interactive"."""
    argv = sys.argv if argv is None else argv
    program = argv[0] if argv else ""
    if program in ("", "-", "-c") or os.path.basename(program).startswith("ipykernel"):
        return INTERACTIVE_STEM
    stem = os.path.splitext(os.path.basename(program))[0]
    return stem or INTERACTIVE_STEM


def shown_name(stem: str, number: int, taken: set[str]) -> str:
    """`<stem>-figure<N>.png`, suffixed `-2`, `-3`, ... past the names in taken."""
    base = f"{stem}-figure{number}"
    name, copy = f"{base}.png", 1
    while name in taken:
        copy += 1
        name = f"{base}-{copy}.png"
    return name


def _savefig_shown(manager: FigureManagerBase, folder: str, stem: str) -> None:
    """Save one shown figure as a PNG at the figure's own dpi (rc `savefig.dpi`)."""
    name = shown_name(stem, int(manager.num), _written)
    _written.add(name)
    os.makedirs(folder, exist_ok=True)
    manager.canvas.figure.savefig(os.path.join(folder, name), format="png")


@_Backend.export
class _BackendCapsuleShow(_Backend):
    """Agg's canvas and manager; show() saves the open figures instead of displaying them."""

    backend_version = "capsule-show (Agg)"
    FigureCanvas = FigureCanvasAgg
    FigureManager = FigureManagerBase

    @classmethod
    def show(cls, *, block: bool | None = None) -> None:
        """Save every open figure under shown/; close them unless the show is non-blocking."""
        root = os.environ.get("CAPSULE_ANALYSIS_ROOT") or os.getcwd()
        folder = os.path.join(root, SHOWN_FOLDER)
        stem = script_stem()
        managers = sorted(Gcf.get_all_fig_managers(), key=lambda manager: int(manager.num))
        for manager in managers:
            try:
                _savefig_shown(manager, folder, stem)
            except Exception as error:
                # A window that fails to draw does not end the author's script either.
                sys.stderr.write(f"capsule: could not save figure {manager.num}: {error!r}\n")
        blocking = block if block is not None else not is_interactive()
        if blocking:
            for manager in managers:
                Gcf.destroy(manager)

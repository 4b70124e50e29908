"""Figure tracers: what a plotting library knew of the figure a savefig call is writing.

sitecustomize's audit hook calls `describe(frame)` with the frame of a function whose name
contains "savefig", found on the stack of a write. One tracer per plotting library (as
sphinx-gallery has one scraper per library), listed in TRACERS; the first answer wins.
A tracer runs inside the analysis' own Python: it reads a library only if the analysis already
imported it, never draws or otherwise changes a figure, and answers None when unsure. To add a
library, write `<library>_figure(frame) -> dict | None` below and list it in TRACERS.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, Dict

FigureInfo = Dict[str, object]  # the keys of capsule.model.FigureInfo, JSON-ready

_DIGITS = 4  # floats are rounded so that records compare equal across runs and machines
_TITLE_LOCATIONS = ("center", "left", "right")
_FIGURE_LOCALS = ("self", "fig", "figure")  # Figure.savefig, pyplot.savefig, PdfPages.savefig


def matplotlib_figure(frame: FrameType) -> FigureInfo | None:
    """The matplotlib figure a savefig frame is saving, or None if the frame saves none."""
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is None or "savefig" not in frame.f_code.co_name:
        return None
    variables = frame.f_locals
    figure = _matplotlib_saved_figure(figure_module.Figure, frame, variables)
    if figure is None:
        return None
    # Read while the save runs: the size is that of the saved image (a tight box included).
    width, height = figure.get_size_inches()
    return {
        "library": "matplotlib",
        "title": _matplotlib_title(figure),
        "axis_labels": _matplotlib_axis_labels(figure),
        "width_in": round(float(width), _DIGITS),
        "height_in": round(float(height), _DIGITS),
        "dpi": round(_matplotlib_dpi(figure, variables), _DIGITS),
    }


def _matplotlib_saved_figure(
    figure_class: type, frame: FrameType, variables: Mapping[str, object]
) -> Any:
    """The Figure in the frame's locals; for pyplot.savefig, the current figure; else None."""
    for name in _FIGURE_LOCALS:
        candidate = variables.get(name)
        if isinstance(candidate, figure_class):
            return candidate
    if frame.f_globals.get("__name__") == "matplotlib.pyplot":
        # Gcf.get_active() rather than plt.gcf(), which would create a figure if none is open.
        helpers = sys.modules.get("matplotlib._pylab_helpers")
        manager = helpers.Gcf.get_active() if helpers is not None else None
        candidate = getattr(getattr(manager, "canvas", None), "figure", None)
        if isinstance(candidate, figure_class):
            return candidate
    return None


def _matplotlib_title(figure: Any) -> str:
    """The figure's suptitle, else the non-empty titles of its axes joined by " | "."""
    get_suptitle = getattr(figure, "get_suptitle", None)  # matplotlib >= 3.8
    if get_suptitle is not None:
        suptitle = str(get_suptitle())
    else:
        artist = getattr(figure, "_suptitle", None)
        suptitle = str(artist.get_text()) if artist is not None else ""
    if suptitle:
        return suptitle
    titles = (str(ax.get_title(loc)) for ax in figure.axes for loc in _TITLE_LOCATIONS)
    return " | ".join(title for title in titles if title)


def _matplotlib_axis_labels(figure: Any) -> list[str]:
    """The non-empty x and y labels of every axes of the figure, in order."""
    labels = (str(label) for ax in figure.axes for label in (ax.get_xlabel(), ax.get_ylabel()))
    return [label for label in labels if label]


def _matplotlib_dpi(figure: Any, variables: Mapping[str, object]) -> float:
    """The dpi of the save, resolved as FigureCanvasBase.print_figure resolves it."""
    value = variables.get("dpi")
    keywords = variables.get("kwargs")
    if value is None and isinstance(keywords, Mapping):
        value = keywords.get("dpi")
    if value is None:
        value = sys.modules["matplotlib"].rcParams["savefig.dpi"]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    if value == "figure":
        # print_figure uses the dpi the figure was made with (set_dpi does not change it).
        return float(getattr(figure, "_original_dpi", figure.dpi))
    raise ValueError(f"unexpected savefig dpi {value!r}")


TRACERS: tuple[Callable[[FrameType], FigureInfo | None], ...] = (matplotlib_figure,)


def describe(frame: FrameType) -> FigureInfo | None:
    """Ask each tracer about the frame of a savefig call; the first answer wins; never raises."""
    for tracer in TRACERS:
        try:
            found = tracer(frame)
        except Exception:  # a figure we cannot read is not a reason to fail the analysis
            found = None
        if found is not None:
            return found
    return None

"""capsule's per-process hook, loaded from PYTHONPATH by every Python process of a step.

It must never break the analysis: everything it does is wrapped, and a failure is written to
stderr once, never raised. Standard library only: it runs inside the analysis' own Python.
"""

from __future__ import annotations

import atexit
import json
import os
import sys

_TRACE_DIR = os.environ.get("CAPSULE_TRACE_DIR", "")


def _modules() -> dict[str, str | None]:
    """Top-level name -> file of every module loaded so far in this process.

    A namespace package (`mpl_toolkits`, `google`) has no file of its own: one of its
    submodules' files stands for it, which is what maps it to the right distribution.
    """
    found: dict[str, str | None] = {}
    for name, module in list(sys.modules.items()):
        top = name.partition(".")[0]
        path = getattr(module, "__file__", None)
        if (name == top and path) or found.get(top) is None:
            found[top] = str(path) if path else None
    return found


def _write_record() -> None:
    """Write this process's record of imported modules into the trace folder."""
    try:
        record = {
            "pid": os.getpid(),
            "argv": list(sys.argv),
            "executable": sys.executable,
            "modules": _modules(),
        }
        target = os.path.join(_TRACE_DIR, f"modules-{os.getpid()}.json")
        with open(target + ".tmp", "w", encoding="utf-8") as stream:
            json.dump(record, stream, sort_keys=True)
        os.replace(target + ".tmp", target)
    except Exception as error:  # never fail the analysis because of capsule
        sys.stderr.write(f"capsule: could not record imported modules: {error!r}\n")


def _chain_next_sitecustomize() -> None:
    """Run the sitecustomize this one shadows (a distribution's or a virtualenv's), if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        if not entry or os.path.abspath(entry) == here:
            continue
        candidate = os.path.join(entry, "sitecustomize.py")
        if os.path.isfile(candidate):
            try:
                with open(candidate, encoding="utf-8") as stream:
                    code = compile(stream.read(), candidate, "exec")
                exec(code, {"__name__": "sitecustomize", "__file__": candidate})  # noqa: S102
            except Exception as error:
                sys.stderr.write(f"capsule: the sitecustomize at {candidate} failed: {error!r}\n")
            return


if _TRACE_DIR:
    atexit.register(_write_record)
_chain_next_sitecustomize()

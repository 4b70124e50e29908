"""Run a notebook step: `python -m _capsule_notebook NOTEBOOK`, from the analysis root.

The notebook runs top to bottom in a fresh kernel of the kind its metadata names, with its own
folder as the working directory, as Jupyter runs it, so its relative paths mean what they meant
to the author.
The notebook file itself is never rewritten; with CAPSULE_LOG_DIR set, the executed copy is
stored there. A failing cell ends the step with exit code 1 and the cell's error on stderr.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    """Execute the notebook named by argv[0]; 0 on success, 1 if a cell failed, 2 on bad input."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m _capsule_notebook NOTEBOOK\n")
        return 2
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = argv[0]
    try:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as error:
        sys.stderr.write(f"{path}: not a readable notebook: {error}\n")
        return 2
    kernel = notebook.metadata.get("kernelspec", {}).get("name") or "python3"
    try:
        import matplotlib_inline  # noqa: F401

        # Figures shown in a cell become image outputs, rendered by Agg as savefig would.
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    except ImportError:
        pass
    client = NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=None,
        record_timing=False,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    status = 0
    try:
        client.execute()
    except CellExecutionError as error:
        sys.stderr.write(f"{path}: a cell failed:\n{error}\n")
        status = 1
    log_dir = os.environ.get("CAPSULE_LOG_DIR")
    if log_dir:
        name = path.replace("/", "__")
        nbformat.write(notebook, os.path.join(log_dir, name))  # type: ignore[no-untyped-call]
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

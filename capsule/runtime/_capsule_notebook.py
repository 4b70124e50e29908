"""Run a notebook step: `python -m _capsule_notebook NOTEBOOK`, from the analysis root.

The notebook runs top to bottom in a fresh kernel of the kind its metadata names, with its own
folder as the working directory, as Jupyter runs it, so its relative paths mean what they meant
to the author.
The notebook file itself is never rewritten; with CAPSULE_LOG_DIR set, the executed copy is
stored there. A failing cell ends the step with exit code 1 and the cell's error on stderr.

Each image a code cell showed becomes a file of its own beside the notebook, so that figures
shown rather than saved are still outputs of the step: `<folder>/<stem>/cell<N>-<k>.<ext>` for
the notebook `<folder>/<stem>.ipynb`, N the code cell counted from 1 among code cells, k the
image within that cell counted from 1 (one image shown in several formats shares its k).
Only cells this run executed count: the author's stored outputs of cells after a failing one
are not images of this run. Nothing already in `<stem>/` is removed.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

# Image types a cell output may carry, in the order their files are written, and their suffix.
IMAGE_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/svg+xml": ".svg"}
# Base64-encoded in a notebook; the others are text.
BINARY_TYPES = frozenset({"image/png", "image/jpeg"})


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
    # The kernel inherits these: its tracer names the notebook as the call site of its writes,
    # and maps the kernel's n-th execution to its code cell (blank cells are never sent).
    os.environ["CAPSULE_NOTEBOOK"] = path
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    os.environ["CAPSULE_NOTEBOOK_CELLS"] = ",".join(
        str(number) for number, cell in enumerate(code_cells, start=1) if cell.source.strip()
    )
    try:
        import matplotlib_inline  # noqa: F401

        # Figures shown in a cell become image outputs, rendered by Agg as savefig would.
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    except ImportError:
        pass
    executed: set[int] = set()  # indices in notebook.cells of the cells sent to the kernel

    def note_executed(cell: Any, cell_index: int) -> None:
        """Remember that this run executed the cell (its stored outputs were replaced)."""
        executed.add(cell_index)

    client = NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=None,
        record_timing=False,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        on_cell_execute=note_executed,
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
    folder = image_folder(path)
    try:
        write_images(folder, cell_images(notebook.cells, executed))
    except (OSError, ValueError) as error:
        sys.stderr.write(
            f"{path}: cannot write the images its cells showed into {folder}: {error}\n"
        )
        return 2
    return status


def image_folder(path: str) -> str:
    """The folder of a notebook's cell images: the notebook's path without its suffix."""
    return os.path.splitext(path)[0]


def cell_images(
    cells: Sequence[Mapping[str, Any]], executed: Collection[int]
) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of each image output of the executed code cells, in notebook order.

    Raises ValueError for an image that is not valid base64.
    """
    number = 0
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        number += 1
        if index not in executed:
            continue
        k = 0
        for output in cell.get("outputs", ()):
            data = output.get("data") or {}
            types = [mime for mime in IMAGE_SUFFIXES if mime in data]
            if not types:
                continue
            k += 1
            for mime in types:
                yield f"cell{number}-{k}{IMAGE_SUFFIXES[mime]}", _decode(mime, data[mime])


def _decode(mime: str, value: str | list[str]) -> bytes:
    """The file bytes of one output value: base64-decoded for binary images, else UTF-8 text."""
    text = "".join(value) if isinstance(value, list) else value
    if mime in BINARY_TYPES:
        return base64.b64decode(text)
    return text.encode("utf-8")


def write_images(folder: str, images: Iterator[tuple[str, bytes]]) -> None:
    """Write each (name, bytes) into folder, created when there is a first image."""
    made = False
    for name, data in images:
        if not made:
            os.makedirs(folder, exist_ok=True)
            made = True
        with open(os.path.join(folder, name), "wb") as file:
            file.write(data)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run a notebook step: `python -m _capsule_notebook [--kernel-python PYTHON] NOTEBOOK`.

This is capsule's notebook client. It runs in capsule's own environment (the one capsule is
installed in at build time; runtime-venv, made from runtime.lock, in a capsule), never in the
analysis': its packages (nbclient, nbformat and theirs) are capsule's, not the analysis'. The
kernel it starts is the analysis' process: PYTHON (an interpreter path, or a name looked up on
PATH; default: this interpreter) runs `-m _capsule_kernel`, IPython's kernel, which needs
ipykernel installed there.

The notebook runs top to bottom in that fresh kernel, with its own folder as the working
directory, as Jupyter runs it, so its relative paths mean what they meant to the author.
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
import contextlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any

# Image types a cell output may carry, in the order their files are written, and their suffix.
IMAGE_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/svg+xml": ".svg"}
# Base64-encoded in a notebook; the others are text.
BINARY_TYPES = frozenset({"image/png", "image/jpeg"})


USAGE = "usage: python -m _capsule_notebook [--kernel-python PYTHON] NOTEBOOK\n"
KERNEL_NAME = "capsule-analysis"  # the kernel spec the client writes for the analysis' Python
KERNEL_OPTION = "--kernel-python"
KERNEL_SHUTDOWN_WAIT_S = 120.0  # how long a kernel may take to exit cleanly when asked


def parse_args(argv: Sequence[str]) -> tuple[str, str] | None:
    """(kernel interpreter, notebook path) from the arguments, or None when they are wrong."""
    args = list(argv)
    kernel = sys.executable
    if len(args) == 3 and args[0] == KERNEL_OPTION:
        kernel = args[1]
        args = args[2:]
    if len(args) != 1 or args[0].startswith("-"):
        return None
    return kernel, args[0]


def kernel_argv(python: str) -> list[str]:
    """The kernel spec's argv: the analysis' interpreter running capsule's kernel launcher.

    jupyter_client replaces a bare `python` by its own interpreter, so the path is made absolute
    (looked up on PATH when it is a name).
    """
    found = python if os.sep in python else shutil.which(python) or python
    return [os.path.abspath(found), "-m", "_capsule_kernel", "-f", "{connection_file}"]


def main(argv: list[str]) -> int:
    """Execute the notebook named by argv; 0 on success, 1 if a cell failed, 2 on bad input."""
    parsed = parse_args(argv)
    if parsed is None:
        sys.stderr.write(USAGE)
        return 2
    kernel_python, path = parsed
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as error:
        sys.stderr.write(f"{path}: not a readable notebook: {error}\n")
        return 2
    # The kernel inherits these: its tracer names the notebook as the call site of its writes,
    # and maps the kernel's n-th execution to its code cell (blank cells are never sent).
    os.environ["CAPSULE_NOTEBOOK"] = path
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    os.environ["CAPSULE_NOTEBOOK_CELLS"] = ",".join(
        str(number) for number, cell in enumerate(code_cells, start=1) if cell.source.strip()
    )
    executed: set[int] = set()  # indices in notebook.cells of the cells sent to the kernel
    specs = tempfile.mkdtemp(prefix="capsule-kernel-")
    try:
        status = execute(notebook, path, kernel_argv(kernel_python), specs, executed)
    finally:
        remove_spec(specs)
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


def execute(notebook: Any, path: str, argv: list[str], specs: str, executed: set[int]) -> int:
    """Run every cell in a kernel started with argv; 0, or 1 when a cell failed.

    The kernel spec lives in `specs`, a folder of this run only: no kernel installed on the
    machine (or named by the notebook's metadata) is ever used. Cells run are added to executed.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.makedirs(os.path.join(specs, KERNEL_NAME))
    spec = {"argv": argv, "display_name": "the analysis' Python", "language": "python"}
    with open(os.path.join(specs, KERNEL_NAME, "kernel.json"), "w", encoding="utf-8") as file:
        json.dump(spec, file)
    manager = AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[specs]),
        # The kernel's tracer writes its record at a clean exit: jupyter_client's default (5 s,
        # SIGTERM after half of it) lost it on a loaded machine, and with it the lock's pins.
        shutdown_wait_time=KERNEL_SHUTDOWN_WAIT_S,
    )

    def note_executed(cell: Any, cell_index: int) -> None:
        """Remember that this run executed the cell (its stored outputs were replaced)."""
        executed.add(cell_index)

    client = NotebookClient(
        notebook,
        km=manager,
        timeout=None,
        record_timing=False,
        # IPython keeps no history file: nbclient does this itself for kernels named python3.
        extra_arguments=["--HistoryManager.hist_file=:memory:"],
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
        on_cell_execute=note_executed,
    )
    try:
        # The client shuts the kernel down as when it owns the manager: the kernel's tracer
        # writes its record at a clean exit.
        client.execute(cleanup_kc=True)
    except CellExecutionError as error:
        sys.stderr.write(f"{path}: a cell failed:\n{error}\n")
        return 1
    return 0


def remove_spec(specs: str) -> None:
    """Remove the kernel spec folder by full paths (the tracer reads relative ones as the
    analysis'); what cannot be removed stays in the temporary folder."""
    folder = os.path.join(specs, KERNEL_NAME)
    with contextlib.suppress(OSError):
        os.remove(os.path.join(folder, "kernel.json"))
        os.rmdir(folder)
        os.rmdir(specs)


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

"""Rules about the shape of the code that no ruff rule checks, and ruff itself, so CI runs both.

- no function in capsule/ is longer than MAX_FUNCTION_LINES, unless its `def` line says why
  (`def run_everything(...):  # long: <reason>`);
- each outside world (subprocess, the Docker SDK, jinja2) is imported by its one room only
  (ruff's banned-api says the same per file; this test says it per module and name);
- capsule/ has no import cycle;
- `ruff check` and `ruff format --check` pass on the repository.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "capsule"

MAX_FUNCTION_LINES = 80
LONG_MARKER = "# long:"

# Each outside world and the only modules that may import it (STYLE.md, "One module per outside
# world").
ROOMS: dict[str, frozenset[str]] = {
    "subprocess": frozenset({"capsule.process"}),
    "docker": frozenset({"capsule.backends.docker"}),
    "requests": frozenset({"capsule.backends.docker"}),
    "jinja2": frozenset({"capsule.render"}),
}

# The runtime's modules import each other by top-level name, as they run inside a capsule.
RUNTIME = "capsule.runtime"


def module_name(path: Path) -> str:
    """The dotted name of a module file under the repository: capsule/checks/__init__.py ->
    capsule.checks."""
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_files() -> list[Path]:
    """Every Python file of capsule/, sorted."""
    return sorted(PACKAGE.rglob("*.py"))


def parse(path: Path) -> ast.Module:
    """The syntax tree of a source file."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.AST]]:
    """Every function under `tree` with its qualified name (Class.method, outer.inner)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from functions(node, name + ".")
        else:
            yield from functions(node, prefix)


def long_functions() -> dict[str, int]:
    """Functions over MAX_FUNCTION_LINES without LONG_MARKER on their def line: key -> lines."""
    found: dict[str, int] = {}
    for path in package_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for name, node in functions(parse(path)):
            assert isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and LONG_MARKER not in lines[node.lineno - 1]:
                found[f"{path.relative_to(REPO).as_posix()}::{name}"] = length
    return found


def test_no_function_is_longer_than_the_cap() -> None:
    offenders = long_functions()
    listing = "\n".join(f"  {key}: {length} lines" for key, length in sorted(offenders.items()))
    assert not offenders, (
        f"functions over {MAX_FUNCTION_LINES} lines:\n{listing}\n"
        f"split them, or put `{LONG_MARKER} <reason>` on the def line of a justified exception"
    )


def known_modules() -> set[str]:
    """The dotted names of every module and package of capsule/."""
    return {module_name(path) for path in package_files()}


def _resolve(name: str, known: set[str]) -> str | None:
    """The longest known module that `name` starts with, or a runtime module's full name."""
    if f"{RUNTIME}.{name}" in known:
        return f"{RUNTIME}.{name}"
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def imported_names(tree: ast.AST, module: str, *, is_package: bool = False) -> Iterator[str]:
    """Every name an import statement of the file brings in, absolute, wherever it stands
    (inside functions and `if TYPE_CHECKING:` too): `from a import b` gives a.b, which
    `_resolve` maps to module a.b when there is one, else to a. Importing a submodule runs its
    package's __init__ too, but that is not an edge: a package that imports its own submodules
    would be a cycle by construction."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            yield from (f"{base}.{alias.name}" if base else alias.name for alias in node.names)


def file_imports(path: Path) -> Iterator[str]:
    """imported_names of a file of capsule/."""
    is_package = path.name == "__init__.py"
    return imported_names(parse(path), module_name(path), is_package=is_package)


def import_graph() -> dict[str, set[str]]:
    """capsule's modules -> the capsule modules each imports."""
    known = known_modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for path in package_files():
        source = module_name(path)
        for name in file_imports(path):
            target = _resolve(name, known)
            if target is not None and target != source:
                graph[source].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan), each as a path
    that starts and ends with its alphabetically first module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group: set[str] = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_cycle_through(graph, group) for group in groups)


def _cycle_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest cycle from the first module of `group` back to it, within the group."""
    start = min(group)
    paths = {target: [start, target] for target in sorted(graph[start] & group)}
    queue = list(paths)
    while start not in paths:
        node = queue.pop(0)
        for target in sorted(graph[node] & group):
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    return paths[start]


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


IMPORTS_EXAMPLE = """
import os.path
from capsule import plan
from . import sibling
from .. import other

def late():
    from capsule.compare import model
    if True:
        import docker.errors
"""


def test_imports_are_read_inside_functions_and_relative() -> None:
    tree = ast.parse(IMPORTS_EXAMPLE)
    assert sorted(imported_names(tree, "capsule.pkg.mod")) == [
        "capsule.compare.model",
        "capsule.other",
        "capsule.pkg.sibling",
        "capsule.plan",
        "docker.errors",
        "os.path",
    ]
    assert "capsule.pkg.sibling" in imported_names(tree, "capsule.pkg", is_package=True)


def test_capsule_has_no_import_cycle() -> None:
    found = cycles(import_graph())
    listing = "\n".join("  " + " -> ".join(cycle) for cycle in found)
    assert not found, f"import cycles in capsule/:\n{listing}"


def test_each_outside_world_is_imported_by_its_room_only() -> None:
    trespassers: list[str] = []
    for path in package_files():
        module = module_name(path)
        for name in file_imports(path):
            world = name.partition(".")[0]
            if world in ROOMS and module not in ROOMS[world]:
                trespassers.append(f"  {module} imports {name}")
    rooms = "\n".join(f"  {world}: {sorted(owners)}" for world, owners in ROOMS.items())
    assert not trespassers, (
        "outside worlds imported outside their room:\n"
        + "\n".join(sorted(set(trespassers)))
        + f"\nthe rooms:\n{rooms}"
    )


@pytest.mark.parametrize(
    "argv", [["check", "--no-fix"], ["format", "--check"]], ids=["check", "format"]
)
def test_ruff_passes(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *argv, "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"`ruff {' '.join(argv)} .` failed:\n{done.stdout}{done.stderr}\n"
        "fix it with `.venv/bin/ruff check --fix .` and `.venv/bin/ruff format .`"
    )

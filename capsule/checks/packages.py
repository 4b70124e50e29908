"""Checks on packages: imported but undeclared, unpinned, installed from a path."""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import PurePosixPath

from capsule.checks.context import AuditContext, Check, CodeUnit
from capsule.model import Finding
from capsule.runtime._capsule_inventory import canonical_name

# Import names whose distribution is called something else (PyPI name first, conda's after).
IMPORT_TO_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "sklearn": ("scikit-learn",),
    "skimage": ("scikit-image",),
    "PIL": ("pillow",),
    "cv2": (
        "opencv-python",
        "opencv-python-headless",
        "opencv-contrib-python",
        "opencv",
        "py-opencv",
    ),
    "yaml": ("pyyaml",),
    "bs4": ("beautifulsoup4",),
    "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",),
    "docx": ("python-docx",),
    "pptx": ("python-pptx",),
    "magic": ("python-magic",),
    "jose": ("python-jose",),
    "serial": ("pyserial",),
    "usb": ("pyusb",),
    "Crypto": ("pycryptodome",),
    "OpenSSL": ("pyopenssl",),
    "google": ("protobuf", "google-cloud-storage", "google-api-python-client", "google-auth"),
    "googleapiclient": ("google-api-python-client",),
    "attr": ("attrs",),
    "jwt": ("pyjwt",),
    "git": ("gitpython",),
    "github": ("pygithub",),
    "fitz": ("pymupdf",),
    "Levenshtein": ("python-levenshtein", "levenshtein"),
    "mpl_toolkits": ("matplotlib", "basemap"),
    "umap": ("umap-learn",),
    "hdbscan": ("hdbscan",),
    "tables": ("tables", "pytables"),
    "igraph": ("python-igraph", "igraph"),
    "louvain": ("python-louvain",),
    "community": ("python-louvain",),
    "Bio": ("biopython",),
    "osgeo": ("gdal",),
    "sentencepiece": ("sentencepiece",),
    "torch": ("torch", "pytorch"),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu"),
    "lal": ("lalsuite",),
    "zmq": ("pyzmq",),
    "win32api": ("pywin32",),
    "win32com": ("pywin32",),
    "ruamel": ("ruamel-yaml",),
    "pkg_resources": ("setuptools",),
    "setuptools": ("setuptools",),
    "IPython": ("ipython",),
    "ipykernel": ("ipykernel",),
    "statsmodels": ("statsmodels",),
    "tqdm": ("tqdm",),
    "xgboost": ("xgboost", "py-xgboost"),
}

# The analysis' own requirement files, by name anywhere in the analysis.
REQUIREMENT_TXT = re.compile(r"^requirements[^/]*\.(txt|in)$")
REQUIREMENT_NAMES = ("pyproject.toml", "environment.yml", "environment.yaml", "setup.cfg")
# Modules the Jupyter kernel itself provides to a notebook: a notebook needs not declare them.
KERNEL_MODULES = ("IPython", "ipykernel", "ipython_genutils", "traitlets")
# Conda entries that are not Python packages one imports.
CONDA_NOT_PACKAGES = ("python", "pip")

UNDECLARED = "{module} is imported but {distribution} is not declared in {files}"
UNDECLARED_FIX = (
    "add {distribution} to {file} (capsule pins the version that ran; declaring it lets others "
    "install the analysis without capsule)"
)
NO_REQUIREMENTS = "the analysis imports {modules} but has no requirements file"
NO_REQUIREMENTS_FIX = (
    "add a requirements.txt that lists the packages the analysis imports, e.g. `{first}`"
)
UNPINNED = "{name} is declared without an exact version ({spec})"
UNPINNED_FIX = (
    "pin it as {name}==VERSION with the version you ran (`pip freeze` shows it); capsule's lock "
    "pins it in the capsule anyway, but the requirements file is what others install from"
)
LOCAL_INSTALL = "{name} {version} was installed from {origin}, not from a package index"
LOCAL_INSTALL_FIX = (
    "publish it to a package index (or install it from a VCS URL at a fixed commit, or copy its "
    "code into the analysis); capsule builds a wheel from the source as it is now, which may "
    "not be what ran and which nobody else can install"
)

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")
_EXACT = re.compile(r"^===?\s*[^\s,;*]+\s*(;.*)?$")


@dataclass(frozen=True)
class Requirement:
    """One declared requirement: its distribution, its version specifier and where it is."""

    name: str  # canonical (PEP 503)
    spec: str  # the text after the name, e.g. ">=1.5", "==2.1.0", "" for none
    location: str  # "requirements.txt:3"
    exact: bool  # pinned to one version (or a direct reference, which the author chose)


# ── reading requirement files ─────────────────────────────────────────────────────────────


def requirement_files(files: Iterable[str]) -> list[str]:
    """The analysis' own requirement files among its files, sorted."""
    found = []
    for rel in files:
        path = PurePosixPath(rel)
        if (
            REQUIREMENT_TXT.match(path.name)
            or (path.parent.name == "requirements" and path.suffix in (".txt", ".in"))
            or path.name in REQUIREMENT_NAMES
        ):
            found.append(rel)
    return sorted(found)


def parse_pip_line(text: str, location: str) -> Requirement | None:
    """A requirement from one line of pip syntax, or None for an option, a path or a URL."""
    text = re.sub(r"(^|\s)#.*$", "", text).strip()
    text = re.split(r"\s+--?[A-Za-z]", text, maxsplit=1)[0]  # per-requirement options: --hash
    if not text or text.startswith("-") or "://" in text.split("@", 1)[0] or text[0] in "./~":
        return None
    match = _NAME.match(text)
    if not match:
        return None
    name, rest = match.group(1), match.group(3).strip()
    if rest.startswith("@"):  # a direct reference: `name @ url`, exact by the author's choice
        return Requirement(canonical_name(name), rest, location, exact=True)
    spec = rest.split(";", 1)[0].strip()
    return Requirement(canonical_name(name), spec, location, exact=bool(_EXACT.match(spec)))


def _line_of(lines: list[str], needle: str, start: int = 0) -> int:
    """The 1-based number of the first line at or after start containing needle, else 1."""
    for number, line in enumerate(lines[start:], start=start + 1):
        if needle in line:
            return number
    return 1


def _requirements_txt(rel: str, text: str) -> Iterator[Requirement]:
    """Requirements of a requirements.txt / .in file, joining backslash continuations."""
    pending, first = "", 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not pending:
            first = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        requirement = parse_pip_line(pending + line, f"{rel}:{first}")
        pending = ""
        if requirement:
            yield requirement


def _pyproject(rel: str, text: str) -> Iterator[Requirement]:
    """Requirements of pyproject.toml's [project] dependencies and optional dependencies."""
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return
    if not isinstance(project, dict):
        return
    entries = list(project.get("dependencies", []) or [])
    optional = project.get("optional-dependencies", {}) or {}
    if isinstance(optional, dict):
        for group in optional.values():
            entries.extend(group if isinstance(group, list) else [])
    lines = text.splitlines()
    for entry in entries:
        if isinstance(entry, str):
            requirement = parse_pip_line(entry, f"{rel}:{_line_of(lines, entry)}")
            if requirement:
                yield requirement


def _environment_yml(rel: str, text: str) -> Iterator[Requirement]:
    """Requirements of a conda environment file: its dependencies and their pip: section.

    Read line by line (no YAML parser needed for this flat list): a conda entry `name=1.2.3`
    (conda's own pin syntax) or `name==1.2.3` is exact; `name` or `name>=1` is not.
    """
    in_deps, pip_indent = False, -1
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.strip():
            continue
        indent = len(stripped) - len(stripped.lstrip())
        if indent == 0:
            in_deps = stripped.startswith("dependencies:")
            pip_indent = -1
            continue
        if not in_deps:
            continue
        item = stripped.strip()
        if not item.startswith("- "):
            continue
        item = item[2:].strip().strip("'\"")
        if item.rstrip(":") == "pip" and item.endswith(":"):
            pip_indent = indent
            continue
        location = f"{rel}:{number}"
        if 0 <= pip_indent < indent:
            requirement = parse_pip_line(item, location)
            if requirement:
                yield requirement
            continue
        pip_indent = -1
        item = item.split("::", 1)[-1]  # a channel prefix, conda-forge::numpy
        match = _NAME.match(item)
        if not match or canonical_name(match.group(1)) in CONDA_NOT_PACKAGES:
            continue
        spec = match.group(3).strip()
        exact = bool(re.match(r"^==?\s*[^\s,*|<>]+$", spec.split(" ")[0])) if spec else False
        yield Requirement(canonical_name(match.group(1)), spec, location, exact)


def _setup_cfg(rel: str, text: str) -> Iterator[Requirement]:
    """Requirements of setup.cfg's [options] install_requires."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        value = parser.get("options", "install_requires", fallback="")
    except configparser.Error:
        return
    lines = text.splitlines()
    start = _line_of(lines, "install_requires") - 1
    for entry in value.replace(";", "\n;").splitlines():
        entry = entry.strip()
        if entry and not entry.startswith(";"):
            requirement = parse_pip_line(entry, f"{rel}:{_line_of(lines, entry, start)}")
            if requirement:
                yield requirement


def declared_requirements(ctx: AuditContext) -> list[Requirement]:
    """Every requirement the analysis declares, in file order; unreadable files are skipped."""
    found: list[Requirement] = []
    for rel in requirement_files(ctx.files):
        try:
            text = (ctx.root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        name = PurePosixPath(rel).name
        if name == "pyproject.toml":
            found.extend(_pyproject(rel, text))
        elif name in ("environment.yml", "environment.yaml"):
            found.extend(_environment_yml(rel, text))
        elif name == "setup.cfg":
            found.extend(_setup_cfg(rel, text))
        else:
            found.extend(_requirements_txt(rel, text))
    return found


# ── reading imports ───────────────────────────────────────────────────────────────────────


def local_modules(files: Iterable[str]) -> set[str]:
    """Names the analysis could import from itself: every .py file's stem and every folder."""
    names: set[str] = set()
    for rel in files:
        parts = PurePosixPath(rel).parts
        names.update(parts[:-1])
        leaf = PurePosixPath(parts[-1])
        if leaf.suffix in (".py", ".pyx", ".so", ".pyd"):
            names.add(leaf.name.split(".", 1)[0])
    return names


def _optional_imports(tree: ast.Module) -> set[int]:
    """ids of import nodes inside a `try` that catches ImportError: optional by design."""
    optional: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = {
            name.id
            for handler in node.handlers
            if handler.type is not None
            for name in ast.walk(handler.type)
            if isinstance(name, ast.Name)
        }
        if caught & {"ImportError", "ModuleNotFoundError"}:
            for statement in node.body:
                optional.update(id(sub) for sub in ast.walk(statement))
    return optional


def third_party_imports(ctx: AuditContext) -> dict[str, str]:
    """Top-level module -> location of its first import, for modules neither stdlib nor local."""
    local = local_modules(ctx.files)
    first: dict[str, str] = {}
    for unit in ctx.code:
        if unit.tree is None:
            continue
        optional = _optional_imports(unit.tree)
        for node in _import_nodes(unit):
            if id(node) in optional:
                continue
            for module in _top_modules(node):
                if module in sys.stdlib_module_names or module in local or module in first:
                    continue
                if unit.cell and module in KERNEL_MODULES:
                    continue
                first[module] = unit.location(node.lineno)
    return first


def _import_nodes(unit: CodeUnit) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a code unit, in source order."""
    assert unit.tree is not None  # noqa: S101 - callers skip units that do not parse
    nodes = [n for n in ast.walk(unit.tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    return sorted(nodes, key=lambda n: (n.lineno, n.col_offset))


def _top_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The top-level modules an import statement imports; none for a relative import."""
    if isinstance(node, ast.ImportFrom):
        return [node.module.split(".")[0]] if node.level == 0 and node.module else []
    return [alias.name.split(".")[0] for alias in node.names]


@cache
def _installed_owners() -> dict[str, list[str]]:
    """Top-level module -> distributions that provide it, in the Python running capsule."""
    return dict(importlib.metadata.packages_distributions())


def distributions_for(module: str) -> list[str]:
    """Canonical names of the distributions that may provide a top-level module, best first."""
    names = [*IMPORT_TO_DISTRIBUTIONS.get(module, ()), *_installed_owners().get(module, ()), module]
    return list(dict.fromkeys(canonical_name(name) for name in names))


# ── the checks ────────────────────────────────────────────────────────────────────────────


def check_undeclared_import(ctx: AuditContext) -> Iterator[Finding]:
    """A third-party module the code imports whose distribution no requirement file declares."""
    files = requirement_files(ctx.files)
    if not files:
        return  # no-requirements-file says it once
    declared = {requirement.name for requirement in declared_requirements(ctx)}
    for module, location in sorted(third_party_imports(ctx).items(), key=lambda kv: kv[1]):
        candidates = distributions_for(module)
        if declared & set(candidates):
            continue
        yield Finding(
            check="undeclared-import",
            severity="warning",
            message=UNDECLARED.format(
                module=module, distribution=candidates[0], files=", ".join(files)
            ),
            location=location,
            fix=UNDECLARED_FIX.format(distribution=candidates[0], file=files[0]),
        )


def check_no_requirements_file(ctx: AuditContext) -> Iterator[Finding]:
    """The analysis imports third-party modules but declares its requirements nowhere."""
    if requirement_files(ctx.files):
        return
    imports = sorted(third_party_imports(ctx).items(), key=lambda kv: kv[1])
    if not imports:
        return
    names = [module for module, _ in imports]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    yield Finding(
        check="no-requirements-file",
        severity="info",
        message=NO_REQUIREMENTS.format(modules=shown),
        location=imports[0][1],
        fix=NO_REQUIREMENTS_FIX.format(first=distributions_for(names[0])[0]),
    )


def check_unpinned_requirement(ctx: AuditContext) -> Iterator[Finding]:
    """A declared requirement without an exact version (==), reported once per distribution."""
    seen: set[str] = set()
    for requirement in declared_requirements(ctx):
        if requirement.exact or requirement.name in seen:
            continue
        seen.add(requirement.name)
        yield Finding(
            check="unpinned-requirement",
            severity="info",
            message=UNPINNED.format(
                name=requirement.name, spec=requirement.spec or "no version at all"
            ),
            location=requirement.location,
            fix=UNPINNED_FIX.format(name=requirement.name),
        )


def check_local_install(ctx: AuditContext) -> Iterator[Finding]:
    """A distribution the run imported that came from a path, an editable checkout or a VCS."""
    if ctx.run is None:
        return
    imports = third_party_imports(ctx)
    for name, version, origin in sorted(ctx.run.imported_distributions):
        if not origin:
            continue
        canonical = canonical_name(name)
        location = next(
            (loc for module, loc in imports.items() if canonical in distributions_for(module)),
            "",
        )
        yield Finding(
            check="local-install",
            severity="warning",
            message=LOCAL_INSTALL.format(name=name, version=version, origin=origin),
            location=location,
            fix=LOCAL_INSTALL_FIX,
        )


CHECKS: dict[str, Check] = {
    "undeclared-import": check_undeclared_import,
    "no-requirements-file": check_no_requirements_file,
    "unpinned-requirement": check_unpinned_requirement,
    "local-install": check_local_install,
}

"""The plan of an analysis: its steps, data and outputs, read from capsule.toml or detected."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from capsule import notebooks
from capsule.checks.secrets import secret_in_text
from capsule.errors import PlanError
from capsule.hashing import matches, walk
from capsule.model import Plan, Step

PLAN_FILE = "capsule.toml"

ANALYSIS_KEYS = ("title", "authors", "python", "source_date_epoch")
FILES_KEYS = ("data", "outputs", "exclude", "allow_secrets")
STEP_KEYS = (
    "name",
    "script",
    "notebook",
    "command",
    "args",
    "cwd",
    "timeout",
    "env",
    "allow_failure",
)
TOP_KEYS = ("analysis", "files", "steps")

DATA_FOLDERS = ("data", "raw", "input", "inputs", "dataset", "datasets")
OUTPUT_FOLDERS = ("figures", "figs", "plots", "tables", "results", "output", "outputs", "out")
DATA_SUFFIXES = (
    ".csv",
    ".tsv",
    ".json",
    ".parquet",
    ".xlsx",
    ".xls",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".nc",
    ".feather",
    ".pkl",
    ".sav",
    ".dta",
    ".txt",
    ".zip",
    ".gz",
)
CODE_SUFFIXES = (".py", ".ipynb", ".sh", ".r", ".R", ".jl", ".m", ".do", ".sql", ".mk", ".pyx")
CODE_NAMES = (
    "Makefile",
    "Snakefile",
    "Dockerfile",
    "capsule.toml",
    "requirements.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "environment.yml",
    "dvc.yaml",
)
# Folders that are not the analysis: no step is looked for in them (their files are still
# packaged), and the proposal says which it left out and why.
NOT_ANALYSIS_FOLDERS = {
    "tests": "tests",
    "test": "tests",
    "docs": "documentation",
    "doc": "documentation",
    "examples": "examples",
    "build": "build output",
    "dist": "build output",
    "website": "a website",
    "site": "a website",
    "_site": "a website",
    "tools": "tooling",
    "vendor": "vendored code",
    "third_party": "vendored code",
    "thirdparty": "vendored code",
    "site-packages": "installed packages",
}
# An old copy of the analysis: an earlier edition, an archive, a backup.
_OLD_COPY = re.compile(
    r"(^|[-_ .])(old|archived?|deprecated|legacy|backup|bak|previous|obsolete)([-_ .]|$)"
    r"|(^|[-_ ])(\d+(st|nd|rd|th)[-_ ]?ed(ition)?|ed(ition)?[-_ ]?\d+)([-_ ]|$)",
    re.IGNORECASE,
)
# Single entry points, in the order one is preferred when several are there.
ENTRY_SCRIPTS = (
    "run_all.py",
    "main.py",
    "run.py",
    "analysis.py",
    "analyse.py",
    "analyze.py",
    "generate.py",
    "make_figures.py",
    "make_plots.py",
    "plot.py",
    "plots.py",
    "figures.py",
)
ENTRY_SHELL = ("run.sh", "run_all.sh")
# Scripts named for what they make: figure-1.py, fig_2b.py, plot3.py, table-2.py, …
_MAKES_ONE = re.compile(
    r"^(fig|figure|plot|table|tab)[-_ ]?(s?\d+|[sS]\d+)[a-z]?([-_ ].*)?\.py$", re.IGNORECASE
)
NO_STEPS_HINT = (
    "write the steps into capsule.toml yourself, a [[steps]] table each, in the order they "
    'run (script = "analyse.py", notebook = "paper.ipynb" or command = ["make", "all"]); '
    "or number the scripts in that order (01_clean.py, 02_plot.py)"
)
# What a step's env may not set: capsule's own settings (see runner.step_environment).
RESERVED_VARIABLES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "TMPDIR",
        "PYTHONPATH",
        "PYTHONHASHSEED",
        "SOURCE_DATE_EPOCH",
        "TZ",
        "LC_ALL",
        "LANG",
        "MATPLOTLIBRC",
        "MPLCONFIGDIR",
        "MPLBACKEND",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_DATA_DIR",
        "JUPYTER_RUNTIME_DIR",
        "IPYTHONDIR",
    }
)
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SECRET_NAME = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSWD|API_?KEY|PRIVATE_?KEY)", re.IGNORECASE)
SNAKEMAKE = ("snakemake", "--cores", "1")
_NUMBERED = re.compile(r"^(\d+)[^\d]")
_DIGITS = re.compile(r"(\d+)")


def load(root: Path) -> Plan:
    """The plan of the analysis at root: its capsule.toml if there is one, else the detected one."""
    check_root(root)
    if (root / PLAN_FILE).is_file():
        return read_toml(root)
    return detect(root)


def check_root(root: Path) -> None:
    """Refuse a path that is not a folder, or an empty one, with a hint."""
    if not root.exists():
        raise PlanError(f"{root} does not exist", hint="give the folder of the analysis")
    if not root.is_dir():
        raise PlanError(
            f"{root} is not a folder",
            hint="capsule works on the folder that holds the analysis' scripts and data",
        )
    if next(iter(walk(root)), None) is None:
        raise PlanError(f"{root} is empty", hint="point capsule at the analysis folder itself")


def read_toml(root: Path) -> Plan:
    """Read and validate root/capsule.toml."""
    path = root / PLAN_FILE
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PlanError(f"{path} is not valid TOML: {error}", hint="fix the syntax") from error
    _refuse_unknown(doc, TOP_KEYS, PLAN_FILE)
    analysis = _table(doc, "analysis")
    files = _table(doc, "files")
    _refuse_unknown(analysis, ANALYSIS_KEYS, "[analysis]")
    _refuse_unknown(files, FILES_KEYS, "[files]")
    raw_steps = doc.get("steps", [])
    if not isinstance(raw_steps, list) or not raw_steps:
        raise PlanError(
            f"{path} lists no [[steps]]",
            hint="add at least one [[steps]] table with script, notebook or command",
        )
    steps = tuple(_step(root, raw, index) for index, raw in enumerate(raw_steps, start=1))
    _refuse_duplicate_names(steps)
    epoch = analysis.get("source_date_epoch")
    if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0):
        raise PlanError(
            "[analysis] source_date_epoch must be a whole number of seconds since 1970",
            hint="for example source_date_epoch = 1700000000, or remove it to use the commit time",
        )
    return Plan(
        title=_str(analysis, "title", "[analysis]") or root.resolve().name,
        authors=_str_list(analysis, "authors", "[analysis]") or citation_authors(root),
        python=_str(analysis, "python", "[analysis]"),
        source_date_epoch=epoch,
        steps=steps,
        data=_str_list(files, "data", "[files]"),
        outputs=_str_list(files, "outputs", "[files]"),
        exclude=_str_list(files, "exclude", "[files]"),
        allow_secrets=_str_list(files, "allow_secrets", "[files]"),
        origin="capsule.toml",
    )


class NoStepsFound(PlanError):
    """The folder's layout suggests no step: capsule.toml must list them."""


def detect(root: Path) -> Plan:
    """Propose a plan from the folder's layout: numbered scripts and notebooks, or a Makefile."""
    check_root(root)
    files = list(walk(root))
    steps = _detect_steps(root, files)
    if not steps:
        raise NoStepsFound(f"found no steps to run in {root}", hint=NO_STEPS_HINT)
    return _layout(root, files, steps)


def without_steps(root: Path) -> Plan:
    """The folder's data and outputs as detect sees them, with no step: for a static audit."""
    check_root(root)
    return _layout(root, list(walk(root)), [])


def _layout(root: Path, files: list[str], steps: list[Step]) -> Plan:
    """The plan of the folder's layout around these steps."""
    outputs = tuple(f"{name}/**" for name in OUTPUT_FOLDERS if (root / name).is_dir())
    data_folders = [name for name in DATA_FOLDERS if (root / name).is_dir()]
    loose_data = [
        rel
        for rel in files
        if "/" not in rel and rel.endswith(DATA_SUFFIXES) and rel not in ("requirements.txt",)
    ]
    return Plan(
        title=_readme_title(root) or root.resolve().name,
        authors=citation_authors(root),
        steps=tuple(steps),
        data=tuple(f"{name}/**" for name in data_folders) + tuple(loose_data),
        outputs=outputs,
        exclude=(),
        origin="detected",
    )


def _detect_steps(root: Path, files: list[str]) -> list[Step]:
    """Steps in the order the folder suggests (see docs: how build finds the plan)."""
    if (root / "Makefile").is_file():
        return [Step(name="make", kind="command", args=("make",))]
    if (root / "Snakefile").is_file():
        return [Step(name="snakemake", kind="command", args=SNAKEMAKE)]
    candidates = [
        rel for rel in files if rel.endswith((".py", ".ipynb")) and not _left_out_folder(rel)[0]
    ]
    for found in (
        _numbered(candidates),
        sorted((rel for rel in candidates if _MAKES_ONE.match(_name(rel))), key=_natural),
        _entry_points(root),
        sorted((rel for rel in candidates if rel.endswith(".ipynb")), key=_natural),
    ):
        if found:
            return _steps_for(found)
    return []


def left_out(files: list[str]) -> dict[str, str]:
    """The folders no step was looked for in (folder -> why), outermost only."""
    found: dict[str, str] = {}
    for rel in files:
        folder, why = _left_out_folder(rel)
        if folder:
            found.setdefault(folder, why)
    return found


def _left_out_folder(rel: str) -> tuple[str, str]:
    """The outermost folder of `rel` that is not the analysis, and why; ("", "") if none is."""
    parts = rel.split("/")[:-1]
    for depth, part in enumerate(parts, start=1):
        why = _not_analysis(part)
        if why:
            return "/".join(parts[:depth]), why
    return "", ""


def _not_analysis(folder: str) -> str:
    """Why a folder of that name is not the analysis, or ""."""
    if folder in NOT_ANALYSIS_FOLDERS:
        return NOT_ANALYSIS_FOLDERS[folder]
    if _OLD_COPY.search(folder):
        return "an old copy"
    return ""


def _numbered(candidates: list[str]) -> list[str]:
    """Scripts and notebooks whose names start with a number, in that number's order."""
    numbered = [
        (int(match.group(1)), rel) for rel in candidates if (match := _NUMBERED.match(_name(rel)))
    ]
    return [rel for _number, rel in sorted(numbered)]


def _entry_points(root: Path) -> list[str]:
    """The single entry point at the top of the folder, if there is one."""
    found = next((name for name in (*ENTRY_SCRIPTS, *ENTRY_SHELL) if (root / name).is_file()), "")
    return [found] if found else []


def _name(rel: str) -> str:
    """The file name of a relative path."""
    return rel.rsplit("/", 1)[-1]


def _natural(rel: str) -> tuple[object, ...]:
    """Sort key putting figure-2 before figure-10."""
    return tuple(int(part) if part.isdigit() else part.lower() for part in _DIGITS.split(rel))


def _steps_for(paths: list[str]) -> list[Step]:
    """A step per file, named after the file; by its path where two files share a name."""
    stems = [Path(rel).stem for rel in paths]
    steps = []
    for rel, stem in zip(paths, stems, strict=True):
        name = stem if stems.count(stem) == 1 else str(Path(rel).with_suffix("")).replace("/", "-")
        if rel.endswith(".ipynb"):
            steps.append(Step(name=name, kind="notebook", path=rel))
        elif rel.endswith(".sh"):
            steps.append(Step(name=name, kind="command", args=("sh", rel)))
        else:
            steps.append(Step(name=name, kind="script", path=rel))
    return steps


def citation_authors(root: Path) -> tuple[str, ...]:
    """The authors a CITATION.cff names ("Given Family", or an entity's name), in order.

    Reads the small subset of YAML that CITATION.cff files use; () when there is none.
    """
    path = root / "CITATION.cff"
    if not path.is_file():
        return ()
    authors: list[str] = []
    current: dict[str, str] = {}
    in_authors = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "-")):  # a top-level key ends the authors list
            in_authors = line.split(":", 1)[0].strip() == "authors"
            continue
        if not in_authors:
            continue
        item = line.strip()
        if item.startswith("- "):
            if current:
                authors.append(_cff_name(current))
            current = {}
            item = item[2:]
        key, _, value = item.partition(":")
        current[key.strip()] = value.strip().strip("\"'")
    if current:
        authors.append(_cff_name(current))
    return tuple(name for name in authors if name)


def _cff_name(person: dict[str, str]) -> str:
    """A person's or entity's name from CITATION.cff fields."""
    given, family = person.get("given-names", ""), person.get("family-names", "")
    return " ".join(part for part in (given, family) if part) or person.get("name", "")


def _readme_title(root: Path) -> str:
    """The first Markdown heading of the folder's README, if any."""
    for name in ("README.md", "readme.md", "README.markdown"):
        readme = root / name
        if readme.is_file():
            for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def _step(root: Path, raw: object, index: int) -> Step:
    """Validate one [[steps]] table."""
    where = f"step {index} of {PLAN_FILE}"
    if not isinstance(raw, dict):
        raise PlanError(f"{where} is not a table", hint="write each step as a [[steps]] table")
    _refuse_unknown(raw, STEP_KEYS, where)
    kinds = [key for key in ("script", "notebook", "command") if key in raw]
    if len(kinds) != 1:
        raise PlanError(
            f"{where} must have exactly one of script, notebook or command (has {kinds or 'none'})",
            hint='for example script = "scripts/01_clean.py"',
        )
    kind = kinds[0]
    if kind == "command":
        command = raw["command"]
        argv = tuple(shlex.split(command)) if isinstance(command, str) else command
        if not argv or not all(isinstance(part, str) for part in argv):
            raise PlanError(f"{where}: command must be a string or a list of strings")
        if "args" in raw:
            raise PlanError(f"{where}: args goes with script; put them in the command")
        step = Step(name=str(raw.get("name") or argv[0]), kind="command", args=tuple(argv))
        return _with_options(root, step, raw, where)
    rel = raw[kind]
    if not isinstance(rel, str) or not rel:
        raise PlanError(f"{where}: {kind} must be a path relative to the analysis folder")
    _check_step_file(root, rel, kind, where)
    args = raw.get("args", [])
    if kind == "notebook" and args:
        raise PlanError(f"{where}: a notebook step takes no args")
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise PlanError(f"{where}: args must be a list of strings", hint='args = ["--seed", "1"]')
    name = str(raw.get("name") or Path(rel).stem)
    path = Path(rel).as_posix()
    if kind == "notebook":
        return _with_options(root, Step(name=name, kind="notebook", path=path), raw, where)
    step = Step(name=name, kind="script", path=path, args=tuple(args))
    return _with_options(root, step, raw, where)


def _with_options(root: Path, step: Step, raw: dict[str, Any], where: str) -> Step:
    """The step with its options: cwd, timeout and env, each checked."""
    cwd = raw.get("cwd", "")
    if not isinstance(cwd, str) or not _inside(cwd) or not (root / cwd).is_dir():
        raise PlanError(
            f"{where}: cwd {cwd!r} is not a folder of the analysis",
            hint='give the folder the step runs in, relative to capsule.toml: cwd = "chapter3"',
        )
    timeout = raw.get("timeout", 0)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0:
        raise PlanError(
            f"{where}: timeout must be a whole number of seconds",
            hint="timeout = 600 stops the step after ten minutes; leave it out for no limit",
        )
    env = raw.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise PlanError(f"{where}: env must be a table of strings", hint='env = {LEVEL = "3"}')
    for variable, value in env.items():
        _check_setting(variable, value, where)
    allowed = raw.get("allow_failure", False)
    if not isinstance(allowed, bool):
        raise PlanError(f"{where}: allow_failure must be true or false")
    cwd = Path(cwd).as_posix() if cwd else ""
    return replace(
        step,
        cwd="" if cwd == "." else cwd,
        timeout_s=timeout,
        env=tuple(sorted(env.items())),
        allow_failure=allowed,
    )


def _inside(rel: str) -> bool:
    """Whether a relative path stays inside the folder it is relative to."""
    return not Path(rel).is_absolute() and ".." not in Path(rel).parts


def _check_setting(variable: str, value: str, where: str) -> None:
    """An env setting of a step: a plain name capsule does not set itself, and no secret."""
    if (
        not _VARIABLE.fullmatch(variable)
        or variable in RESERVED_VARIABLES
        or variable.startswith("CAPSULE_")
    ):
        raise PlanError(
            f"{where}: env cannot set {variable!r}",
            hint="capsule sets PATH, HOME, PYTHONPATH, the determinism settings and CAPSULE_* "
            "itself; name another variable",
        )
    if secret_in_text(f"{variable} = {value}") is not None or _SECRET_NAME.search(variable):
        raise PlanError(
            f"{where}: env {variable} looks like a secret, and a capsule gets published",
            hint="read secrets from the reviewer's own environment at run time, never from "
            "capsule.toml",
        )


def _check_step_file(root: Path, rel: str, kind: str, where: str) -> None:
    """The file of a script or notebook step exists inside the analysis, and a notebook parses."""
    if Path(rel).is_absolute() or ".." in Path(rel).parts:
        raise PlanError(
            f"{where}: {rel} is not inside the analysis folder",
            hint="give the path relative to the folder that holds capsule.toml",
        )
    path = root / rel
    if not path.is_file():
        raise PlanError(
            f"{where}: {kind} {rel} does not exist",
            hint=f"check the path, relative to {root}",
        )
    if kind == "notebook":
        check_notebook(path, rel)


def check_notebook(path: Path, rel: str) -> None:
    """Refuse a notebook that is not valid JSON with cells."""
    try:
        notebooks.load(path)
    except notebooks.NotebookError as error:
        raise PlanError(
            f"notebook {rel} cannot be read as a notebook: {error}",
            hint="open it in Jupyter and save it again, or restore it from version control",
        ) from error


def _refuse_duplicate_names(steps: tuple[Step, ...]) -> None:
    seen: set[str] = set()
    for step in steps:
        if step.name in seen:
            raise PlanError(
                f"two steps are named {step.name!r} in {PLAN_FILE}",
                hint="give each step its own name = ...",
            )
        seen.add(step.name)


def _refuse_unknown(table: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise PlanError(
            f"unknown key {unknown[0]!r} in {where}",
            hint=f"the keys {where} takes are: {', '.join(known)}",
        )


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise PlanError(f"{key} in {PLAN_FILE} must be a table", hint=f"write it as [{key}]")
    return value


def _str(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise PlanError(f"{key} in {where} must be a string")
    return value


def _str_list(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PlanError(f"{key} in {where} must be a list of strings", hint=f'{key} = ["data/**"]')
    return tuple(value)


def is_code(rel: str) -> bool:
    """Whether a file is code (a script, a notebook, a Makefile, a manifest), never data."""
    name = rel.rsplit("/", 1)[-1]
    return name in CODE_NAMES or name.endswith(CODE_SUFFIXES)


def is_output(rel: str, plan: Plan) -> bool:
    """Whether a relative path is declared an output by the plan."""
    return matches(rel, plan.outputs)


@dataclass(frozen=True)
class Proposal:
    """What `capsule init` proposes: the plan, its capsule.toml text, the folders left out."""

    plan: Plan
    text: str
    left_out: dict[str, str]  # folder -> why no step was looked for in it


def propose(
    root: Path, *, force: bool = False, write: bool = True, proposed: Plan | None = None
) -> Proposal:
    """Render a plan of root as capsule.toml (`proposed`, else the one detected from names);
    write it unless asked not to. An existing capsule.toml is never overwritten without force.
    """
    from capsule.render import render

    detected = proposed or detect(root)
    skipped = left_out(list(walk(root)))
    text = render("capsule.toml.j2", plan=detected, left_out=skipped)
    if write:
        check_writable(root, force=force)
        (root / PLAN_FILE).write_text(text, encoding="utf-8")
    return Proposal(plan=detected, text=text, left_out=skipped)


def check_writable(root: Path, *, force: bool) -> None:
    """Refuse to replace an existing capsule.toml without force."""
    check_root(root)
    target = root / PLAN_FILE
    if target.exists() and not force:
        raise PlanError(
            f"{target} already exists",
            hint="edit it, or pass --force to replace it with a new proposal",
        )

"""Checks on what the analysis' code shows: paths, randomness, time, ordering.

Every check reads the syntax trees parsed once by capsule/audit.py, never runs the code, and
groups the units of one file (a script, or all code cells of one notebook) so that an import or a
seed in one cell counts for the cells after it. Names are resolved through the unit's imports:
`np.random.rand` is `numpy.random.rand` after `import numpy as np`, `RF` is
`sklearn.ensemble.RandomForestClassifier` after `from sklearn.ensemble import
RandomForestClassifier as RF`. Each check is documented in docs/audit-checks/code.md.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from capsule.checks.context import AuditContext, Check, CodeUnit
from capsule.model import Finding

# ── user-facing fixes (constants, so tests and docs can name them) ────────────────────────

FIX_ABSOLUTE_PATH = (
    "make it relative to the analysis folder "
    "(e.g. Path(__file__).parent / 'data' / 'x.csv'), or pass it as an argument"
)
FIX_RANDOM_PYTHON = "call random.seed(<int>) once at the top, or use rng = random.Random(<int>)"
FIX_RANDOM_NUMPY = (
    "use rng = np.random.default_rng(<int>) and draw from rng, or call np.random.seed(<int>) "
    "once at the top"
)
FIX_RANDOM_GENERATOR = "give it a seed: {call}(<int>)"
FIX_RANDOM_SKLEARN = "pass random_state=<int> (one constant, e.g. RANDOM_STATE = 42)"
FIX_WALL_CLOCK = (
    "use a fixed date (SOURCE_DATE_EPOCH, which capsule sets) or leave it out of outputs"
)
FIX_UNORDERED = "wrap it in sorted(...)"
FIX_DOES_NOT_PARSE = "fix the syntax error (run `python -m py_compile {path}` to see it)"

# ── tables ────────────────────────────────────────────────────────────────────────────────

# First folders (lower case) of absolute paths that are someone's data, not the system's.
_PATH_ROOTS = frozenset(
    {
        "home", "Users", "data", "mnt", "media", "opt", "srv", "scratch", "tmp", "var", "nfs",
        "gpfs", "lustre", "volumes", "work", "projects", "storage", "shared", "net", "root",
        "users", "documents and settings", "onedrive", "temp",
    }
)  # fmt: skip
# System paths that exist on every machine the capsule runs on.
_SYSTEM_PREFIXES = ("/dev/", "/proc/", "/sys/")
_POSIX_PATH = re.compile(r"^(?:/[\w.~@%+=, -]+){2,}/?$")
# A drive letter or a \\server share, then folders: C:\Users\ana\data.csv, \\nas\lab\x.csv
_WINDOWS_PATH = re.compile(r"^([A-Za-z]:|\\\\[\w.-]+)((?:[\\/][\w .~@%+=,$-]+)+)[\\/]?$")
_HAS_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_HOME_CALLS = frozenset({"os.path.expanduser", "pathlib.Path.home"})
_HOME_VARIABLES = frozenset({"HOME", "USERPROFILE"})

# Functions of Python's `random` module that draw from its global generator.
_PYTHON_RANDOM = frozenset(
    {
        "random", "randint", "randrange", "choice", "choices", "shuffle", "sample", "uniform",
        "gauss", "normalvariate", "lognormvariate", "expovariate", "betavariate",
        "gammavariate", "triangular", "vonmisesvariate", "paretovariate", "weibullvariate",
        "getrandbits", "randbytes", "binomialvariate",
    }
)  # fmt: skip
# Functions of NumPy's legacy global generator (numpy.random.<name>).
_NUMPY_GLOBAL = frozenset(
    {
        "rand", "randn", "randint", "random", "random_sample", "random_integers", "ranf",
        "sample", "choice", "shuffle", "permutation", "bytes", "normal", "uniform", "binomial",
        "poisson", "exponential", "beta", "gamma", "lognormal", "multinomial",
        "multivariate_normal", "standard_normal", "standard_t", "laplace", "logistic",
        "geometric", "dirichlet", "chisquare", "f", "gumbel", "hypergeometric", "pareto",
        "rayleigh", "triangular", "vonmises", "wald", "weibull", "zipf",
    }
)  # fmt: skip
# Generators and bit generators that take their seed from the OS when given none.
_UNSEEDED_CONSTRUCTORS = frozenset(
    {
        "random.Random",
        "numpy.random.default_rng",
        "numpy.random.RandomState",
        "numpy.random.SeedSequence",
        "numpy.random.PCG64",
        "numpy.random.PCG64DXSM",
        "numpy.random.MT19937",
        "numpy.random.Philox",
        "numpy.random.SFC64",
    }
)
# scikit-learn estimators and splitters whose result depends on random_state; the value names
# the keyword that must be True for randomness to be used ("" when it always is).
_SKLEARN_RANDOM: dict[str, tuple[str, bool]] = {
    "RandomForestClassifier": ("", True),
    "RandomForestRegressor": ("", True),
    "ExtraTreesClassifier": ("", True),
    "ExtraTreesRegressor": ("", True),
    "GradientBoostingClassifier": ("", True),
    "GradientBoostingRegressor": ("", True),
    "DecisionTreeClassifier": ("", True),
    "DecisionTreeRegressor": ("", True),
    "BaggingClassifier": ("", True),
    "BaggingRegressor": ("", True),
    "IsolationForest": ("", True),
    "SGDClassifier": ("", True),
    "SGDRegressor": ("", True),
    "MLPClassifier": ("", True),
    "MLPRegressor": ("", True),
    "LinearSVC": ("", True),
    "KMeans": ("", True),
    "MiniBatchKMeans": ("", True),
    "GaussianMixture": ("", True),
    "TSNE": ("", True),
    "TruncatedSVD": ("", True),
    "RandomizedSearchCV": ("", True),
    "ShuffleSplit": ("", True),
    "StratifiedShuffleSplit": ("", True),
    "GroupShuffleSplit": ("", True),
    "RepeatedKFold": ("", True),
    "RepeatedStratifiedKFold": ("", True),
    # (keyword, its default): random only when the keyword is true
    "KFold": ("shuffle", False),
    "StratifiedKFold": ("shuffle", False),
    "train_test_split": ("shuffle", True),
}

# Sources of the time, the machine or the person running the code.
_WALL_CLOCK = frozenset(
    {
        "time.time",
        "time.time_ns",
        "datetime.datetime.now",
        "datetime.datetime.today",
        "datetime.datetime.utcnow",
        "datetime.date.today",
        "pandas.Timestamp.now",
        "pandas.Timestamp.today",
        "pandas.Timestamp.utcnow",
        "socket.gethostname",
        "socket.getfqdn",
        "platform.node",
        "getpass.getuser",
        "os.getlogin",
        "uuid.uuid1",
        "uuid.uuid4",
    }
)
# Functions that read the current time only when called without a time of their own.
_WALL_CLOCK_WITHOUT_ARGUMENT = frozenset(
    {"time.ctime", "time.localtime", "time.gmtime", "time.asctime"}
)
# Methods and functions that write files: a unit with none of them writes no output.
_WRITE_METHODS = frozenset(
    {
        "savefig", "to_csv", "to_parquet", "to_excel", "to_json", "to_pickle", "to_feather",
        "to_hdf", "to_netcdf", "to_stata", "write_text", "write_bytes", "write_image",
        "write_html", "tofile", "imwrite", "imsave",
    }
)  # fmt: skip
_WRITE_FUNCTIONS = frozenset(
    {
        "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "json.dump",
        "pickle.dump", "joblib.dump", "torch.save", "shutil.copy", "shutil.copyfile",
        "matplotlib.pyplot.savefig",
    }
)  # fmt: skip

# Calls whose results come in an order the file system (or the hash seed) chooses.
_LISTINGS = frozenset({"os.listdir", "os.scandir", "glob.glob", "glob.iglob"})
_LISTING_METHODS = frozenset({"glob", "rglob", "iterdir"})
# Calls that keep the order of what they are given.
_ORDER_KEEPING = frozenset({"list", "tuple", "enumerate"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


# ── what every check shares ───────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _Node:
    """A node of a unit, with where it is and whether it sits inside a function or lambda."""

    unit: CodeUnit
    node: ast.AST
    in_function: bool

    @property
    def line(self) -> int:
        """The node's first line (1 for nodes without one)."""
        return int(getattr(self.node, "lineno", 1))

    @property
    def order(self) -> tuple[int, int, int]:
        """Where the node comes in its file: (cell, line, column)."""
        return (self.unit.cell, self.line, int(getattr(self.node, "col_offset", 0)))

    @property
    def location(self) -> str:
        """path:line, or path:cell N:line."""
        return self.unit.location(self.line)


@dataclass(frozen=True)
class _File:
    """The parsed units of one file (one script, or all code cells of one notebook), in order."""

    path: str
    units: tuple[CodeUnit, ...]
    aliases: dict[str, str]

    def nodes(self) -> Iterator[_Node]:
        """Every node of every unit that parsed, in source order."""
        for unit in self.units:
            if unit.tree is not None:
                yield from _walk(unit, unit.tree)

    def calls(self) -> Iterator[tuple[_Node, ast.Call, str]]:
        """Every call, with the qualified name of what it calls ("" when unknown)."""
        for item in self.nodes():
            if isinstance(item.node, ast.Call):
                yield item, item.node, self.name(item.node.func)

    def name(self, node: ast.expr) -> str:
        """The qualified name of an expression (`np.random.rand` -> `numpy.random.rand`)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.name(node.value)
            return f"{base}.{node.attr}" if base else ""
        if isinstance(node, ast.Call):
            base = self.name(node.func)
            return f"{base}()" if base else ""
        return ""


def _walk(unit: CodeUnit, tree: ast.AST) -> Iterator[_Node]:
    """The nodes of a tree in source order, marking those inside a function body or lambda."""
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]  # a stack: deep expressions are fine
    while stack:
        node, in_function = stack.pop()
        yield _Node(unit, node, in_function)
        inside = in_function or isinstance(node, _FUNCTIONS)
        stack.extend((child, inside) for child in reversed(list(ast.iter_child_nodes(node))))


def _files(context: AuditContext) -> Iterator[_File]:
    """The code of the analysis, one _File per script or notebook, in the order of the audit."""
    by_path: dict[str, list[CodeUnit]] = {}
    for unit in context.code:
        by_path.setdefault(unit.path, []).append(unit)
    for path, units in by_path.items():
        ordered = tuple(sorted(units, key=lambda unit: unit.cell))
        yield _File(path, ordered, _aliases(ordered))


def _aliases(units: Iterable[CodeUnit]) -> dict[str, str]:
    """The names the imports of the units bind, mapped to what they import."""
    aliases: dict[str, str] = {}
    for unit in units:
        if unit.tree is None:
            continue
        for node in ast.walk(unit.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".", 1)[0]
                        aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value of a keyword argument of a call, or None when it is not given."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None


def _is_none(node: ast.expr | None) -> bool:
    """True when the expression is missing or the literal None."""
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _has_star_kwargs(call: ast.Call) -> bool:
    """True when the call passes **kwargs, so its keywords cannot be known."""
    return any(keyword.arg is None for keyword in call.keywords)


def _shown(call: ast.Call) -> str:
    """How the author wrote the called function, e.g. `np.random.rand`."""
    return ast.unparse(call.func)


# ── absolute-path ─────────────────────────────────────────────────────────────────────────


def absolute_paths(context: AuditContext) -> Iterator[Finding]:
    """Absolute and home-directory paths written in the code: they exist on one machine only."""
    for file in _files(context):
        skip = _docstrings_and_fstring_parts(file)
        seen: set[str] = set()
        for item in file.nodes():
            described = _machine_path(file, item.node, skip)
            if described is None or item.location in seen:
                continue
            seen.add(item.location)
            yield Finding(
                check="absolute-path",
                severity="warning",
                message=(
                    f"{described} at {item.location} points into one machine's file system: "
                    "the capsule, rerun elsewhere, will not find it"
                ),
                location=item.location,
                fix=FIX_ABSOLUTE_PATH,
            )


def _docstrings_and_fstring_parts(file: _File) -> set[int]:
    """ids of the string constants that are not paths in use: docstrings, f-string pieces."""
    skip: set[int] = set()
    for item in file.nodes():
        node = item.node
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            skip.add(id(node.value))  # a docstring or a string used as a comment
        if isinstance(node, ast.JoinedStr):
            skip.update(id(value) for value in node.values)
    return skip


def _machine_path(file: _File, node: ast.AST, skip: set[int]) -> str | None:
    """How to name the machine-specific path this node writes, or None when it writes none."""
    if id(node) in skip:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return f"'{node.value}'" if _is_machine_path(node.value) else None
    if isinstance(node, ast.JoinedStr):
        text = "".join(
            str(value.value) if isinstance(value, ast.Constant) else "x" for value in node.values
        )
        return f"{ast.unparse(node)}" if _is_machine_path(text) else None
    if isinstance(node, ast.Call):
        name = file.name(node.func)
        if name in _HOME_CALLS:
            arguments = node.args
            if arguments and isinstance(arguments[0], ast.Constant):
                return None  # the '~/…' literal itself is the finding
            return f"{ast.unparse(node)} (the home folder)"
        if name in ("os.getenv", "os.environ.get") and _names_home(node.args[:1]):
            return f"{ast.unparse(node)} (the home folder)"
    if (
        isinstance(node, ast.Subscript)
        and file.name(node.value) == "os.environ"
        and _names_home([node.slice])
    ):
        return f"{ast.unparse(node)} (the home folder)"
    return None


def _names_home(arguments: list[ast.expr]) -> bool:
    """True when the first argument is the literal name of the home folder's variable."""
    return bool(
        arguments
        and isinstance(arguments[0], ast.Constant)
        and arguments[0].value in _HOME_VARIABLES
    )


def _is_machine_path(text: str) -> bool:
    """True for an absolute or home-relative file path; False for URLs, regexes, /dev/null."""
    if text.startswith(("~/", "~\\")):
        return True
    windows = _WINDOWS_PATH.match(text)
    if windows:
        if windows.group(1).startswith("\\"):
            return True  # a network share
        parts = re.split(r"[\\/]", windows.group(2).strip("\\/"))
    elif _POSIX_PATH.match(text) and not text.startswith(_SYSTEM_PREFIXES):
        parts = text.strip("/").split("/")
    else:
        return False
    return parts[0].lower() in _PATH_ROOTS or bool(_HAS_SUFFIX.search(parts[-1]))


# ── unseeded-random ───────────────────────────────────────────────────────────────────────


def unseeded_random(context: AuditContext) -> Iterator[Finding]:
    """Random draws without a seed: Python's random, NumPy's generators, scikit-learn's."""
    for file in _files(context):
        calls = list(file.calls())
        seeds = {
            "random": [item for item, _, name in calls if name == "random.seed"],
            "numpy.random": [item for item, _, name in calls if name == "numpy.random.seed"],
        }
        for item, call, name in calls:
            finding = _unseeded(item, call, name, seeds)
            if finding is not None:
                yield finding


def _unseeded(
    item: _Node, call: ast.Call, name: str, seeds: dict[str, list[_Node]]
) -> Finding | None:
    """The finding for one call that draws without a seed, or None."""
    shown = _shown(call)
    module, _, function = name.rpartition(".")
    if module in seeds and function in (_PYTHON_RANDOM if module == "random" else _NUMPY_GLOBAL):
        if _seeded_before(item, seeds[module]):
            return None
        seeder = "random.seed" if module == "random" else "np.random.seed"
        return _random_finding(
            item,
            f"{shown}() at {item.location} draws from the global random generator, "
            f"which no {seeder}(...) before it seeds: each run draws different numbers",
            FIX_RANDOM_PYTHON if module == "random" else FIX_RANDOM_NUMPY,
        )
    if name in _UNSEEDED_CONSTRUCTORS:
        seed = call.args[0] if call.args else _seed_keyword(call)
        if (
            not _is_none(seed)
            or _has_star_kwargs(call)
            or any(isinstance(argument, ast.Starred) for argument in call.args)
        ):
            return None
        return _random_finding(
            item,
            f"{shown}() at {item.location} has no seed: it takes fresh entropy from the "
            "operating system on every run",
            FIX_RANDOM_GENERATOR.format(call=shown),
        )
    if module.startswith("sklearn") and function in _SKLEARN_RANDOM:
        switch, default = _SKLEARN_RANDOM[function]
        if switch and not _is_true(_keyword(call, switch), default):
            return None
        if not _is_none(_keyword(call, "random_state")) or _has_star_kwargs(call):
            return None
        return _random_finding(
            item,
            f"{shown}(...) at {item.location} gets no random_state: its result changes "
            "from run to run",
            FIX_RANDOM_SKLEARN,
        )
    return None


def _seed_keyword(call: ast.Call) -> ast.expr | None:
    """The seed given by keyword to a generator's constructor, or None."""
    for name in ("seed", "x", "entropy"):
        value = _keyword(call, name)
        if value is not None:
            return value
    return None


def _seeded_before(item: _Node, seeds: list[_Node]) -> bool:
    """True when a seed comes before the draw, or anywhere for a draw inside a function."""
    if item.in_function:
        return bool(seeds)
    return any(seed.order < item.order for seed in seeds)


def _is_true(value: ast.expr | None, default: bool) -> bool:
    """Whether a keyword argument is (or may be) true; unknown expressions count as true."""
    if value is None:
        return default
    if isinstance(value, ast.Constant):
        return bool(value.value)
    return True


def _random_finding(item: _Node, message: str, fix: str) -> Finding:
    """An unseeded-random finding at the node."""
    return Finding(
        check="unseeded-random",
        severity="warning",
        message=message,
        location=item.location,
        fix=fix,
    )


# ── wall-clock ────────────────────────────────────────────────────────────────────────────


def wall_clock(context: AuditContext) -> Iterator[Finding]:
    """The time, the host or the user read in a file that writes outputs."""
    for file in _files(context):
        calls = list(file.calls())
        if not any(_writes(call, name) for _, call, name in calls):
            continue
        for item, call, name in calls:
            if name in _WALL_CLOCK or (
                name in _WALL_CLOCK_WITHOUT_ARGUMENT and not call.args and not call.keywords
            ):
                yield Finding(
                    check="wall-clock",
                    severity="warning",
                    message=(
                        f"{_shown(call)}() at {item.location} can flow into an output: "
                        "each run writes something different"
                    ),
                    location=item.location,
                    fix=FIX_WALL_CLOCK,
                )


def _writes(call: ast.Call, name: str) -> bool:
    """True when the call writes a file: open(..., 'w'), .savefig(...), .to_csv(...), …"""
    method = call.func.attr if isinstance(call.func, ast.Attribute) else ""
    if name in _WRITE_FUNCTIONS or method in _WRITE_METHODS:
        return True
    if name in ("open", "io.open") or method == "open":
        position = 1 if name in ("open", "io.open") else 0
        mode = _keyword(call, "mode")
        if mode is None and len(call.args) > position:
            mode = call.args[position]
        return (
            isinstance(mode, ast.Constant)
            and isinstance(mode.value, str)
            and bool(set(mode.value) & set("wax+"))
        )
    return False


# ── unordered-iteration ───────────────────────────────────────────────────────────────────


def unordered_iteration(context: AuditContext) -> Iterator[Finding]:
    """Loops over directory listings or sets, whose order can change from run to run."""
    for file in _files(context):
        for item in file.nodes():
            for iterable in _iterated(item.node):
                what = _unordered(file, iterable)
                if what is None:
                    continue
                location = item.unit.location(iterable.lineno)
                yield Finding(
                    check="unordered-iteration",
                    severity="warning",
                    message=(
                        f"{what} at {location} is iterated in an order that can change from "
                        "run to run (file system, hash seed): so can what it feeds"
                    ),
                    location=location,
                    fix=FIX_UNORDERED,
                )


def _iterated(node: ast.AST) -> list[ast.expr]:
    """The expressions a node iterates over in order: loops, comprehensions, list(), join()."""
    if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        return [node.iter]
    if isinstance(node, ast.Call) and node.args:
        func = node.func
        if isinstance(func, ast.Name) and func.id in _ORDER_KEEPING:
            return [node.args[0]]
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "join"
            and isinstance(func.value, ast.Constant)
            and isinstance(func.value.value, str | bytes)
        ):
            return [node.args[0]]
    return []


def _unordered(file: _File, node: ast.expr) -> str | None:
    """How to name an unordered iterable (a listing, a set), or None when it is ordered."""
    if isinstance(node, ast.Set | ast.SetComp):
        return "a set"
    if not isinstance(node, ast.Call):
        return None
    name = file.name(node.func)
    if name in ("set", "frozenset"):
        return f"{name}(...)"
    if name in _LISTINGS or (
        isinstance(node.func, ast.Attribute) and node.func.attr in _LISTING_METHODS
    ):
        return f"{ast.unparse(node)}"
    return None


# ── code-does-not-parse ───────────────────────────────────────────────────────────────────


def code_does_not_parse(context: AuditContext) -> Iterator[Finding]:
    """Files and notebook cells that are not valid Python: nothing can check or run them."""
    for unit in context.code:
        if unit.tree is not None:
            continue
        line, reason = _syntax_error(unit.source)
        where = f"{unit.path} cell {unit.cell}" if unit.cell else unit.path
        yield Finding(
            check="code-does-not-parse",
            severity="error",
            message=(
                f"{where} is not valid Python ({reason}, line {line}): it will fail when it "
                "runs, and the audit cannot check it"
            ),
            location=unit.location(line),
            fix=FIX_DOES_NOT_PARSE.format(path=unit.path),
        )


def _syntax_error(source: str) -> tuple[int, str]:
    """The line and the reason the source does not parse ((1, 'does not parse') if unknown)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(source)
        except SyntaxError as error:
            return error.lineno or 1, error.msg
        except ValueError as error:  # e.g. a null byte in the source
            return 1, str(error)
    return 1, "does not parse"


# The checks of this family, in the order their findings are listed.
CHECKS: dict[str, Check] = {
    "code-does-not-parse": code_does_not_parse,
    "absolute-path": absolute_paths,
    "unseeded-random": unseeded_random,
    "wall-clock": wall_clock,
    "unordered-iteration": unordered_iteration,
}

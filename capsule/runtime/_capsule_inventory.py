"""Which installed distributions own the modules a run imported, and their requirement closure.

capsule runs this script with the analysis' own Python, because only that interpreter knows its
installed distributions and how their environment markers evaluate; it is standard library only
and ships inside every capsule (runtime/), so a capsule can be inspected the same way later.

    python _capsule_inventory.py < request.json > inventory.json

The request is {"modules": {module: file or null}, "analysis_root": path, "ignore_paths": [path],
"exclude_roots": [distribution]}; module names are top-level ("numpy") or dotted
("google.protobuf", which is how a namespace package's portion is told apart by file).

The answer (JSON, sorted) has "python" (version, implementation), "distributions" (the closure:
name, version, imported, modules, requires, extras, direct_url, metadata_dir, required_by),
"missing" (requirements whose distribution is not installed), "unmapped" (modules with a file
that no distribution owns), "ambiguous" (file-less modules attributed to every distribution that
declares them) and "skipped" (modules left out, by reason).

Modules are left out when they are the standard library, built in, the analysis' own files (under
analysis_root and owned by no installed distribution), under ignore_paths (the runner's own
code), or start-up machinery that every process imports: capsule's runtime (`_capsule*`,
`sitecustomize`), setuptools' `_distutils_hack`, editable-install finders (`__editable__*`),
virtualenv's `_virtualenv`.
"""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import inspect
import json
import os
import platform
import re
import site
import sys
import sysconfig
from typing import Any, Dict, Mapping
from urllib.parse import unquote, urlsplit

# This script runs on every Python capsule supports, 3.8 included: typing's Dict, not dict[…],
# where an alias is evaluated, and fallbacks for what the standard library gained since.
Json = Dict[str, Any]
ParsedVersion = Dict[str, Any]

STARTUP_MODULES = frozenset(
    {
        "__main__",
        "__mp_main__",
        "sitecustomize",
        "usercustomize",
        "_distutils_hack",
        "_virtualenv",
    }
)
STARTUP_PREFIXES = ("_capsule", "__editable__")


# ── names and versions (PEP 503, PEP 440), without `packaging`: it may not be installed ─────


def canonical_name(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


_VERSION = re.compile(
    r"""^\s*v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?
    (?:[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    \s*$""",
    re.VERBOSE | re.IGNORECASE,
)
_PRE = {"a": "a", "alpha": "a", "b": "b", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}


def _parse_version(text: str) -> ParsedVersion | None:
    m = _VERSION.match(text)
    if not m:
        return None
    pre = None
    if m.group("pre_l"):
        pre = (_PRE.get(m.group("pre_l").lower(), "rc"), int(m.group("pre_n") or 0))
    post = None
    if m.group("post_n1") is not None:
        post = int(m.group("post_n1"))
    elif m.group("post_l"):
        post = int(m.group("post_n2") or 0)
    dev = int(m.group("dev_n") or 0) if m.group("dev_l") else None
    local = m.group("local")
    return {
        "epoch": int(m.group("epoch") or 0),
        "release": tuple(int(p) for p in m.group("release").split(".")),
        "pre": pre,
        "post": post,
        "dev": dev,
        "local": re.sub(r"[-_]", ".", local.lower()) if local else None,
    }


def normalize_version(text: str) -> str:
    """The PEP 440 normal form of a version (as `packaging` prints it), or the text unchanged."""
    v = _parse_version(text)
    if v is None:
        return text.strip()
    out = f"{v['epoch']}!" if v["epoch"] else ""
    out += ".".join(str(p) for p in v["release"])
    if v["pre"] is not None:
        out += f"{v['pre'][0]}{v['pre'][1]}"
    if v["post"] is not None:
        out += f".post{v['post']}"
    if v["dev"] is not None:
        out += f".dev{v['dev']}"
    if v["local"]:
        out += f"+{v['local']}"
    return out


def _version_key(v: ParsedVersion) -> tuple[Any, ...]:
    release = list(v["release"])
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    pre: tuple[int, ...]
    if v["pre"] is None and v["post"] is None and v["dev"] is not None:
        pre = (0,)  # 1.0.dev0 sorts before 1.0a0
    elif v["pre"] is None:
        pre = (2,)
    else:
        pre = (1, _PRE_ORDER[v["pre"][0]], v["pre"][1])
    post = (0,) if v["post"] is None else (1, v["post"])
    dev = (1,) if v["dev"] is None else (0, v["dev"])
    return (v["epoch"], tuple(release), pre, post, dev)


def _compare_versions(op: str, left: str, right: str) -> bool | None:
    """PEP 440 comparison of two version strings, or None when either is not a version."""
    lv, rv = _parse_version(left), _parse_version(right.replace(".*", ""))
    if lv is None or rv is None:
        return None
    if op in ("==", "!=") and right.endswith(".*"):
        prefix = rv["release"]
        match = lv["epoch"] == rv["epoch"] and (lv["release"] + (0,) * len(prefix))[
            : len(prefix)
        ] == tuple(prefix)
        return match if op == "==" else not match
    lk, rk = _version_key(lv), _version_key(rv)
    if op == "~=":
        if len(rv["release"]) < 2:
            return None
        prefix = rv["release"][:-1]
        return lk >= rk and (lv["release"] + (0,) * len(prefix))[: len(prefix)] == prefix
    return {
        "==": lk == rk,
        "!=": lk != rk,
        "<": lk < rk,
        "<=": lk <= rk,
        ">": lk > rk,
        ">=": lk >= rk,
    }.get(op)


# ── PEP 508 requirements and environment markers ─────────────────────────────────────────


_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?:\[(?P<extras>[^\]]*)\])?\s*(?P<rest>.*)$",
    re.DOTALL,
)


def parse_requirement(text: str) -> tuple[str, list[str], str] | None:
    """(canonical name, extras, marker or "") of a PEP 508 requirement, or None if malformed."""
    m = _REQUIREMENT.match(text)
    if not m:
        return None
    rest = m.group("rest")
    if rest.lstrip().startswith("@"):
        # A URL may hold ";", so the marker of a URL requirement starts at " ;" (PEP 508).
        cut = re.search(r"\s;", rest)
        marker = rest[cut.end() :] if cut else ""
    else:
        marker = rest.split(";", 1)[1] if ";" in rest else ""
    extras = sorted(
        {canonical_name(e.strip()) for e in (m.group("extras") or "").split(",") if e.strip()}
    )
    return canonical_name(m.group("name")), extras, marker.strip()


def marker_environment() -> dict[str, str]:
    """The PEP 508 marker variables of this interpreter."""
    impl = sys.implementation.version
    impl_version = f"{impl.major}.{impl.minor}.{impl.micro}"
    if impl.releaselevel != "final":
        impl_version += impl.releaselevel[0] + str(impl.serial)
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": impl_version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


_ALIASES = {
    "os.name": "os_name",
    "sys.platform": "sys_platform",
    "platform.version": "platform_version",
    "platform.machine": "platform_machine",
    "platform.python_implementation": "platform_python_implementation",
    "python_implementation": "platform_python_implementation",
}
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<string>'[^']*'|"[^"]*")
    |(?P<op>===|==|!=|<=|>=|~=|<|>|not\s+in\b|in\b)
    |(?P<bool>and\b|or\b)
    |(?P<paren>[()])
    |(?P<var>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)


class MarkerError(ValueError):
    """An environment marker this evaluator cannot read."""


def _tokens(marker: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    marker = marker.strip()
    while pos < len(marker):
        m = _TOKEN.match(marker, pos)
        if not m or m.end() == pos or m.lastgroup is None:
            raise MarkerError(f"cannot read marker {marker!r} at {pos}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "op":
            value = " ".join(value.split())
        out.append((kind, value))
        pos = m.end()
        while pos < len(marker) and marker[pos].isspace():
            pos += 1
    return out


def evaluate_marker(marker: str, env: dict[str, str]) -> bool:
    """Evaluate a PEP 508 marker against `env` (which holds "extra"); MarkerError if unreadable."""
    return _Marker(marker, env).evaluate()


class _Marker:
    """A recursive-descent reader of one marker: disjunction > conjunction > comparison."""

    def __init__(self, marker: str, env: dict[str, str]) -> None:
        self.marker, self.env = marker, env
        self.tokens = _tokens(marker)
        self.pos = 0

    def evaluate(self) -> bool:
        result = self.disjunction()
        if self.pos != len(self.tokens):
            raise MarkerError(f"unexpected text at the end of marker {self.marker!r}")
        return result

    def peek(self) -> tuple[str | None, str | None]:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None)

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise MarkerError(f"marker {self.marker!r} ends too early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def value(self) -> tuple[str, bool]:
        """A string or a variable's value, and whether it is the "extra" variable."""
        kind, text = self.take()
        if kind == "string":
            return text[1:-1], False
        if kind == "var":
            name = _ALIASES.get(text, text)
            if name not in self.env:
                raise MarkerError(f"unknown marker variable {text!r}")
            return self.env[name], name == "extra"
        raise MarkerError(f"unexpected {text!r} in marker {self.marker!r}")

    def comparison(self) -> bool:
        if self.peek() == ("paren", "("):
            self.take()
            result = self.disjunction()
            if self.take() != ("paren", ")"):
                raise MarkerError(f"unbalanced parentheses in {self.marker!r}")
            return result
        left, left_extra = self.value()
        kind, op = self.take()
        if kind != "op":
            raise MarkerError(f"expected an operator in {self.marker!r}")
        right, right_extra = self.value()
        if left_extra or right_extra:
            left, right = canonical_name(left), canonical_name(right)
        return _compare(op, left, right)

    def conjunction(self) -> bool:
        result = self.comparison()
        while self.peek() == ("bool", "and"):
            self.take()
            right = self.comparison()
            result = result and right
        return result

    def disjunction(self) -> bool:
        result = self.conjunction()
        while self.peek() == ("bool", "or"):
            self.take()
            right = self.conjunction()
            result = result or right
        return result


def _compare(op: str, left: str, right: str) -> bool:
    """One marker comparison: as versions where both sides are versions, else as strings."""
    if op == "in":
        return left in right
    if op == "not in":
        return left not in right
    if op == "===":
        return left == right
    as_versions = _compare_versions(op, left, right)
    if as_versions is not None:
        return as_versions
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op in ("<", "<=", ">", ">="):
        return {"<": left < right, "<=": left <= right, ">": left > right}.get(op, left >= right)
    raise MarkerError(f"cannot compare {left!r} {op} {right!r}")


# ── where a module's file comes from ──────────────────────────────────────────────────────


def _norm(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


def _variants(path: str) -> set[str]:
    """The path as written and with symbolic links resolved, normalized."""
    return {_norm(path), _norm(os.path.realpath(path))}


def _under(path: str, roots: set[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def _stdlib_roots() -> set[str]:
    paths = sysconfig.get_paths()
    return {v for key in ("stdlib", "platstdlib") if paths.get(key) for v in _variants(paths[key])}


def _site_roots() -> set[str]:
    paths = sysconfig.get_paths()
    found = [paths.get("purelib", ""), paths.get("platlib", "")]
    # Some embedded interpreters and old virtualenvs have a site module without these.
    if hasattr(site, "getsitepackages"):
        found += site.getsitepackages()
    if hasattr(site, "getusersitepackages"):
        found.append(site.getusersitepackages())
    return {v for p in found if p for v in _variants(p)}


def _direct_url(dist: metadata.Distribution) -> Json | None:
    """The PEP 610 record of how a distribution was installed, if it has one."""
    try:
        text = dist.read_text("direct_url.json")
        data = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _editable_source(direct_url: Json | None) -> str | None:
    """The source folder of an editable install (PEP 610 dir_info), or None."""
    if not direct_url or not direct_url.get("dir_info", {}).get("editable"):
        return None
    url = str(direct_url.get("url", ""))
    return unquote(urlsplit(url).path) if url.startswith("file://") else None


def _pth_roots(dist: metadata.Distribution) -> set[str]:
    """Folders that a distribution's .pth files put on sys.path (as many editable installs do)."""
    roots: set[str] = set()
    base = str(dist.locate_file(""))
    for f in dist.files or ():
        if not str(f).endswith(".pth"):
            continue
        try:
            with open(str(dist.locate_file(f)), encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith(("#", "import ", "import\t")):
                continue
            folder = line if os.path.isabs(line) else os.path.join(base, line)
            if os.path.isdir(folder):
                roots |= _variants(folder)
    return roots


def _module_at(file: str, top: str, roots: set[str]) -> bool:
    """True if `file` is module `top` (a file or a package) directly inside one of `roots`."""
    for root in roots:
        prefix = root.rstrip(os.sep) + os.sep
        if not file.startswith(prefix):
            continue
        parts = file[len(prefix) :].split(os.sep, 1)
        if len(parts) > 1 and parts[0] == top:
            return True  # a package: root/top/...
        if len(parts) == 1 and parts[0].split(".", 1)[0] == top:
            return True  # a module: root/top.py, root/top.cpython-311-x86_64-linux-gnu.so
    return False


class Installed:
    """The installed distributions; the first on sys.path wins, as it does for imports."""

    def __init__(self) -> None:
        self.dists: dict[str, metadata.Distribution] = {}
        for dist in metadata.distributions():
            name = dist.metadata["Name"] if dist.metadata else None
            if name:
                self.dists.setdefault(canonical_name(name), dist)
        self._declared: dict[str, list[str]] | None = None

    def declared(self, top: str) -> list[str]:
        """The installed distributions that declare top-level module `top` (top_level.txt)."""
        if self._declared is None:
            self._declared = {
                module: sorted({canonical_name(n) for n in names})
                for module, names in packages_distributions().items()
            }
        return [d for d in self._declared.get(top, []) if d in self.dists]

    def owners_by_record(self, wanted: set[str]) -> dict[str, str]:
        """Map each wanted file (normalized) to the distribution whose RECORD lists it."""
        found: dict[str, str] = {}
        for key, dist in self.dists.items():
            files = dist.files
            if not files:
                continue
            bases = _variants(str(dist.locate_file("")))
            for f in files:
                for base in bases:
                    path = os.path.normcase(os.path.normpath(os.path.join(base, str(f))))
                    if path in wanted and path not in found:
                        found[path] = key
        return found

    def editable_roots(self) -> dict[str, tuple[set[str], set[str]]]:
        """For each distribution with .pth folders or an editable source: (pth folders, source)."""
        roots: dict[str, tuple[set[str], set[str]]] = {}
        for key, dist in self.dists.items():
            pth = _pth_roots(dist)
            source = _editable_source(_direct_url(dist))
            if pth or source:
                roots[key] = (pth, _variants(source) if source else set())
        return roots


def packages_distributions() -> Mapping[str, list[str]]:
    """Top-level module -> the distributions that provide it (Python 3.10's function, or the
    same answer made here on 3.8 and 3.9: top_level.txt, else the files each one installed)."""
    if hasattr(metadata, "packages_distributions"):
        return metadata.packages_distributions()
    found: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if name:
            for top in _top_level(dist):
                found.setdefault(top, []).append(name)
    return found


def _top_level(dist: metadata.Distribution) -> set[str]:
    """The top-level modules a distribution declares in top_level.txt, else those it installed."""
    declared = dist.read_text("top_level.txt")
    if declared:
        return set(declared.split())
    tops = set()
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0] == ".." or parts[0].endswith((".dist-info", ".egg-info")):
            continue
        if len(parts) > 1 and parts[0] != "__pycache__":
            tops.add(parts[0])  # a package: top/...
        else:
            module = inspect.getmodulename(parts[0])
            if module:
                tops.add(module)  # a module: top.py, top.cpython-38-x86_64-linux-gnu.so
    return tops


def _builtin_or_stdlib(top: str) -> bool:
    """Whether a module without a file is built in, frozen or of the standard library."""
    if top in sys.builtin_module_names or top in getattr(sys, "stdlib_module_names", ()):
        return True
    if hasattr(sys, "stdlib_module_names"):
        return False  # 3.10+: the list is complete
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin in ("built-in", "frozen")


def _record(dist: metadata.Distribution) -> list[list[str]]:
    """The installed files and their RECORD hashes ("sha256=…"), for checking a rebuilt wheel."""
    out = []
    for f in dist.files or ():
        if f.hash is not None:
            out.append([str(f), f"{f.hash.mode}={f.hash.value}"])
    return sorted(out)


# ── the inventory ─────────────────────────────────────────────────────────────────────────


def _classify(
    modules: dict[str, str | None], ignored: set[str]
) -> tuple[dict[str, set[str]], dict[str, list[str]]]:
    """Split the modules into candidates (name -> file variants) and skipped ones, by reason."""
    stdlib_roots, site_roots = _stdlib_roots(), _site_roots()
    skipped: dict[str, list[str]] = {"builtin": [], "runner": [], "startup": [], "stdlib": []}
    files: dict[str, set[str]] = {}
    for name in sorted(modules):
        file = modules[name]
        top = name.split(".", 1)[0]
        if top in STARTUP_MODULES or top.startswith(STARTUP_PREFIXES):
            skipped["startup"].append(name)
        elif file is None:
            if _builtin_or_stdlib(top):
                skipped["builtin"].append(name)
            else:
                files[name] = set()  # a namespace package: its portions are told apart by file
        else:
            variants = _variants(file)
            if any(_under(v, ignored) for v in variants):
                skipped["runner"].append(name)
            elif any(_under(v, stdlib_roots) and not _under(v, site_roots) for v in variants):
                skipped["stdlib"].append(name)
            else:
                files[name] = variants
    return files, skipped


def _owners(
    name: str,
    variants: set[str],
    local: bool,
    installed: Installed,
    by_record: dict[str, str],
    editable: dict[str, tuple[set[str], set[str]]],
) -> list[str]:
    """The distributions a module belongs to, most precise evidence first."""
    top = name.split(".", 1)[0]
    hits = sorted({by_record[v] for v in variants if v in by_record})
    if hits or not variants:
        if not hits and not local:
            return installed.declared(top)  # file-less: every distribution declaring it
        return hits
    # Editable installs: the file sits in a source folder that a .pth puts on sys.path, or in
    # the folder direct_url.json names and the distribution declares the module there.
    declared = installed.declared(top)
    hits = sorted(
        key
        for key, (pth, source) in editable.items()
        if any(_module_at(v, top, pth) for v in variants)
        or (key in declared and any(_under(v, source) for v in variants))
    )
    if hits or local:
        return hits
    return declared if len(declared) == 1 else []


def _closure(
    roots: list[str], installed: Installed
) -> tuple[dict[str, set[str]], dict[str, set[str]], dict[tuple[str, str], set[str]]]:
    """Walk Requires-Dist from `roots`: (extras in force, required_by, missing requirements)."""
    env = marker_environment()
    extras: dict[str, set[str]] = {key: set() for key in roots}
    required_by: dict[str, set[str]] = {key: set() for key in roots}
    missing: dict[tuple[str, str], set[str]] = {}
    queue = sorted(roots)
    while queue:
        key = queue.pop(0)
        for text in installed.dists[key].requires or ():
            parsed = parse_requirement(text)
            if parsed is None:
                continue
            dep, dep_extras, marker = parsed
            if marker:
                try:
                    wanted = any(
                        evaluate_marker(marker, dict(env, extra=extra))
                        for extra in ["", *sorted(extras[key])]
                    )
                except MarkerError:
                    wanted = True  # keep what this reader cannot evaluate; pip-tools decides
                if not wanted:
                    continue
            if dep not in installed.dists:
                missing.setdefault((dep, text.strip()), set()).add(key)
            elif dep not in extras:
                extras[dep] = set(dep_extras)
                required_by[dep] = {key}
                queue.append(dep)
            else:
                required_by[dep].add(key)
                if not set(dep_extras) <= extras[dep]:
                    extras[dep] |= set(dep_extras)
                    queue.append(dep)
    return extras, required_by, missing


def inventory(request: Json) -> Json:
    """The answer described in the module docstring, for one request."""
    modules: dict[str, str | None] = request.get("modules", {})
    root = request.get("analysis_root")
    roots = _variants(root) if root else set()
    ignored = {v for p in request.get("ignore_paths", []) for v in _variants(p)}
    exclude_roots = {canonical_name(n) for n in request.get("exclude_roots", [])}
    installed = Installed()

    files, skipped = _classify(modules, ignored)
    skipped["local"] = []
    by_record = installed.owners_by_record({v for vs in files.values() for v in vs})
    editable = installed.editable_roots()
    owners: dict[str, set[str]] = {}
    unmapped: list[Json] = []
    ambiguous: list[Json] = []
    for name in sorted(files):
        variants = files[name]
        local = any(_under(v, roots) for v in variants)
        hits = _owners(name, variants, local, installed, by_record, editable)
        if not variants and len(hits) > 1:
            ambiguous.append({"module": name, "distributions": hits})
        for key in hits:
            owners.setdefault(key, set()).add(name)
        if hits:
            continue
        if local:
            skipped["local"].append(name)
        elif not variants:
            skipped["builtin"].append(name)
        else:
            unmapped.append({"module": name, "file": modules[name]})
    for key in sorted(exclude_roots & set(owners)):
        skipped["runner"].extend(sorted(owners.pop(key)))

    extras, required_by, missing = _closure(sorted(owners), installed)
    distributions = []
    for key in sorted(extras):
        dist = installed.dists[key]
        direct_url = _direct_url(dist)
        distributions.append(
            {
                "name": key,
                "version": normalize_version(dist.version),
                "installed_version": dist.version,
                "imported": key in owners,
                "modules": sorted(owners.get(key, ())),
                "requires": list(dist.requires or ()),
                "extras": sorted(extras[key]),
                "direct_url": direct_url,
                # Files as installed, to tell whether a wheel rebuilt from source is what ran.
                "record": _record(dist) if direct_url and not _editable_source(direct_url) else [],
                "required_by": sorted(required_by[key] - {key}),
            }
        )
    return {
        "python": {
            "version": platform.python_version(),
            "version_info": list(sys.version_info[:2]),
            "implementation": sys.implementation.name,
            "executable": sys.executable,
        },
        "distributions": distributions,
        "missing": [
            {"name": dep, "requirement": text, "required_by": sorted(parents)}
            for (dep, text), parents in sorted(missing.items())
        ],
        "unmapped": unmapped,
        "ambiguous": ambiguous,
        "skipped": {k: sorted(v) for k, v in skipped.items()},
    }


def main() -> None:
    """Read a request on stdin (or from the file named by argv[1]) and print the inventory."""
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as f:
            request = json.load(f)
    else:
        request = json.load(sys.stdin)
    json.dump(inventory(request), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

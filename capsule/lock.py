"""Pin what ran: the distributions the analysis imported, their closure, hash-locked, as wheels.

The one module that knows pip and pip-tools (DESIGN decision 4, "the lock is what actually ran").
`pin` goes in five steps, each a subprocess through capsule.process:

1. inventory: the analysis' own Python runs runtime/_capsule_inventory.py, which maps the imported
   modules to installed distributions by file (RECORD, then editable-install folders, then
   top_level.txt) and walks their Requires-Dist with that interpreter's markers;
2. build: a distribution installed from a local folder, a file, a URL or a VCS (it has a PEP 610
   direct_url.json) is built into a wheel with `pip wheel --no-deps` ("built" pins), from a
   private copy of a source folder (builds write into their folder; the author's stays as it
   is), with SOURCE_DATE_EPOCH fixed so that the same source gives the same wheel;
3. compile: `python -m piptools compile --generate-hashes` pins every distribution at its
   installed version (`name==version`), with the built wheels as find-links; the hashes it
   found are cached (hash_cache_path) and handed back to it next time (--reuse-hashes);
4. download: one `pip download --require-hashes` call fetches every index wheel; a pin whose
   version has no wheel on the index is built from its sdist instead;
5. requirements.lock is written from the pins, byte-identical for the same input.

The runner's own code is never pinned: capsule's package folder is ignored, and pip-tools is
dropped as an imported root (only the runner imports it). pip, setuptools and wheel are pinned
when a module of theirs was imported, like anything else; setuptools' start-up shim
`_distutils_hack`, which a .pth file imports into every process, does not count.
"""

from __future__ import annotations

import csv
import importlib.metadata
import importlib.util
import io
import json
import os
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from capsule import process
from capsule.cache import CACHE_ENV, cache_dir
from capsule.errors import CapsuleError, LockError
from capsule.hashing import sha256_file
from capsule.model import Lock, Pin, PinSource
from capsule.runtime._capsule_inventory import canonical_name, normalize_version

INVENTORY_SCRIPT = Path(__file__).resolve().parent / "runtime" / "_capsule_inventory.py"
CAPSULE_PACKAGE = Path(__file__).resolve().parent
# Imported by capsule's runner, never by an analysis: not a root of the closure.
RUNNER_DISTRIBUTIONS = ("pip-tools",)
# Where the cache of index hashes lives (else $XDG_CACHE_HOME/capsule, else ~/.cache/capsule).
HASH_CACHE_ENV = CACHE_ENV

NOT_ON_INDEX = (
    "{name}=={version} is not on the package index and has no local source to build it from"
)
NOT_ON_INDEX_HINT = (
    "install it from its source (`pip install PATH`, a VCS URL or a wheel file) so that capsule "
    "can build a wheel of it, or install a version that is on the index, then build again"
)
SOURCE_GONE = "{name} {version} was installed from {origin}, which no longer exists"
SOURCE_GONE_HINT = (
    "restore the source (or install {name} from the package index or from a source that "
    "exists), then build the capsule again"
)
BUILD_FAILED = "cannot build a wheel of {name} {version} from {origin}"
BUILD_FAILED_HINT = "run `python -m pip wheel --no-deps {spec}` to see why, fix it, build again"
SOURCE_CHANGED = (
    "the source of {name} at {origin} has changed since it was installed, so a wheel built "
    "from it would not be what ran: {files}"
)
SOURCE_CHANGED_HINT = "reinstall it (`pip install {origin}`), rerun, and build the capsule again"
PYTHON_MISMATCH = (
    "the analysis runs Python {analysis} but capsule runs on Python {capsule}; "
    "the lock must be resolved for the analysis' Python"
)
PYTHON_MISMATCH_HINT = (
    "install capsule with a Python {analysis} (for instance into the analysis' environment) "
    "and run it from there; capsule itself needs Python 3.11 or newer, so on an older Python "
    "only an analysis that imports no installed distribution can be captured for now"
)
RUNTIME_HEADER = (
    "# runtime.lock: capsule's notebook client (nbclient, nbformat and what they require), at\n"
    "# the versions installed beside capsule; it runs notebook steps, in an environment of its\n"
    "# own, and starts their kernel with the analysis' Python. Python {python}; hashes by {tool}.\n"
    "# Install offline: pip install --no-index --find-links runtime-wheels --require-hashes "
    "-r runtime.lock\n"
)
HEADER = (
    "# requirements.lock: the Python distributions the analysis ran with, written by capsule\n"
    "# from the modules it imported and their requirements, at the versions installed there.\n"
    "# Python {python}. Hashes of index pins by {tool}; a built pin's is that of its wheel.\n"
    "# Install offline: pip install --no-index --find-links wheels --require-hashes "
    "-r requirements.lock\n"
)

_NOT_FOUND = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


# ── the trace records ─────────────────────────────────────────────────────────────────────


def read_module_records(trace_dir: Path) -> dict[str, str | None]:
    """Merge the process-*.json records of a traced run: top-level module name -> file.

    A module seen with a file in one process and without in another keeps the file; of two
    files for one name (processes with different paths) the smaller path is kept, so the
    result does not depend on process ids. An unreadable record raises LockError.
    """
    merged: dict[str, str | None] = {}
    for record in sorted(trace_dir.glob("process-*.json")):
        try:
            modules = json.loads(record.read_text(encoding="utf-8"))["modules"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise LockError(
                f"cannot read the record of imported modules {record}: {exc}",
                hint="build again; if it persists, report it as a bug in capsule",
            ) from exc
        for name, file in modules.items():
            seen = merged.get(name)
            if file and (seen is None or str(file) < seen):
                merged[name] = str(file)
            elif name not in merged:
                merged[name] = None
    return dict(sorted(merged.items()))


# ── what the analysis' Python says ────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _Dist:
    """One distribution of the closure, as the inventory reported it."""

    name: str
    version: str
    imported: bool
    modules: tuple[str, ...]
    required_by: tuple[str, ...]
    direct_url: Mapping[str, Any] | None
    record: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Inventory:
    python_version: str
    python_xy: tuple[int, int]
    implementation: str
    dists: tuple[_Dist, ...]
    missing: tuple[Mapping[str, Any], ...]
    unmapped: tuple[Mapping[str, Any], ...]
    ambiguous: tuple[Mapping[str, Any], ...]


def _inventory(imports: Mapping[str, str | None], python: str, analysis_root: Path) -> _Inventory:
    """Run the inventory script with the analysis' Python and read its answer."""
    request = {
        "modules": dict(imports),
        "analysis_root": str(analysis_root),
        "ignore_paths": [str(CAPSULE_PACKAGE)],
        "exclude_roots": list(RUNNER_DISTRIBUTIONS),
    }
    try:
        done = process.run([python, str(INVENTORY_SCRIPT)], input=json.dumps(request))
        data = json.loads(done.stdout)
    except (CapsuleError, ValueError) as exc:
        raise LockError(
            f"cannot list the distributions installed for {python}: {exc}",
            hint="check that this Python runs; capsule asks it which distributions it has",
        ) from exc
    dists = tuple(
        _Dist(
            name=d["name"],
            version=d["version"],
            imported=bool(d["imported"]),
            modules=tuple(d["modules"]),
            required_by=tuple(d["required_by"]),
            direct_url=d["direct_url"],
            record=tuple((p, h) for p, h in d["record"]),
        )
        for d in data["distributions"]
    )
    info = data["python"]
    return _Inventory(
        python_version=info["version"],
        python_xy=(int(info["version_info"][0]), int(info["version_info"][1])),
        implementation=info["implementation"],
        dists=dists,
        missing=tuple(data["missing"]),
        unmapped=tuple(data["unmapped"]),
        ambiguous=tuple(data["ambiguous"]),
    )


def _check_python(found: _Inventory) -> None:
    """pip-tools resolves with capsule's interpreter: it must be the analysis' X.Y."""
    mine = (sys.version_info[0], sys.version_info[1])
    if found.python_xy != mine or found.implementation != sys.implementation.name:
        analysis = f"{found.implementation} {found.python_xy[0]}.{found.python_xy[1]}"
        capsule = f"{sys.implementation.name} {mine[0]}.{mine[1]}"
        raise LockError(
            PYTHON_MISMATCH.format(analysis=analysis, capsule=capsule),
            hint=PYTHON_MISMATCH_HINT.format(analysis=analysis),
        )


def _tell(found: _Inventory, say: Callable[[str], None]) -> None:
    for item in found.unmapped:
        say(f"{item['module']} ({item['file']}) belongs to no installed distribution: not pinned")
    for item in found.ambiguous:
        owners = ", ".join(item["distributions"])
        say(f"{item['module']} has no file of its own: pinned every distribution of it ({owners})")
    for item in found.missing:
        parents = ", ".join(item["required_by"])
        say(
            f"{item['requirement']} (required by {parents}) is not installed where the analysis ran"
        )


# ── building wheels from local sources ────────────────────────────────────────────────────


@dataclass(frozen=True)
class _Wheel:
    """A wheel made or fetched for a pin, waiting in a temporary folder."""

    path: Path
    origin: str


def _wheel_name_version(filename: str) -> tuple[str, str]:
    """(canonical name, normalized version) from a wheel file name."""
    parts = filename[: -len(".whl")].split("-")
    return canonical_name(parts[0]), normalize_version(parts[1].replace("_", "-"))


def _file_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path))


def _archive_hash(direct_url: Mapping[str, Any]) -> str:
    """The sha256 a PEP 610 archive_info records, or ""."""
    info = direct_url.get("archive_info") or {}
    hashes = info.get("hashes") or {}
    if "sha256" in hashes:
        return str(hashes["sha256"])
    legacy = str(info.get("hash", ""))
    return legacy.split("=", 1)[1] if legacy.startswith("sha256=") else ""


# Build outputs, caches, virtual environments and version control: never needed to build a
# wheel, and sometimes large. (.git comes back as a link: setuptools-scm and the like read it.)
_NOT_COPIED = (
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    "*.egg-info",
    "*.pyc",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".nox",
    ".ipynb_checkpoints",
    "node_modules",
    "*.capsule",
    ".capsule-*",
)
# A fixed date for the files inside built wheels, so the same source gives the same wheel.
DEFAULT_SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest date a zip file can hold


def _ignore_for(root: Path) -> Callable[[str, list[str]], set[str]]:
    skip = shutil.ignore_patterns(*_NOT_COPIED)

    def ignore(folder: str, names: list[str]) -> set[str]:
        ignored = set(skip(folder, names))
        here = Path(folder)
        ignored |= {n for n in names if (here / n / "pyvenv.cfg").is_file()}
        if here == root:
            ignored |= {"build", "dist"} & set(names)
        return ignored

    return ignore


def _copy_source(source: Path, dest: Path) -> Path:
    """A private copy of a source folder to build in, so that the author's stays untouched."""
    # Builds write into the folder they build (setuptools: build/, *.egg-info).
    shutil.copytree(source, dest, symlinks=True, ignore=_ignore_for(source))
    for vcs in (".git", ".hg", ".svn"):
        if (source / vcs).exists():
            (dest / vcs).symlink_to(source / vcs)
    return dest


def _build_env(name: str, version: str) -> dict[str, str]:
    """The environment of a wheel build: fixed file dates, and the version that ran."""
    pretend = "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_" + re.sub(r"\W", "_", name).upper()
    return process.environ(
        SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH") or DEFAULT_SOURCE_DATE_EPOCH,
        # A source folder copied out of its repository cannot ask git for its version.
        **{pretend: os.environ.get(pretend) or version},
    )


def _pip_wheel(dist: _Dist, spec: str, origin: str, out: Path) -> _Wheel:
    """Build one wheel with `pip wheel --no-deps` into an empty folder of its own."""
    out.mkdir(parents=True)
    done = process.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out), spec],
        env=_build_env(dist.name, dist.version),
        check=False,
    )
    wheels = sorted(out.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = process.stderr_tail(done.stderr, 12)
        raise LockError(
            BUILD_FAILED.format(name=dist.name, version=dist.version, origin=origin)
            + (f":\n{tail}" if tail else ""),
            hint=BUILD_FAILED_HINT.format(spec=origin),
        )
    return _Wheel(wheels[0], origin)


def _compared(path: str) -> bool:
    """Python files of a package, but the version files that builds write (setuptools-scm)."""
    name = path.rsplit("/", 1)[-1]
    return (
        path.endswith(".py")
        and not path.startswith("..")
        and ".data/" not in path
        and name not in ("_version.py", "version.py")
    )


def _check_same_code(dist: _Dist, wheel: Path, origin: str) -> None:
    """A non-editable local install: the rebuilt wheel must hold the Python files that ran."""
    installed = {p: h for p, h in dist.record if _compared(p)}
    if not installed:
        return
    with zipfile.ZipFile(wheel) as zf:
        records = [n for n in zf.namelist() if n.endswith(".dist-info/RECORD")]
        if not records:
            return
        rows = list(csv.reader(io.StringIO(zf.read(records[0]).decode("utf-8"))))
    built = {row[0]: row[1] for row in rows if len(row) >= 2 and row[1] and _compared(row[0])}
    changed = sorted(p for p in set(installed) | set(built) if installed.get(p) != built.get(p))
    if changed:
        shown = ", ".join(changed[:5]) + (", …" if len(changed) > 5 else "")
        raise LockError(
            SOURCE_CHANGED.format(name=dist.name, origin=origin, files=shown),
            hint=SOURCE_CHANGED_HINT.format(origin=origin),
        )


def _build_local(dist: _Dist, out: Path) -> _Wheel:
    """A wheel of a distribution installed from a folder, a file, a URL or a VCS (PEP 610)."""
    direct_url = dist.direct_url or {}
    url = str(direct_url.get("url", ""))
    subdirectory = str(direct_url.get("subdirectory", ""))
    gone = LockError(
        SOURCE_GONE.format(name=dist.name, version=dist.version, origin=url),
        hint=SOURCE_GONE_HINT.format(name=dist.name),
    )
    if "vcs_info" in direct_url:
        info = direct_url["vcs_info"]
        spec = f"{info['vcs']}+{url}@{info.get('commit_id') or info.get('requested_revision')}"
        if subdirectory:
            spec += f"#subdirectory={subdirectory}"
        return _pip_wheel(dist, spec, spec, out)
    if "dir_info" in direct_url:
        if not url.startswith("file://"):
            raise gone
        source = _file_path(url) / subdirectory if subdirectory else _file_path(url)
        if not source.is_dir():
            raise gone
        copy = _copy_source(source, out.with_name(f"{out.name}-source"))
        wheel = _pip_wheel(dist, str(copy), str(source), out)
        if not direct_url["dir_info"].get("editable"):
            _check_same_code(dist, wheel.path, str(source))
        return wheel
    expected = _archive_hash(direct_url)
    if url.startswith("file://"):
        archive = _file_path(url)
        if not archive.is_file():
            raise gone
        if expected and sha256_file(archive) != expected:
            raise LockError(
                f"{archive} has changed since {dist.name} {dist.version} was installed from it",
                hint=SOURCE_CHANGED_HINT.format(origin=archive),
            )
        if archive.suffix == ".whl":
            out.mkdir(parents=True)
            shutil.copyfile(archive, out / archive.name)
            return _Wheel(out / archive.name, str(archive))
        return _pip_wheel(dist, str(archive), str(archive), out)
    spec = f"{url}#sha256={expected}" if expected and "#" not in url else url
    return _pip_wheel(dist, spec, url, out)


# ── pip-tools and pip ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class _Compiled:
    version: str
    hashes: tuple[str, ...]


def _parse_compiled(text: str) -> dict[str, _Compiled]:
    """name -> version and hashes from a pip-tools output file."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    logical.append(pending)
    pins: dict[str, _Compiled] = {}
    for line in logical:
        tokens = line.split()
        if not tokens or tokens[0].startswith("-") or "==" not in tokens[0]:
            continue
        name, version = tokens[0].split(";", 1)[0].split("==", 1)
        hashes = sorted(
            t.removeprefix("--hash=sha256:") for t in tokens[1:] if t.startswith("--hash=sha256:")
        )
        pins[canonical_name(name)] = _Compiled(version, tuple(hashes))
    return pins


def _not_found(stderr: str) -> list[tuple[str, str]]:
    """The name==version pairs pip reports as not on the index."""
    return [(canonical_name(n), v.rstrip(".,;)")) for n, v in _NOT_FOUND.findall(stderr)]


def hash_cache_path() -> Path:
    """The file where capsule keeps the hashes pip-tools found, for the next build to reuse."""
    return cache_dir() / "pip-tools-hashes.txt"


def _read_hash_cache(path: Path) -> dict[tuple[str, str], tuple[str, ...]]:
    """(name, version) -> sha256 hashes, from the cache; empty when there is none."""
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return {}
    cached: dict[tuple[str, str], tuple[str, ...]] = {}
    for line in lines:
        tokens = line.split()
        if len(tokens) > 1 and "==" in tokens[0]:
            name, version = tokens[0].split("==", 1)
            hashes = tuple(t.removeprefix("--hash=sha256:") for t in tokens[1:])
            cached[(canonical_name(name), normalize_version(version))] = hashes
    return cached


def _write_hash_cache(path: Path, cached: Mapping[tuple[str, str], tuple[str, ...]]) -> None:
    """Replace the cache atomically; a cache that cannot be written is only slower next time."""
    text = "".join(
        f"{n}=={v} " + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n"
        for (n, v), hashes in sorted(cached.items())
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(text, "utf-8")
        partial.replace(path)
    except OSError:
        pass


def _compile(
    wanted: Mapping[str, str], find_links: Path | None, tmp: Path, local_names: set[str]
) -> dict[str, _Compiled]:
    """Run pip-tools on `name==version` lines; LockError naming a pin the index lacks.

    pip-tools reuses the hashes of an existing output file (--reuse-hashes), which spares it
    fetching every file of every pinned version again: capsule seeds that file from its cache
    of what pip-tools found before (hash_cache_path), and adds to the cache afterwards.
    """
    req_in, req_out = tmp / "requirements.in", tmp / "requirements.txt"
    req_in.write_text("".join(f"{n}=={v}\n" for n, v in sorted(wanted.items())), "utf-8")
    cache = hash_cache_path()
    cached = _read_hash_cache(cache)
    seed = {
        n: _Compiled(v, cached[(n, normalize_version(v))])
        for n, v in wanted.items()
        if n not in local_names and (n, normalize_version(v)) in cached
    }
    req_out.write_text(_requirements(seed), "utf-8")
    argv = [
        sys.executable,
        "-m",
        "piptools",
        "compile",
        "--no-config",
        "--generate-hashes",
        "--reuse-hashes",
        "--allow-unsafe",
        "--strip-extras",
        "--no-header",
        "--annotation-style=line",
        "--output-file",
        str(req_out),
    ]
    if find_links is not None:
        argv += ["--find-links", str(find_links)]
    done = process.run([*argv, str(req_in)], cwd=tmp, check=False)
    if done.returncode != 0:
        for name, version in _not_found(done.stderr):
            if name in wanted and name not in local_names:
                raise LockError(
                    NOT_ON_INDEX.format(name=name, version=version), hint=NOT_ON_INDEX_HINT
                )
        raise LockError(
            "pip-tools could not pin the distributions that ran:\n"
            + process.stderr_tail(done.stderr, 15),
            hint="run `python -m pip check` in the analysis' environment: its installed "
            "versions must agree with each other and exist on the package index",
        )
    compiled = _parse_compiled(req_out.read_text("utf-8"))
    lost = sorted(set(wanted) - set(compiled))
    if lost:
        raise LockError(
            f"pip-tools left out distributions that ran: {', '.join(lost)}",
            hint="report this as a bug in capsule, with the analysis' `pip freeze`",
        )
    fresh = {
        (n, normalize_version(c.version)): c.hashes
        for n, c in compiled.items()
        if n not in local_names and c.hashes
    }
    if any(cached.get(key) != hashes for key, hashes in fresh.items()):
        _write_hash_cache(cache, {**cached, **fresh})
    return compiled


def _requirements(pins: Mapping[str, _Compiled]) -> str:
    return "".join(
        f"{n}=={c.version} " + " ".join(f"--hash=sha256:{h}" for h in c.hashes) + "\n"
        for n, c in sorted(pins.items())
    )


def _pip_download(pins: Mapping[str, _Compiled], dest: Path, tmp: Path, python_xy: str) -> str:
    """One `pip download` of binary wheels for `pins`; returns its stderr ("" on success)."""
    req = tmp / "download.txt"
    req.write_text(_requirements(pins), "utf-8")
    done = process.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--require-hashes",
            "--python-version",
            python_xy,
            "--progress-bar",
            "off",
            "--dest",
            str(dest),
            "-r",
            str(req),
        ],
        check=False,
    )
    return "" if done.returncode == 0 else done.stderr or "pip download failed"


def _download(
    pins: Mapping[str, _Compiled], dest: Path, tmp: Path, python_xy: str
) -> tuple[set[str], str]:
    """Fetch every pin's wheel into dest: (pins with no wheel on the index, other failure)."""
    remaining = dict(pins)
    no_wheel: set[str] = set()
    while remaining:
        stderr = _pip_download(remaining, dest, tmp, python_xy)
        if not stderr:
            return no_wheel, ""
        culprits = {n for n, _v in _not_found(stderr)} & set(remaining)
        if not culprits:
            break
        no_wheel |= culprits
        for name in culprits:
            del remaining[name]
    if not remaining:
        return no_wheel, ""
    # The bulk call failed in a way that names no pin: find the culprits one by one.
    for name, compiled in sorted(remaining.items()):
        stderr = _pip_download({name: compiled}, dest, tmp, python_xy)
        if stderr and _not_found(stderr):
            no_wheel.add(name)
        elif stderr:
            return no_wheel, f"{name}=={compiled.version}:\n" + process.stderr_tail(stderr, 12)
    return no_wheel, ""


def _build_from_sdist(name: str, compiled: _Compiled, tmp: Path) -> _Wheel:
    """A wheel of an index pin that has only a source distribution, built by pip (hash-checked)."""
    out = tmp / "sdists" / name
    out.mkdir(parents=True)
    req = tmp / f"sdist-{name}.txt"
    req.write_text(_requirements({name: compiled}), "utf-8")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--require-hashes"]
    done = process.run(
        [*pip_wheel, "--wheel-dir", str(out), "-r", str(req)],
        env=_build_env(name, compiled.version),
        check=False,
    )
    wheels = sorted(out.glob("*.whl"))
    origin = f"the source distribution of {name}=={compiled.version} on the package index"
    if done.returncode != 0 or len(wheels) != 1:
        raise LockError(
            BUILD_FAILED.format(name=name, version=compiled.version, origin=origin)
            + ":\n"
            + process.stderr_tail(done.stderr, 12),
            hint=BUILD_FAILED_HINT.format(spec=f"{name}=={compiled.version}"),
        )
    return _Wheel(wheels[0], origin)


def _find_wheel(name: str, compiled: _Compiled, folder: Path) -> Path:
    """The downloaded wheel of a pin: right name and version, and one of the locked hashes."""
    version = normalize_version(compiled.version)
    candidates = sorted(
        p for p in folder.glob("*.whl") if _wheel_name_version(p.name) == (name, version)
    )
    for path in candidates:
        if len(candidates) == 1 or sha256_file(path) in compiled.hashes:
            return path
    raise LockError(
        f"pip downloaded no wheel of {name}=={compiled.version} into {folder}",
        hint="check the package index and the network, then build again",
    )


# ── the lock ──────────────────────────────────────────────────────────────────────────────


@dataclass
class _Entry:
    """A pin on its way into requirements.lock and the Lock."""

    name: str
    version: str
    source: PinSource
    hashes: tuple[str, ...]
    imported: bool
    origin: str = ""
    note: str = ""


def _lock_text(
    entries: Sequence[_Entry], python_version: str, tool: str, header: str = HEADER
) -> str:
    out = [header.format(python=python_version, tool=tool)]
    for e in sorted(entries, key=lambda e: e.name):
        if e.source == "built":
            out.append(f"{e.name}=={e.version} --hash=sha256:{e.hashes[0]}\n")
            out.append(f"    # built from {e.origin}\n")
        else:
            out.append(f"{e.name}=={e.version} \\\n")
            out.append(" \\\n".join(f"    --hash=sha256:{h}" for h in e.hashes) + "\n")
        if e.note:
            out.append(f"    # {e.note}\n")
    return "".join(out)


def _note(dist: _Dist | None) -> str:
    if dist is None:
        return "added by pip-tools: not installed where the analysis ran"
    parts = []
    if dist.imported:
        parts.append("imported: " + ", ".join(dist.modules))
    if dist.required_by:
        parts.append("via " + ", ".join(dist.required_by))
    return "; ".join(parts)


def _tool() -> str:
    try:
        return f"pip-tools {importlib.metadata.version('pip-tools')}"
    except importlib.metadata.PackageNotFoundError as exc:
        raise LockError(
            "pip-tools is not installed beside capsule",
            hint="install capsule with its dependencies: pip install capsule",
        ) from exc


def _build_locals(
    dists: Sequence[_Dist], tmp: Path, say: Callable[[str], None]
) -> dict[str, _Wheel]:
    """Build a wheel of every distribution with a PEP 610 source, into tmp/built."""
    built_dir = tmp / "built"
    built_dir.mkdir()
    built: dict[str, _Wheel] = {}
    for dist in dists:
        if dist.direct_url is None:
            continue
        say(f"building a wheel of {dist.name} {dist.version}")
        wheel = _build_local(dist, tmp / "local" / dist.name)
        name, version = _wheel_name_version(wheel.path.name)
        if name != dist.name:
            raise LockError(
                f"the wheel built for {dist.name} from {wheel.origin} is {wheel.path.name}",
                hint="check that the source folder is the one of this distribution",
            )
        if version != dist.version:
            say(f"{dist.name}: installed as {dist.version}, its source now builds {version}")
        target = built_dir / wheel.path.name
        shutil.move(wheel.path, target)
        built[name] = _Wheel(target, wheel.origin)
    return built


def _entries(
    found: _Inventory,
    built: Mapping[str, _Wheel],
    compiled: Mapping[str, _Compiled],
    say: Callable[[str], None],
) -> dict[str, _Entry]:
    """One entry per pin: the built ones, then pip-tools' pins checked against what ran."""
    by_name = {d.name: d for d in found.dists}
    entries: dict[str, _Entry] = {}
    for name, wheel in built.items():
        version = _wheel_name_version(wheel.path.name)[1]
        entries[name] = _Entry(name, version, "built", (), by_name[name].imported, wheel.origin)
    for name, c in sorted(compiled.items()):
        if name in entries:
            continue
        ran = by_name.get(name)
        if ran is None:
            say(f"pip-tools added {name}=={c.version}, which the analysis' environment lacks")
        elif normalize_version(c.version) != ran.version:
            raise LockError(
                f"pip-tools pinned {name}=={c.version}, but {ran.version} ran",
                hint="run `python -m pip check` in the analysis' environment and fix what it "
                "reports, then build again",
            )
        imported = ran is not None and ran.imported
        entries[name] = _Entry(name, c.version, "index", c.hashes, imported, note=_note(ran))
    for name, entry in entries.items():
        if entry.source == "built":
            entry.note = _note(by_name[name])
    return entries


def _pins(
    entries: Mapping[str, _Entry],
    built: Mapping[str, _Wheel],
    index: Mapping[str, _Compiled],
    wheels_dir: Path,
) -> list[Pin]:
    """Put the built wheels beside the downloaded ones; one Pin each, with its wheel's hash."""
    pins = []
    for name, entry in sorted(entries.items()):
        if name in built:
            wheel_path = wheels_dir / built[name].path.name
            shutil.copyfile(built[name].path, wheel_path)
        else:
            wheel_path = _find_wheel(name, index[name], wheels_dir)
        digest = sha256_file(wheel_path)
        if entry.source == "built":
            entry.hashes = (digest,)
        elif digest not in entry.hashes:
            raise LockError(
                f"{wheel_path} matches none of the hashes pip-tools found for {name}",
                hint=f"delete {wheel_path.name} from {wheels_dir} and build again",
            )
        pins.append(
            Pin(
                name=name,
                version=entry.version,
                source=entry.source,
                wheel=wheel_path.name,
                wheel_sha256=digest,
                imported=entry.imported,
                origin=entry.origin,
            )
        )
    return pins


def pin(
    imports: Mapping[str, str | None],
    *,
    python: str,
    analysis_root: Path,
    wheels_dir: Path,
    lock_path: Path,
    say: Callable[[str], None] = lambda _m: None,
    header: str = HEADER,
) -> Lock:
    """Pin the closure of the distributions the run imported; write requirements.lock and wheels.

    Raises LockError when a distribution cannot be pinned: not on the index and without a
    local source, a source that is gone or fails to build, or an analysis Python of another
    X.Y than capsule's.
    """
    tool = _tool()
    found = _inventory(imports, python or sys.executable, analysis_root)
    if found.dists:  # nothing to resolve, nothing that depends on the resolver's Python
        _check_python(found)
    _tell(found, say)
    python_xy = f"{found.python_xy[0]}.{found.python_xy[1]}"
    wheels_dir.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="capsule-lock-") as tmp_name:
        tmp = Path(tmp_name)
        built = _build_locals(found.dists, tmp, say)
        compiled: dict[str, _Compiled] = {}
        if found.dists:
            wanted = {d.name: d.version for d in found.dists}
            wanted.update({n: _wheel_name_version(w.path.name)[1] for n, w in built.items()})
            say(f"pip-tools: pinning {len(wanted)} distributions")
            find_links = tmp / "built" if built else None
            compiled = _compile(wanted, find_links, tmp, set(built))
        entries = _entries(found, built, compiled, say)

        index = {n: compiled[n] for n, e in entries.items() if e.source == "index"}
        if index:
            say(f"downloading {len(index)} wheels")
        no_wheel, failure = _download(index, wheels_dir, tmp, python_xy)
        if failure:
            raise LockError(
                f"cannot download the wheel of {failure}",
                hint="check the network and the package index, then build again",
            )
        for name in sorted(no_wheel):
            say(f"no wheel of {name}=={index[name].version} on the index: building its sdist")
            wheel = _build_from_sdist(name, index[name], tmp)
            built = {**built, name: wheel}
            entries[name].source, entries[name].origin = "built", wheel.origin

        pins = _pins(entries, built, index, wheels_dir)

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    text = _lock_text(list(entries.values()), found.python_version, tool, header)
    lock_path.write_bytes(text.encode("utf-8"))
    imported = {m.split(".", 1)[0] for d in found.dists for m in d.modules}
    return Lock(
        python_version=found.python_version,
        pins=tuple(pins),
        imported_modules=tuple(sorted(imported)),
        tool=tool,
    )


# ── capsule's own runtime ─────────────────────────────────────────────────────────────────

# What capsule's notebook client (runtime/_capsule_notebook.py) imports: the roots of runtime.lock.
RUNTIME_MODULES = ("jupyter_client", "nbclient", "nbformat")
RUNTIME_MISSING = "capsule's notebook client needs {module}, which is not installed beside capsule"
RUNTIME_MISSING_HINT = "reinstall capsule with its dependencies (pip install capsule)"


def pin_runtime(
    *, wheels_dir: Path, lock_path: Path, say: Callable[[str], None] = lambda _m: None
) -> Lock:
    """Pin capsule's notebook client as installed beside capsule: runtime.lock and its wheels.

    The same pinning as the analysis' (pin), asked of capsule's own interpreter with the
    client's modules as the roots, so a capsule runs its notebooks with the client its build
    used, in an environment apart from the analysis'. Raises LockError like pin.
    """
    imports: dict[str, str | None] = {}
    for module in RUNTIME_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None:
            raise LockError(RUNTIME_MISSING.format(module=module), hint=RUNTIME_MISSING_HINT)
        imports[module] = spec.origin
    with tempfile.TemporaryDirectory(prefix="capsule-runtime-") as nowhere:
        return pin(
            imports,
            python=sys.executable,
            analysis_root=Path(nowhere),  # the client has no analysis of its own
            wheels_dir=wheels_dir,
            lock_path=lock_path,
            say=say,
            header=RUNTIME_HEADER,
        )

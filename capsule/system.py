"""What a run used of the operating system, and the .deb files that bring it into the capsule.

The system observer (systrace) says which files every process of every step executed or opened.
Those inside the analysis, capsule's own folders, the analysis' Python and the machine's state
(/proc, /tmp, …) are left out; the rest are resolved to the dpkg packages that own them (syspkg).
The packages, with everything they depend on that the base image lacks, are vendored as .deb
files at their exact versions, so the image installs them with no network.
"""

from __future__ import annotations

import fnmatch
import platform
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from capsule import process, syspkg
from capsule.cache import cache_dir
from capsule.errors import CapsuleError
from capsule.manifest import DEBS_FOLDER
from capsule.model import SystemEnvironment, SystemPackage, SystemUse, UnownedFile
from capsule.systrace import FileUse
from capsule.wording import plural

APT_ARCHIVES = Path("/var/cache/apt/archives")
DOWNLOAD_TIMEOUT_S = 600
# The machine's state, not its software: never resolved to packages nor reported.
MACHINE_STATE = ("/proc/", "/sys/", "/dev/", "/run/", "/tmp/", "/var/tmp/", "/var/cache/")  # noqa: S108
# Without the base image's own list: what a Python image (python:X.Y.Z-slim, Debian's python3)
# has beside the required packages, found as the closure of these where this machine has them:
# apt (every Debian image has it, and libstdc++6 with it) and what Python's library needs.
PYTHON_IMAGE_ROOTS = (
    "apt",
    "libpython3-stdlib",
    "python3-minimal",
    "ca-certificates",
    "netbase",
    "tzdata",
)
# Configuration: the machine's, and fontconfig's snippets (/etc/fonts/conf.d links there).
CONFIGURATION = ("/etc/", "/usr/share/fontconfig/conf.avail/")
# Unowned files here are the machine's own configuration (passwd, ld.so.cache, …) or data that
# packages' scripts generate (locale-archive, fontconfig caches): recorded, not reported.
GENERATED = ("/etc/", "/var/", "/usr/lib/locale/locale-archive")
# Files that packages' scripts make where they install (graphviz's plugin list, GIO's and
# GdkPixbuf's module caches): the image's dpkg makes them again.
GENERATED_FILES = ("*/graphviz/config[0-9]*", "*.cache")
# How apt-get download names a version the archive no longer has.
_VERSION_GONE = re.compile(r"version '[^']*' of '([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?'")
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".pfb", ".pfa", ".afm", ".woff", ".woff2", ".pcf.gz")


def describe(
    uses: Mapping[str, Iterable[FileUse]],
    *,
    skip: Iterable[str],
    observer: str,
    database: syspkg.Database | None,
    base: Mapping[str, str] | None,
) -> SystemEnvironment:
    """The system section of the manifest, from each step's file uses.

    `skip` are folders whose files are not the system's (the analysis' copies, capsule's own
    folders, the analysis' Python); `base` the base image's packages (name -> version), None
    when unknown. Packages get no .deb yet: `vendor` fetches them.
    """
    used = _system_uses(uses, tuple(_folder(path) for path in skip))
    release = os_release()
    if database is None:
        return SystemEnvironment(
            os_release=release,
            observer=observer,
            packages=(),
            unowned=_unowned(used),
            base_packages="none",
            note=_not_debian_note(release) if used else "",
        )
    owners = database.owners(used)
    files_of: dict[str, set[str]] = {}
    for path, package in owners.items():
        files_of.setdefault(package, set()).add(path)
    # A package whose only files read are configuration (/etc/locale.alias of `locales`) is the
    # machine's setting, not a program the run needs: such reads count for packages used anyway.
    files_of = {
        name: files
        for name, files in files_of.items()
        if any(not path.startswith(CONFIGURATION) for path in files)
    }
    assumed = _python_image(database) if base is None else set()
    needed = {
        p.name
        for p in syspkg.missing_from(database.closure(files_of), base)
        if p.name not in assumed
    }
    packages = tuple(
        SystemPackage(
            name=p.name,
            version=p.version,
            architecture=p.architecture,
            files=tuple(sorted(files_of.get(p.name, ()))),
            used_by=tuple(sorted({u for f in files_of.get(p.name, ()) for u in used[f]}, key=_key)),
            in_base=p.name not in needed,
            base_version=_other_version(p, base),
        )
        for p in (database.packages[name] for name in sorted(needed | set(files_of)))
    )
    unowned = _unowned({path: who for path, who in used.items() if path not in owners})
    return SystemEnvironment(
        os_release=release,
        observer=observer,
        packages=packages,
        unowned=unowned,
        base_packages="minimal" if base is None else "image",
    )


def vendor(
    system: SystemEnvironment,
    into: Path,
    *,
    say: Callable[[str], None] = lambda _m: None,
) -> tuple[SystemEnvironment, tuple[str, ...]]:
    """Fetch the .deb of every package the base image lacks into `into`/debs.

    Returns the section with each vendored package's `deb` set, and the packages no .deb could
    be had for (name=version), for a finding. A .deb comes from capsule's cache, apt's own
    archive folder, or `apt-get download` (which checks it against the signed index). When the
    archive no longer has the version used (a security update replaced it), the version it has
    is vendored instead and recorded as `deb_version`.
    """
    wanted = [p for p in system.packages if not p.in_base]
    if not wanted:
        return system, ()
    cache = cache_dir() / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    found = {p.name: deb for p in wanted if (deb := _cached(p, cache)) is not None}
    missing = [p for p in wanted if p.name not in found]
    if missing:
        say(f"downloading {plural(len(missing), 'system package')}")
        found.update(_download(missing, cache))
    folder = into / DEBS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for deb in found.values():
        shutil.copyfile(deb, folder / deb.name)
    packages = tuple(_vendored(p, found.get(p.name)) for p in system.packages)
    failed = tuple(f"{p.name}={p.version}" for p in wanted if p.name not in found)
    return replace(system, packages=packages), failed


def _vendored(package: SystemPackage, deb: Path | None) -> SystemPackage:
    """The package with the .deb vendored for it, and that .deb's version if it differs."""
    if deb is None:
        return package
    version = syspkg.deb_version(deb.name)
    return replace(package, deb=deb.name, deb_version="" if version == package.version else version)


def os_release() -> str:
    """ "debian 12": the ID and VERSION_ID of /etc/os-release, or "" when there is none."""
    try:
        fields = platform.freedesktop_os_release()
    except OSError:
        return ""
    return " ".join(v for v in (fields.get("ID", ""), fields.get("VERSION_ID", "")) if v)


def reported(unowned: Iterable[UnownedFile]) -> list[UnownedFile]:
    """The unowned files worth a finding: not machine configuration or generated data."""
    return [
        u
        for u in unowned
        if not u.path.startswith(GENERATED)
        and not any(fnmatch.fnmatchcase(u.path, pattern) for pattern in GENERATED_FILES)
    ]


# ── helpers ───────────────────────────────────────────────────────────────────────────────


def _folder(path: str) -> str:
    """A folder as a prefix that matches only what is inside it."""
    return path.rstrip("/") + "/"


def _system_uses(
    uses: Mapping[str, Iterable[FileUse]], skip: tuple[str, ...]
) -> dict[str, set[SystemUse]]:
    """Path -> who used it, for the files that belong to the system."""
    used: dict[str, set[SystemUse]] = {}
    for step, step_uses in uses.items():
        for use in step_uses:
            if use.written or use.path.startswith(MACHINE_STATE) or use.path.startswith(skip):
                continue
            if not use.path.startswith("/"):
                continue
            used.setdefault(use.path, set()).add(SystemUse(step=step, program=use.program))
    return used


def _python_image(database: syspkg.Database) -> set[str]:
    """What any Python base image has beside the required packages: apt's, and those Python's
    standard library needs (libssl3, libffi8, tzdata, …) as Debian's own python3 here needs."""
    roots = [name for name in PYTHON_IMAGE_ROOTS if name in database.packages]
    return {package.name for package in database.closure(roots)}


def _other_version(package: syspkg.Package, base: Mapping[str, str] | None) -> str:
    """The version the base image has of the package when it is not the one the run used."""
    theirs = (base or {}).get(package.name, "")
    return theirs if theirs != package.version else ""


def _key(use: SystemUse) -> tuple[str, str]:
    """Sort key of a use."""
    return (use.step, use.program)


def _unowned(used: Mapping[str, set[SystemUse]]) -> tuple[UnownedFile, ...]:
    """Unowned files in path order, each with who used it."""
    return tuple(
        UnownedFile(path=path, used_by=tuple(sorted(who, key=_key)))
        for path, who in sorted(used.items())
    )


def _not_debian_note(release: str) -> str:
    """What build says on a machine without a dpkg database."""
    where = f" ({release})" if release else ""
    return (
        f"this machine{where} has no dpkg database: the programs and libraries the run used "
        "are listed as files, but capsule cannot name their packages or vendor them"
    )


def _cached(package: SystemPackage, cache: Path) -> Path | None:
    """The package's .deb in capsule's cache or apt's archive folder, if there."""
    name = syspkg.deb_name(package.name, package.version, package.architecture)
    for folder in (cache, APT_ARCHIVES):
        if (folder / name).is_file():
            return folder / name
    return None


def _download(packages: list[SystemPackage], cache: Path) -> dict[str, Path]:
    """`apt-get download` the packages into the cache: name -> the .deb fetched.

    One call for all of them; the versions the archive no longer has make that call fail as a
    whole (apt names them), so the others are fetched again without them, and for those the
    archive's own version is fetched.
    """
    apt = shutil.which("apt-get")
    if apt is None:
        return {}
    exact = {p.name: f"{p.name}:{p.architecture}={p.version}" for p in packages}
    with tempfile.TemporaryDirectory(prefix="debs-", dir=cache) as tmp:
        gone = _apt_download(apt, list(exact.values()), Path(tmp))
        if gone:
            rest = [spec for name, spec in exact.items() if name not in gone]
            if rest:
                _apt_download(apt, rest, Path(tmp))
            _apt_download(
                apt, [f"{p.name}:{p.architecture}" for p in packages if p.name in gone], Path(tmp)
            )
        fetched: dict[str, Path] = {}
        for deb in sorted(Path(tmp).glob("*.deb")):
            deb.replace(cache / deb.name)
            fetched[deb.name.split("_", 1)[0]] = cache / deb.name
    wanted = {p.name for p in packages}
    return {name: deb for name, deb in fetched.items() if name in wanted}


def _apt_download(apt: str, specs: list[str], into: Path) -> set[str]:
    """`apt-get download` specs into `into`; the names of those whose version apt lacks.

    A failure apt does not explain (no network, say) counts for every one of them.
    """
    try:
        done = process.run(
            (apt, "download", "-q", *specs), cwd=into, check=False, timeout=DOWNLOAD_TIMEOUT_S
        )
    except CapsuleError:
        return {spec.split(":", 1)[0].split("=", 1)[0] for spec in specs}
    if done.returncode == 0:
        return set()
    gone = {match.group(1) for match in _VERSION_GONE.finditer(done.stderr)}
    return gone or {spec.split(":", 1)[0].split("=", 1)[0] for spec in specs}

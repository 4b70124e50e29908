"""What a run used of the operating system, and the .deb files that bring it into the capsule.

The system observer (systrace) says which files every process of every step executed or opened.
Those inside the analysis, capsule's own folders, the analysis' Python and the machine's state
(/proc, /tmp, …) are left out; the rest are resolved to the dpkg packages that own them (syspkg).
The packages, with everything they depend on that the base image lacks, are vendored as .deb
files at their exact versions, so the image installs them with no network.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path

from capsule import process, syspkg
from capsule.cache import cache_dir
from capsule.errors import CapsuleError
from capsule.model import SystemEnvironment, SystemPackage, SystemUse, UnownedFile
from capsule.systrace import FileUse

DEBS_FOLDER = "debs"
APT_ARCHIVES = Path("/var/cache/apt/archives")
DOWNLOAD_TIMEOUT_S = 600
# The machine's state, not its software: never resolved to packages nor reported.
MACHINE_STATE = ("/proc/", "/sys/", "/dev/", "/run/", "/tmp/", "/var/tmp/", "/var/cache/")  # noqa: S108
# Unowned files here are the machine's own configuration (passwd, ld.so.cache, …) or data that
# packages' scripts generate (locale-archive, fontconfig caches): recorded, not reported.
GENERATED = ("/etc/", "/var/", "/usr/lib/locale/locale-archive")
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
    needed = {p.name for p in syspkg.missing_from(database.closure(files_of), base)}
    packages = tuple(
        SystemPackage(
            name=p.name,
            version=p.version,
            architecture=p.architecture,
            files=tuple(sorted(files_of.get(p.name, ()))),
            used_by=tuple(sorted({u for f in files_of.get(p.name, ()) for u in used[f]}, key=_key)),
            in_base=p.name not in needed,
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

    Returns the section with each vendored package's `deb` set, and the packages that could
    not be fetched (name=version), for a finding. A .deb comes from apt's own archive folder,
    capsule's cache, or `apt-get download` (which checks it against the signed index).
    """
    wanted = [p for p in system.packages if not p.in_base]
    if not wanted:
        return system, ()
    folder = into / DEBS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    cache = cache_dir() / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    missing = [p for p in wanted if _cached(p, cache) is None]
    if missing:
        say(f"downloading {len(missing)} system package(s)")
        _download(missing, cache)
    done: dict[str, str] = {}
    failed: list[str] = []
    for package in wanted:
        found = _cached(package, cache)
        if found is None:
            failed.append(f"{package.name}={package.version}")
            continue
        shutil.copyfile(found, folder / found.name)
        done[package.name] = found.name
    packages = tuple(replace(p, deb=done.get(p.name, "")) for p in system.packages)
    return replace(system, packages=packages), tuple(failed)


def os_release() -> str:
    """ "debian 12": the ID and VERSION_ID of /etc/os-release, or "" when there is none."""
    try:
        fields = platform.freedesktop_os_release()
    except OSError:
        return ""
    return " ".join(v for v in (fields.get("ID", ""), fields.get("VERSION_ID", "")) if v)


def fonts(system: SystemEnvironment) -> tuple[str, ...]:
    """The font files the run opened, owned or not, sorted."""
    paths = [f for p in system.packages for f in p.files] + [u.path for u in system.unowned]
    return tuple(sorted(p for p in paths if p.lower().endswith(FONT_SUFFIXES)))


def reported(unowned: Iterable[UnownedFile]) -> list[UnownedFile]:
    """The unowned files worth a finding: not machine configuration or generated data."""
    return [u for u in unowned if not u.path.startswith(GENERATED)]


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


def _download(packages: list[SystemPackage], cache: Path) -> None:
    """`apt-get download` the packages into the cache; failures are left for the caller."""
    apt = shutil.which("apt-get")
    if apt is None:
        return
    with tempfile.TemporaryDirectory(prefix="debs-", dir=cache) as tmp:
        for package in packages:
            spec = f"{package.name}:{package.architecture}={package.version}"
            try:
                process.run(
                    (apt, "download", "-q", spec), cwd=Path(tmp), timeout=DOWNLOAD_TIMEOUT_S
                )
            except CapsuleError:
                continue
        for deb in Path(tmp).glob("*.deb"):
            deb.replace(cache / deb.name)

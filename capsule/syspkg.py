"""The operating-system packages behind the files a run used, from the dpkg database.

Debian and Ubuntu record which package owns each file (/var/lib/dpkg/info/*.list) and what each
installed package is (/var/lib/dpkg/status: version, architecture, dependencies). Both are read
directly: one pass over the lists answers every path at once, where `dpkg -S` would start a
process per path. The merged /usr is taken into account: dpkg may list /lib/x/libc.so.6 for the
file a process opened as /usr/lib/x/libc.so.6.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DPKG_DIR = Path("/var/lib/dpkg")
# Top-level folders that the merged /usr turned into links to /usr/<name>.
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
_DEPENDENCY = re.compile(r"^\s*([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9-]+)?")


@dataclass(frozen=True)
class Package:
    """An installed package as the dpkg status file describes it."""

    name: str
    version: str
    architecture: str
    priority: str = ""
    essential: bool = False
    depends: tuple[tuple[str, ...], ...] = ()  # Pre-Depends and Depends: groups of alternatives
    provides: tuple[str, ...] = ()

    @property
    def spec(self) -> str:
        """name:arch=version, as apt-get download takes it."""
        return f"{self.name}:{self.architecture}={self.version}"


@dataclass
class Database:
    """The installed packages of a dpkg system, and a lazily read index of their files."""

    root: Path
    packages: dict[str, Package]  # by name
    _owners: dict[str, str] | None = field(default=None, repr=False)

    def owners(self, paths: Iterable[str]) -> dict[str, str]:
        """The package owning each path that some package owns (unowned paths are left out)."""
        index = self._index()
        found: dict[str, str] = {}
        for path in paths:
            for spelling in _spellings(path):
                if spelling in index:
                    found[path] = index[spelling]
                    break
        return found

    def closure(self, names: Iterable[str]) -> list[Package]:
        """The packages and everything they depend on, as installed here, sorted by name."""
        provided = {alias: p.name for p in self.packages.values() for alias in p.provides}
        todo = [name for name in names if name in self.packages]
        seen: set[str] = set()
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            for group in self.packages[name].depends:
                chosen = next(
                    (
                        alt if alt in self.packages else provided[alt]
                        for alt in group
                        if alt in self.packages or alt in provided
                    ),
                    None,
                )
                if chosen is not None and chosen not in seen:
                    todo.append(chosen)
        return [self.packages[name] for name in sorted(seen)]

    def _index(self) -> dict[str, str]:
        """Path -> owning package, from every info/*.list file (read once)."""
        if self._owners is None:
            owners: dict[str, str] = {}
            for listing in sorted((self.root / "info").glob("*.list")):
                package = listing.name.removesuffix(".list").split(":", 1)[0]
                try:
                    text = listing.read_bytes().decode("utf-8", errors="surrogateescape")
                except OSError:
                    continue
                for line in text.splitlines():
                    owners.setdefault(line, package)
            self._owners = owners
        return self._owners


def load(root: Path = DPKG_DIR) -> Database | None:
    """The dpkg database at `root`, or None on a system without one (not Debian-like)."""
    status = root / "status"
    try:
        text = status.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    packages = {p.name: p for p in parse_status(text)}
    return Database(root=root, packages=packages)


def parse_status(text: str) -> Iterator[Package]:
    """The installed packages of a dpkg status file (other states are skipped)."""
    for stanza in text.split("\n\n"):
        fields = _fields(stanza)
        if not fields.get("Package") or not fields.get("Status", "").endswith(" installed"):
            continue
        yield Package(
            name=fields["Package"],
            version=fields.get("Version", ""),
            architecture=fields.get("Architecture", ""),
            priority=fields.get("Priority", ""),
            essential=fields.get("Essential", "") == "yes",
            depends=tuple(
                _groups(
                    ", ".join(v for v in (fields.get("Pre-Depends"), fields.get("Depends")) if v)
                )
            ),
            provides=tuple(name for group in _groups(fields.get("Provides", "")) for name in group),
        )


def in_minimal_system(package: Package) -> bool:
    """Whether a minimal Debian (debootstrap's minbase) has the package: required or essential."""
    return package.essential or package.priority == "required"


def missing_from(packages: Iterable[Package], base: Mapping[str, str] | None) -> list[Package]:
    """The packages a base image lacks: those it has at another version are not missing.

    `base` maps the image's package names to versions; None (not known: no engine answered)
    takes a minimal Debian's required packages as present. Another version of the same release
    stands in for the host's (a security update apart, most often): the caller records it.
    """
    if base is None:
        return [p for p in packages if not in_minimal_system(p)]
    return [p for p in packages if p.name not in base]


def deb_name(name: str, version: str, architecture: str) -> str:
    """The file name Debian gives a package's .deb (the epoch's colon as %3a)."""
    return f"{name}_{version.replace(':', '%3a')}_{architecture}.deb"


def deb_version(filename: str) -> str:
    """The version in a .deb's file name (name_version_arch.deb), the epoch's %3a decoded."""
    parts = filename.removesuffix(".deb").split("_")
    return parts[1].replace("%3a", ":") if len(parts) == 3 else ""


def _fields(stanza: str) -> dict[str, str]:
    """The fields of one stanza; continuation lines are dropped (only one-line fields are used)."""
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line[:1] in (" ", "\t") or ":" not in line:
            continue
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _groups(text: str) -> Iterator[tuple[str, ...]]:
    """`a (>= 1) | b, c` -> ("a", "b"), ("c",): package names, versions and arches dropped."""
    for group in text.split(","):
        names = tuple(
            match.group(1) for alt in group.split("|") if (match := _DEPENDENCY.match(alt))
        )
        if names:
            yield names


def _spellings(path: str) -> Collection[str]:
    """The ways dpkg may list a path: as it is, and without /usr for the merged folders."""
    parts = path.split("/", 3)
    if len(parts) == 4 and parts[1] == "usr" and parts[2] in MERGED_USR:
        return (path, f"/{parts[2]}/{parts[3]}")
    return (path,)

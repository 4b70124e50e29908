"""capsule.json: the manifest as canonical JSON, its identity, and a validating reader."""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from capsule.errors import ManifestError
from capsule.hashing import sha256_bytes
from capsule.model import FORMAT_VERSION, Manifest
from capsule.platforms import check_platform

MANIFEST_FILE = "capsule.json"
DEBS_FOLDER = "debs"  # the .deb files of the system packages the base image lacks
# A .deb as Debian names it: package_version_architecture.deb (the epoch's colon as %3a).
_DEB_FILE = re.compile(r"[a-z0-9][a-z0-9+.-]*_[A-Za-z0-9.+~%-]+_[a-z0-9-]+\.deb")
TAMPERED_HINT = "the capsule is damaged or was tampered with: fetch it again or rebuild it"

T = TypeVar("T")


def to_dict(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain JSON-ready data (tuples become lists)."""
    return dataclasses.asdict(manifest)


def canonical_json(manifest: Manifest) -> str:
    """Canonical JSON: sorted keys, two-space indent, UTF-8 text, LF, a final newline."""
    return json.dumps(to_dict(manifest), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def capsule_id(manifest: Manifest) -> str:
    """The capsule's identity: the SHA-256 of its canonical manifest."""
    return sha256_bytes(canonical_json(manifest).encode("utf-8"))


def write(manifest: Manifest, folder: Path) -> str:
    """Write folder/capsule.json; return the capsule id."""
    text = canonical_json(manifest)
    (folder / MANIFEST_FILE).write_bytes(text.encode("utf-8"))
    return sha256_bytes(text.encode("utf-8"))


def read(folder: Path) -> Manifest:
    """Read and validate folder/capsule.json; ManifestError says what is wrong and what to do."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ManifestError(
            f"{folder} is not a capsule: it has no {MANIFEST_FILE}",
            hint="give the folder that `capsule build` wrote (NAME.capsule)",
        )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(
            f"{path} is not valid JSON: {error}",
            hint="the capsule is damaged; fetch it again or rebuild it",
        ) from error
    return from_dict(data)


def from_dict(data: object) -> Manifest:
    """Validate plain data as a Manifest: known format, every field typed, every path safe."""
    if not isinstance(data, dict):
        raise ManifestError("capsule.json does not hold a JSON object", hint="rebuild the capsule")
    version = data.get("format")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ManifestError("capsule.json has no format version", hint="rebuild the capsule")
    if version > FORMAT_VERSION:
        raise ManifestError(
            f"capsule.json is format {version}; this capsule reads format {FORMAT_VERSION} "
            "and older",
            hint="upgrade capsule (pip install --upgrade capsule)",
        )
    if version < 1:
        raise ManifestError(f"capsule.json has an unknown format version {version}")
    loaded = _build(Manifest, data, "capsule.json")
    paths = [entry.path for entry in (*loaded.files, *loaded.capsule_files)]
    paths += [entry.path for entry in loaded.outputs]
    if loaded.base_image_archive is not None:
        paths.append(loaded.base_image_archive.file)
    paths += [step.cwd for step in loaded.plan.steps if step.cwd]
    for path in paths:
        check_relative(path)
    check_platform(loaded.platform)
    _check_debs(loaded)
    return loaded


def _check_debs(loaded: Manifest) -> None:
    """The .deb files of debs/ are those of the system section, each a plain Debian file name.

    The Dockerfile installs every file of debs/: one the system section does not account for,
    or a name that is not a package file's, is refused.
    """
    named = [p.deb for p in loaded.system.packages if p.deb] if loaded.system else []
    for deb in named:
        if not _DEB_FILE.fullmatch(deb):
            raise ManifestError(
                f"capsule.json names the system package file {deb[:80]!r}, which is not one",
                hint=TAMPERED_HINT,
            )
    carried = {e.path for e in loaded.capsule_files if e.path.startswith(f"{DEBS_FOLDER}/")}
    expected = {f"{DEBS_FOLDER}/{deb}" for deb in named}
    if carried != expected:
        odd = sorted(carried ^ expected)[0]
        raise ManifestError(
            f"capsule.json's system section and its files disagree about {odd}",
            hint=TAMPERED_HINT,
        )


def check_relative(path: str) -> None:
    """Refuse a manifest path that is absolute, climbs out with `..`, or is empty."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path or path.startswith("~"):
        raise ManifestError(
            f"capsule.json names the path {path!r}, which is not inside the capsule",
            hint="a capsule never refers outside itself: this one is damaged or was tampered with",
        )


def _build(cls: type[T], data: object, where: str) -> T:
    """Make a dataclass from plain data, checking every field's type."""
    if not isinstance(data, dict):
        raise ManifestError(f"{where} must be an object", hint="rebuild the capsule")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in data:
            if field.default is not dataclasses.MISSING:
                continue
            if field.default_factory is not dataclasses.MISSING:
                continue
            raise ManifestError(f"{where} lacks {field.name!r}", hint="rebuild the capsule")
        values[field.name] = _value(hints[field.name], data[field.name], f"{where}.{field.name}")
    unknown = sorted(set(data) - {field.name for field in dataclasses.fields(cls)})  # type: ignore[arg-type]
    if unknown:
        raise ManifestError(
            f"{where} has an unknown field {unknown[0]!r}",
            hint="it was written by a newer capsule: upgrade capsule",
        )
    return cls(**values)


def _value(hint: Any, value: object, where: str) -> Any:
    """Check one value against its type hint and convert lists to tuples, objects to dataclasses."""
    origin = get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        real = [option for option in options if option is not type(None)]
        return _value(real[0], value, where)
    if origin is Literal:
        if value not in get_args(hint):
            raise ManifestError(f"{where} is {value!r}, not one of {list(get_args(hint))}")
        return value
    if origin is tuple:
        if not isinstance(value, list):
            raise ManifestError(f"{where} must be a list")
        args = get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], item, f"{where}[{i}]") for i, item in enumerate(value))
        if len(value) != len(args):
            raise ManifestError(f"{where} must have {len(args)} items")
        return tuple(
            _value(arg, item, f"{where}[{i}]")
            for i, (arg, item) in enumerate(zip(args, value, strict=True))
        )
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)  # type: ignore[arg-type]
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ManifestError(f"{where} must be a number")
        return float(value)
    if hint in (str, int, bool):
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise ManifestError(f"{where} must be of type {hint.__name__}")
        return value
    raise ManifestError(f"{where}: capsule cannot read a value of type {hint!r}")

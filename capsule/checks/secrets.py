"""Checks for files that look like secrets, and data not covered by checksums."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from capsule.checks.context import AuditContext, Check
from capsule.hashing import matches, walk
from capsule.model import Finding

SCAN_LIMIT = 1 << 20  # 1 MiB: larger files are data, not configuration; names still count
BINARY_PROBE = 8192  # a NUL byte in the first 8 KiB marks a binary file

# File names that hold secrets by convention (fnmatch patterns on the file name).
SECRET_NAMES: tuple[str, ...] = (
    ".env",
    ".env.*",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "credentials.json",
    "service-account*.json",
    ".netrc",
    ".pgpass",
    ".git-credentials",
)
# Paths (suffixes of the relative path) that hold secrets by convention.
SECRET_PATHS: tuple[str, ...] = (".aws/credentials",)
# Templates that document which variables to set: their names are not secrets (contents are
# still scanned, so a real key pasted into one is found).
TEMPLATE_SUFFIXES: tuple[str, ...] = (".example", ".sample", ".template", ".dist", ".defaults")
# A .pem or .key holding only certificates or public keys is not a secret.
_PUBLIC_ONLY = re.compile(r"-----BEGIN (CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY|X509 CRL)-----")

# What a secret looks like inside a text file: (kind, pattern).
SECRET_CONTENT: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "a private key",
        re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA |ENCRYPTED |)PRIVATE KEY-----"),
    ),
    ("a PGP private key", re.compile(r"-----BEGIN PGP PRIVATE KEY BLOCK-----")),
    (
        "an AWS secret access key",
        re.compile(r"aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+]{40}", re.IGNORECASE),
    ),
    ("a GitHub token", re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("a Slack token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
)
KEY_BLOCKS = ("a private key", "a PGP private key")  # no placeholder looks like these
_AWS_KEY_ID = re.compile(r"\bAKIA[0-9A-Z]{16}\b")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
AWS_NEARBY = 3  # lines either side of an access key id where its secret may be
_GENERIC = re.compile(
    r"(api|secret)[_-]?key\s*[:=]\s*['\"]([A-Za-z0-9/+_-]{20,})['\"]", re.IGNORECASE
)
# Words of documentation placeholders and of AWS's published example keys.
PLACEHOLDER_WORDS = ("example", "your", "placeholder", "change", "xxxx", "dummy", "replace")

SECRET_NAMED = "{path} is named like a file that holds secrets ({pattern})"  # noqa: S105
SECRET_CONTAINS = "{path} contains what looks like {kind}"  # noqa: S105
# Messages about secrets, not secrets (ruff's S105 judges by the name).
SECRET_FIX = (
    "remove it from the analysis, or exclude it in capsule.toml ([files] exclude); if it is "  # noqa: S105
    'not a secret, allow it by name ([files] allow_secrets = ["{path}"])'
)
EXCLUDED_DATA = (
    "{path} is data of the analysis (it matches {pattern!r}) but [files] exclude leaves it out "
    "of the capsule: no checksum covers it and a rerun will not have it"
)
EXCLUDED_DATA_FIX = (
    "remove it from [files] exclude, or, if it cannot be published, say in the README where to "
    "get it and its sha256 so that others can check they have the same file"
)
EXTERNAL_DATA = (
    "step {step!r} read {path}, a data file outside the analysis: it is not in the capsule and "
    "no checksum covers it"
)
EXTERNAL_DATA_FIX = (
    "copy it into the analysis' data folder and read it by a relative path, or say in the README "
    "where to get it and its sha256"
)
# Suffixes of files that hold data (the plan's list without the ones tools use for settings).
DATA_LOOKING = (
    ".csv",
    ".tsv",
    ".parquet",
    ".feather",
    ".arrow",
    ".xlsx",
    ".xls",
    ".npy",
    ".npz",
    ".h5",
    ".hdf5",
    ".nc",
    ".sav",
    ".dta",
    ".rds",
    ".sqlite",
    ".db",
    ".pkl",
    ".zarr",
)


def _named_like_secret(rel: str) -> str:
    """The convention a path's name follows for secrets, or "" when it follows none."""
    name = PurePosixPath(rel).name
    if rel == SECRET_PATHS[0] or any(rel.endswith("/" + path) for path in SECRET_PATHS):
        return SECRET_PATHS[0]
    if name.endswith(TEMPLATE_SUFFIXES):
        return ""
    return next((pattern for pattern in SECRET_NAMES if fnmatchcase(name, pattern)), "")


def _read_text(path: Path) -> str | None:
    """The text of a file up to SCAN_LIMIT, or None for a binary, a larger or unreadable file."""
    try:
        if path.is_symlink() or path.stat().st_size > SCAN_LIMIT:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:BINARY_PROBE]:
        return None
    return data.decode("utf-8", errors="replace")


def _placeholder(value: str) -> bool:
    """A documentation value rather than a key: placeholder words, or letters without digits."""
    lowered = value.lower()
    if any(word in lowered for word in PLACEHOLDER_WORDS):
        return True
    return not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value))


def secret_in_text(text: str) -> tuple[int, str] | None:
    """The line (from 1) and kind of the first secret-looking string in a text, or None."""
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        for kind, pattern in SECRET_CONTENT:
            match = pattern.search(line)
            if match and (kind in KEY_BLOCKS or not _placeholder(match.group(0))):
                return number, kind
        for key_id in _AWS_KEY_ID.finditer(line):
            if "EXAMPLE" in key_id.group(0):
                continue
            nearby = lines[max(0, number - 1 - AWS_NEARBY) : number + AWS_NEARBY]
            if any(
                not _placeholder(secret.group(0))
                for other in nearby
                for secret in _AWS_SECRET.finditer(other)
            ):
                return number, "an AWS access key with its secret"
        generic = _GENERIC.search(line)
        if generic and not _placeholder(generic.group(2)):
            return number, "an API key or secret key"
    return None


def secret_files(root: Path, files: Iterable[str], allowed: Iterable[str]) -> list[Finding]:
    """Findings for the files (relative to root) that look like secrets, except allowed ones.

    A file is named like a secret (.env, id_rsa, *.pem, ...) or contains one (a private key, a
    cloud credential, a token); unreadable, binary and large files are judged by name only.
    """
    allow = tuple(allowed)
    found: list[Finding] = []
    for rel in sorted(files):
        if allow and matches(rel, allow):
            continue
        pattern = _named_like_secret(rel)
        text = _read_text(root / rel)
        hit = secret_in_text(text) if text is not None else None
        if hit:
            line, kind = hit
            message, location = SECRET_CONTAINS.format(path=rel, kind=kind), f"{rel}:{line}"
        elif pattern:
            if pattern in ("*.pem", "*.key") and text and _PUBLIC_ONLY.search(text):
                continue  # certificates and public keys are meant to be shared
            message, location = SECRET_NAMED.format(path=rel, pattern=pattern), rel
        else:
            continue
        found.append(
            Finding(
                check="secret-file",
                severity="error",
                message=message,
                location=location,
                fix=SECRET_FIX.format(path=rel),
            )
        )
    return found


def check_secret_file(ctx: AuditContext) -> Iterator[Finding]:
    """Files that would be packaged and look like secrets (excluded and allowed ones are not)."""
    files = [rel for rel in ctx.files if not matches(rel, ctx.plan.exclude)]
    yield from secret_files(ctx.root, files, ctx.plan.allow_secrets)


def _system_path(path: str) -> bool:
    """A path of the Python installation or a cache: not the analysis' data."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    if any(prefix and path.startswith(prefix.rstrip("/") + "/") for prefix in prefixes):
        return True
    return any(part in path for part in ("/site-packages/", "/dist-packages/", "/.cache/"))


def check_data_not_checksummed(ctx: AuditContext) -> Iterator[Finding]:
    """Data the capsule will not carry: excluded data files, and data a step read from outside."""
    if ctx.plan.data and ctx.plan.exclude:
        for rel in walk(ctx.root):
            if not matches(rel, ctx.plan.exclude):
                continue
            pattern = next((p for p in ctx.plan.data if matches(rel, [p])), "")
            if pattern:
                yield Finding(
                    check="data-not-checksummed",
                    severity="info",
                    message=EXCLUDED_DATA.format(path=rel, pattern=pattern),
                    location=rel,
                    fix=EXCLUDED_DATA_FIX,
                )
    if ctx.run is None:
        return
    steps = {activity.id: activity.step for activity in ctx.run.provenance.activities}
    seen: set[str] = set()
    for usage in ctx.run.provenance.used:
        path = usage.entity
        if (
            not usage.external
            or path in seen
            or not path.lower().endswith(DATA_LOOKING)
            or _system_path(path)
        ):
            continue
        seen.add(path)
        yield Finding(
            check="data-not-checksummed",
            severity="info",
            message=EXTERNAL_DATA.format(step=steps.get(usage.activity, usage.activity), path=path),
            location=path,
            fix=EXTERNAL_DATA_FIX,
        )


CHECKS: dict[str, Check] = {
    "secret-file": check_secret_file,
    "data-not-checksummed": check_data_not_checksummed,
}

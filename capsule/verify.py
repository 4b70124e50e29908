"""`capsule verify`: check a capsule, rebuild it, rerun it, compare every output bit-for-bit.

The second orchestrator: check the capsule, choose a backend (capsule/backends/), prepare it,
rerun, compare, write the reports. Nothing runs before the whole capsule has been checked
against its manifest: a flipped byte anywhere stops the verification (exit 2) with the file
named.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from capsule import __version__, backends, compare, environment, manifest, naming
from capsule.errors import CapsuleError, ManifestError
from capsule.hashing import sha256_bytes, sha256_file
from capsule.model import (
    VERIFICATION_FORMAT,
    Accept,
    Backend,
    CheckStatus,
    Environment,
    HostDifference,
    Manifest,
    Outcome,
    OutputCheck,
    Rerun,
    RerunRequest,
    RunLimits,
    Tolerances,
    Verification,
)
from capsule.progress import Progress
from capsule.report import verification as verification_report
from capsule.report.methods_report import DERIVED_FILES

VERIFICATION_JSON = "verification.json"
VERIFICATION_HTML = "verification.html"
IMAGE_PYTHON = "the image's python"  # HostDifference.what when the image runs another Python
EXACT = Tolerances()
DEFAULT_LIMITS = RunLimits()


@dataclass(frozen=True)
class VerifyOptions:
    """What the reviewer asked of `capsule verify`."""

    capsule: Path
    backend: Backend | None = None  # None: docker when an engine answers
    base_image: str = ""  # overrides the manifest's
    report_dir: Path | None = None  # default: NAME.verification beside the capsule
    keep: bool = False  # keep the rerun's outputs and logs in the report folder
    accept: Accept = "identical"
    tolerances: Tolerances = EXACT
    limits: RunLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class VerifyResult:
    """The verification, and where its reports were written."""

    verification: Verification
    report_dir: Path

    @property
    def exit_code(self) -> int:
        """0 reproduced, 1 differs, 2 could not check (as diff(1))."""
        return {"reproduced": 0, "differs": 1, "failed": 2}[self.verification.outcome]


def verify(options: VerifyOptions, progress: Progress | None = None) -> VerifyResult:
    """Verify a capsule; raise CapsuleError when it cannot be checked at all."""
    progress = progress or Progress(enabled=False)
    started_at = environment.now_iso()
    with progress.stage("Checking every file against the manifest"):
        the_manifest, capsule_id = check_capsule(options.capsule)
    progress.note(f"capsule {the_manifest.name}, id sha256:{capsule_id}")
    name = backends.choose(options.backend)
    backend = backends.BACKENDS[name](
        RerunRequest(
            capsule=options.capsule,
            manifest=the_manifest,
            capsule_id=capsule_id,
            base_image=options.base_image,
            limits=options.limits,
        )
    )
    if backend.warning:
        progress.note(f"[yellow]warning:[/yellow] {backend.warning}")
    report_dir = _report_dir(options.capsule, options.report_dir)
    with tempfile.TemporaryDirectory(prefix="capsule-verify-") as tmp:
        rerun_dir = Path(tmp) / "rerun"
        try:
            backend.prepare(progress)
            rerun = backend.rerun(rerun_dir, progress)
        finally:
            backend.cleanup()
        with progress.stage("Comparing every output"):
            checks = compare_outputs(
                options.capsule / "expected",
                rerun_dir / "outputs",
                the_manifest,
                accept=options.accept,
                tolerances=options.tolerances,
                artifacts_dir=report_dir,
            )
        if options.keep:
            _keep(rerun_dir, report_dir)
    verification = Verification(
        format=VERIFICATION_FORMAT,
        capsule_version=__version__,
        capsule_id=capsule_id,
        capsule_name=the_manifest.name,
        outcome=_outcome(rerun, checks),
        accept=options.accept,
        tolerances=options.tolerances,
        backend=name,
        image=rerun.image,
        image_id=rerun.image_id,
        host=_anonymous_host(started_at),
        started_at=started_at,
        finished_at=environment.now_iso(),
        rerun=rerun.record,
        outputs=checks,
        platform=the_manifest.platform,
        rerun_platform=rerun.platform,
        emulated=rerun.emulated,
        host_differences=rerun.host_differences + _python_difference(the_manifest, rerun, name),
        rerun_python=rerun.python,
    )
    write_reports(verification, report_dir)
    return VerifyResult(verification=verification, report_dir=report_dir)


def _python_difference(
    the_manifest: Manifest, rerun: Rerun, backend: Backend
) -> tuple[HostDifference, ...]:
    """The image's Python, when it is not the capsule's (another --base-image, an old capsule).

    The local backend compares its interpreter itself, among the host's differences.
    """
    built = f"{the_manifest.environment.python_implementation} {the_manifest.lock.python_version}"
    if backend == "local" or not rerun.python or rerun.python == built:
        return ()
    return (HostDifference(what=IMAGE_PYTHON, capsule=built, host=rerun.python),)


def _keep(rerun_dir: Path, report_dir: Path) -> None:
    """Copy the rerun's outputs and logs into report_dir/rerun (--keep)."""
    for name in ("outputs", "logs"):
        if (rerun_dir / name).is_dir():
            shutil.copytree(rerun_dir / name, report_dir / "rerun" / name, dirs_exist_ok=True)


# ── checking the capsule ──────────────────────────────────────────────────────────────────


def check_capsule(capsule: Path) -> tuple[Manifest, str]:
    """Read the manifest and check every file of the capsule against it; return it and the id.

    Refused (ManifestError, exit 2): a file whose bytes differ from the manifest, a missing
    file, a file the manifest does not list, a link or anything that is not a regular file.
    """
    if not capsule.is_dir():
        raise ManifestError(
            f"{capsule} is not a capsule folder",
            hint="give the folder that `capsule build` wrote (NAME.capsule)",
        )
    the_manifest = manifest.read(capsule)
    capsule_id = sha256_bytes((capsule / manifest.MANIFEST_FILE).read_bytes())
    listed: dict[str, tuple[str, int]] = {}
    for prefix, entries in (
        ("work/", the_manifest.files),
        ("expected/", the_manifest.outputs),
        ("", the_manifest.capsule_files),
    ):
        for entry in entries:
            listed[prefix + entry.path] = (entry.sha256, entry.size)
    problems: list[str] = []
    present = set()
    for rel, kind in _entries(capsule):
        if rel == manifest.MANIFEST_FILE or rel in DERIVED_FILES:
            continue  # derived from capsule.json, never run: `capsule report` renders them again
        present.add(rel)
        if kind != "file":
            problems.append(f"{rel} is a {kind}, which a capsule never contains")
        elif rel not in listed:
            problems.append(f"{rel} is not listed in capsule.json")
        else:
            digest, size = listed[rel]
            path = capsule / rel
            if path.stat().st_size != size or sha256_file(path) != digest:
                problems.append(f"{rel} does not match its SHA-256 in capsule.json")
    problems.extend(
        f"{rel} is listed in capsule.json but missing" for rel in sorted(set(listed) - present)
    )
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  … and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ManifestError(
            f"the capsule does not match its manifest; nothing was run:\n  {shown}{more}",
            hint="the capsule was changed or damaged after it was built (a truncated download, "
            "an edit): fetch it again, or ask its author to rebuild it",
        )
    return the_manifest, capsule_id


def _entries(root: Path) -> Iterator[tuple[str, str]]:
    """Every entry under root with its kind ("file", "symbolic link", …); links not followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in sorted(dirnames):
            if (here / name).is_symlink():
                yield (here / name).relative_to(root).as_posix(), "symbolic link"
        dirnames[:] = sorted(name for name in dirnames if not (here / name).is_symlink())
        for name in sorted(filenames):
            path = here / name
            mode = path.lstat().st_mode
            kind = (
                "file"
                if stat.S_ISREG(mode)
                else "symbolic link"
                if stat.S_ISLNK(mode)
                else "special file"
            )
            yield path.relative_to(root).as_posix(), kind


# ── where the reports go ─────────────────────────────────────────────────────────────────


def _report_dir(capsule: Path, requested: Path | None) -> Path:
    """The folder for verification.json and .html: never inside the capsule."""
    target = (requested or naming.verification_dir(capsule)).resolve()
    if target.is_relative_to(capsule.resolve()):
        raise CapsuleError(
            f"{target} is inside the capsule, which verify never writes into",
            hint="pass --report-dir with a folder outside the capsule",
        )
    if target.exists() and any(target.iterdir()) and not (target / VERIFICATION_JSON).exists():
        raise CapsuleError(
            f"{target} exists and does not hold an earlier verification; capsule will not "
            "write into it",
            hint="pass --report-dir with a new or empty folder",
        )
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    return target


# ── comparing ─────────────────────────────────────────────────────────────────────────────


def compare_outputs(
    expected_dir: Path,
    actual_dir: Path,
    the_manifest: Manifest,
    *,
    accept: Accept,
    tolerances: Tolerances,
    artifacts_dir: Path,
) -> tuple[OutputCheck, ...]:
    """Each expected output against the rerun's, plus the rerun's unexpected files."""
    tolerance = compare.Tolerance(
        rtol=tolerances.rtol, atol=tolerances.atol, pixels=tolerances.pixels
    )
    produced = dict(_entries(actual_dir)) if actual_dir.is_dir() else {}
    checks: list[OutputCheck] = []
    for entry in the_manifest.outputs:
        kind = produced.pop(entry.path, None)
        actual = actual_dir / entry.path
        if kind is None:
            checks.append(
                OutputCheck(
                    path=entry.path,
                    status="missing",
                    reason="the rerun did not write this file",
                    accepted=False,
                    expected_sha256=entry.sha256,
                )
            )
            continue
        if kind != "file":
            checks.append(
                OutputCheck(
                    path=entry.path,
                    status="differs",
                    reason=f"the rerun left a {kind} here, not a file (refused)",
                    accepted=False,
                    expected_sha256=entry.sha256,
                )
            )
            continue
        found = compare.compare(
            expected_dir / entry.path,
            actual,
            path=entry.path,
            tolerance=tolerance,
            artifacts_dir=artifacts_dir / "diffs",
        )
        checks.append(
            OutputCheck(
                path=entry.path,
                status=found.verdict,
                reason=found.reason,
                accepted=_accepted(found.verdict, accept),
                details=found.details,
                volatile=found.volatile,
                artifacts=tuple(
                    Path(a).resolve().relative_to(artifacts_dir.resolve()).as_posix()
                    if Path(a).is_absolute()
                    else a
                    for a in found.artifacts
                ),
                expected_sha256=entry.sha256,
                actual_sha256=sha256_file(actual),
                comparator=found.comparator,
            )
        )
    for rel, kind in sorted(produced.items()):
        checks.append(
            OutputCheck(
                path=rel,
                status="unexpected",
                reason="the rerun wrote this file, which the build's run did not"
                + ("" if kind == "file" else f" (a {kind})"),
                accepted=False,
                actual_sha256=sha256_file(actual_dir / rel) if kind == "file" else "",
            )
        )
    return tuple(verification_report.sort_checks(checks))


def _accepted(status: CheckStatus, accept: Accept) -> bool:
    """Whether a status counts as reproduced under the accepted tier."""
    if status == "identical":
        return True
    if status == "metadata-only":
        return accept in ("metadata", "tolerance")
    if status == "within-tolerance":
        return accept == "tolerance"
    return False


def _outcome(rerun: Rerun, checks: tuple[OutputCheck, ...]) -> Outcome:
    """failed when a limit stopped the rerun or it could not start; else reproduced only if
    every check is accepted."""
    record = rerun.record
    if record.timed_out or record.oom_killed or not rerun.started:
        return "failed"
    if record.exit_code == 0 and all(check.accepted for check in checks):
        return "reproduced"
    return "differs"


def _anonymous_host(started_at: str) -> Environment:
    """Facts of the verifying machine without who ran it: reviewers are often anonymous."""
    host = environment.describe(
        started_at=started_at,
        finished_at=environment.now_iso(),
        python=sys.executable,
        root=Path(tempfile.gettempdir()),
        environ={},
    )
    return dataclasses.replace(host, hostname="", user="", git=None)


# ── reports ───────────────────────────────────────────────────────────────────────────────


def write_reports(verification: Verification, report_dir: Path) -> None:
    """Write verification.json (canonical) and verification.html into report_dir."""
    text = (
        json.dumps(dataclasses.asdict(verification), sort_keys=True, indent=2, ensure_ascii=False)
        + "\n"
    )
    (report_dir / VERIFICATION_JSON).write_text(text, encoding="utf-8")
    verification_report.write_html(verification, report_dir)

"""The determinism probe: run the analysis several times and see which outputs change, and why.

In the spirit of reproducible-builds' reprotest: two identical runs first (an output that
differs between them cannot be verified at all), then one run per variation, each changing one
thing of the environment against the baseline, then one run without capsule's determinism
settings, to show the author what capsule protects them from. Every run happens in a fresh
scratch copy of the analysis; outputs are compared by SHA-256.
"""

from __future__ import annotations

import dataclasses
import locale
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from capsule import environment
from capsule.determinism import decide
from capsule.errors import CapsuleError, StepFailed
from capsule.model import Determinism, Plan, ProbeResult
from capsule.scratch import Runtime, TracedRun, copy_sources, install_runtime, traced_run


@dataclass(frozen=True)
class Variation:
    """One thing the probe changes against the baseline run."""

    name: str
    description: str


# A time zone with a half-hour offset catches code that assumes whole hours, as well as code
# that uses local time at all. POSIX form: it needs no tz database.
VARIED_TZ = "NST+3:30"
VARIED_THREADS = "2"
THREAD_VARIABLES = (
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
)
LOCALE_CANDIDATES = ("de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8")
FALLBACK_LOCALE = "POSIX"  # when the host has no other locale: C.UTF-8 against plain POSIX
DAY = 86400
# Where the folder-path variation runs: a longer path, with spaces, than the baseline's.
LONG_FOLDER = Path("a", "very", "long", "path with spaces")

VARIATIONS: dict[str, Variation] = {
    v.name: v
    for v in (
        Variation("hash-seed", "PYTHONHASHSEED 0 → 1"),
        Variation("time-zone", f"TZ UTC → {VARIED_TZ} (UTC-3:30)"),
        Variation("locale", "LANG/LC_ALL C.UTF-8 → another locale"),
        Variation(
            "folder-path", f"the analysis runs from a longer folder, …/{LONG_FOLDER.as_posix()}/"
        ),
        Variation("thread-count", f"OMP/OPENBLAS/MKL/NUMEXPR_NUM_THREADS 1 → {VARIED_THREADS}"),
        Variation("source-date", "SOURCE_DATE_EPOCH one day later"),
    )
}
ALL: tuple[str, ...] = tuple(VARIATIONS)
UNPROTECTED = "unprotected"


def probe(
    root: Path,
    plan: Plan,
    *,
    python: str,
    runs: int = 2,
    variations: Sequence[str] = ALL,
    say: Callable[[str], None] = lambda _message: None,
) -> tuple[ProbeResult, TracedRun | None]:
    """Run the analysis `runs` times, once per variation and once unprotected; compare outputs.

    Returns what changed, and the first baseline run (what the tracer saw there). Raises
    CapsuleError for an unknown variation or runs < 2, and StepFailed when a baseline run
    fails; a step failing only under a variation is recorded in `failed` instead.
    """
    unknown = [name for name in variations if name not in VARIATIONS]
    if unknown:
        raise CapsuleError(
            f"unknown variation {', '.join(unknown)}",
            hint=f"choose among {', '.join(ALL)}",
        )
    if runs < 2:
        raise CapsuleError(
            f"the probe needs at least 2 runs, not {runs}",
            hint="pass --runs 2 or more",
        )
    host = dict(os.environ)
    determinism = decide(plan, environment.git_state(root), host)
    started = time.monotonic()
    total = runs + len(variations) + 1
    count = 0
    failed: dict[str, str] = {}
    descriptions = {name: VARIATIONS[name].description for name in variations}
    with tempfile.TemporaryDirectory(prefix="capsule-probe-") as tmp:
        scratch = Path(tmp)
        shared = _Shared(root, scratch, plan, python, host)

        def run(label: str, env: Determinism, folder: Path, protected: bool) -> dict[str, str]:
            nonlocal count
            count += 1
            say(f"run {count}/{total}: {label}")
            return shared.run(env, scratch / folder, protected)

        def tolerant(
            label: str, env: Determinism, folder: Path, protected: bool
        ) -> dict[str, str] | None:
            """A run that may fail: the failure is a finding, not the probe's end."""
            try:
                return run(label, env, folder, protected)
            except StepFailed as error:
                failed[label] = error.message
                return None

        baseline = run("baseline 1", determinism, Path("run"), True)
        differing: set[str] = set()
        for index in range(2, runs + 1):
            again = run(f"baseline {index}", determinism, Path("run"), True)
            differing.update(_differences(baseline, again))
        by_variation: dict[str, tuple[str, ...]] = {}
        for name in variations:
            env, description = _varied(name, determinism)
            descriptions[name] = description
            folder = Path("run", LONG_FOLDER) if name == "folder-path" else Path("run")
            varied = tolerant(name, env, folder, True)
            if varied is not None:
                by_variation[name] = tuple(sorted(_differences(baseline, varied) - differing))
        plain = tolerant(UNPROTECTED, _unprotected(host), Path("run"), False)
        unprotected: dict[str, tuple[str, ...]] = {}
        if plain is not None:
            unprotected[UNPROTECTED] = tuple(sorted(_differences(baseline, plain) - differing))
    result = ProbeResult(
        baseline_repeat=tuple(sorted(differing)),
        by_variation=by_variation,
        unprotected=unprotected,
        runs=count,
        seconds=round(time.monotonic() - started, 3),
        descriptions=descriptions,
        failed=failed,
    )
    return result, shared.first


class _Shared:
    """What every run of one probe shares: one hashed copy of the analysis, capsule's runtime,
    the two matplotlibrc files."""

    def __init__(
        self, root: Path, scratch: Path, plan: Plan, python: str, host: Mapping[str, str]
    ) -> None:
        self.plan, self.python, self.host = plan, python, host
        self.analysis = scratch / "analysis"
        self.packaged = copy_sources(root, self.analysis, plan)
        self.runtime = install_runtime(scratch)
        # without capsule's svg.hashsalt: SVG ids are random
        plain_rc = scratch / "matplotlibrc-plain"
        plain_rc.write_text("backend: Agg\n", encoding="utf-8")
        self.plain = Runtime(folder=self.runtime.folder, matplotlibrc=plain_rc)
        self.scratch = scratch
        self.first: TracedRun | None = None  # the first run, for the run-based checks

    def run(self, determinism: Determinism, place: Path, protected: bool) -> dict[str, str]:
        """Run every step in a fresh copy at `place`; return output path -> sha256."""
        shutil.rmtree(self.scratch / "run", ignore_errors=True)
        run = traced_run(
            self.analysis,
            self.packaged,
            self.plan,
            place=place,
            runtime=self.runtime if protected else self.plain,
            logs=place / "logs",
            python=self.python,
            determinism=determinism,
            host=self.host,
        )
        if self.first is None:
            self.first = run
        return {rel: stat.sha256 for rel, stat in run.outputs.items()}


def _differences(first: Mapping[str, str], second: Mapping[str, str]) -> set[str]:
    """Outputs present in only one run, or with different bytes."""
    return {rel for rel in first.keys() | second.keys() if first.get(rel) != second.get(rel)}


def _with(determinism: Determinism, **changes: str) -> Determinism:
    """The same determinism settings with some variables changed."""
    env = {**dict(determinism.env), **changes}
    return dataclasses.replace(determinism, env=tuple(sorted(env.items())))


def _varied(name: str, determinism: Determinism) -> tuple[Determinism, str]:
    """The settings of one variation's run, and what it changed (as actually run)."""
    description = VARIATIONS[name].description
    if name == "hash-seed":
        return _with(determinism, PYTHONHASHSEED="1"), description
    if name == "time-zone":
        return _with(determinism, TZ=VARIED_TZ), description
    if name == "locale":
        other = other_locale()
        if other == FALLBACK_LOCALE:
            description = "LANG/LC_ALL C.UTF-8 → POSIX (the host has no other locale installed)"
        else:
            description = f"LANG/LC_ALL C.UTF-8 → {other}"
        return _with(determinism, LANG=other, LC_ALL=other), description
    if name == "thread-count":
        return _with(determinism, **dict.fromkeys(THREAD_VARIABLES, VARIED_THREADS)), description
    if name == "source-date":
        epoch = int(dict(determinism.env).get("SOURCE_DATE_EPOCH", "0")) + DAY
        return _with(determinism, SOURCE_DATE_EPOCH=str(epoch)), description
    return determinism, description  # folder-path: same settings, another folder


def other_locale() -> str:
    """A UTF-8 locale other than C that this host has installed, else POSIX."""
    saved = locale.setlocale(locale.LC_CTYPE)
    try:
        for name in LOCALE_CANDIDATES:
            try:
                locale.setlocale(locale.LC_CTYPE, name)
            except locale.Error:
                continue
            return name
        return FALLBACK_LOCALE
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)


def _unprotected(host: Mapping[str, str]) -> Determinism:
    """Settings as a plain shell would have them: host locale and time zone, random hash seed.

    No SOURCE_DATE_EPOCH, default thread counts. The backend stays capsule's Agg that saves
    plt.show() figures, so the same outputs exist to compare.
    """
    env = {
        "LANG": host.get("LANG", "C.UTF-8"),
        "MPLBACKEND": "module://_capsule_show",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "random",
        # the host's zone, or one that is not UTC, so that local time shows
        "TZ": host.get("TZ") or (VARIED_TZ if _host_zone_is_utc() else ""),
    }
    if host.get("LC_ALL"):
        env["LC_ALL"] = host["LC_ALL"]
    env = {name: value for name, value in env.items() if value}
    return Determinism(env=tuple(sorted(env.items())), source_date_epoch_from="default")


def _host_zone_is_utc() -> bool:
    """Whether this machine's local time is UTC (as in most containers and CI runners)."""
    return time.localtime(0).tm_gmtoff == 0 and time.daylight == 0

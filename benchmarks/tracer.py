"""Time capsule's tracer (capsule/runtime/sitecustomize.py): what tracing a step costs.

    .venv/bin/python benchmarks/tracer.py [--repeat N] [--system]

With --system the traced runs are also watched by the system observer (capsule/systrace.py:
strace with a seccomp filter, one record file per process), as `capsule build` runs its steps:
the ratios are then the whole cost of observing a build's run.

Three cases, each run with and without the tracer (CAPSULE_TRACE_DIR set to a fresh folder, or
unset; everything else identical, the runtime on PYTHONPATH both times), alternating the order
(untraced first in odd rounds, traced first in even ones), --repeat rounds (default 3):

- example: examples/paper_figures copied without its figures/ and tables/, its four steps run
  from the analysis root as capsule runs them (three scripts, then the notebook through
  `python -m _capsule_notebook`);
- file-heavy: a generated script that writes 5,000 files of 1 KB into out/, reads them all back
  and writes a summary: one traced event per file operation;
- start-up: 20 x `python -c pass`, the fixed cost every process of a step pays.

Every run uses a fresh copy of its analysis and the determinism environment; matplotlib's and
Jupyter's configuration folders are shared by all runs and warmed by one untimed run first, so
building the font cache is not measured. Prints the medians of wall clock time, the ratios
traced/untraced of wall clock, user and system CPU time (of the step's processes and their
children), the size of the trace records, and the load average. The machine has 2 cores and may
be busy, and creating files is mostly system time that varies a lot from run to run: the user
CPU ratio, where the audit hook runs, is the steadiest figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capsule import systrace

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "paper_figures"
RUNTIME = REPO / "capsule" / "runtime"
PYTHON = sys.executable

# The determinism environment of DESIGN.md decision 2 (the part this benchmark needs).
DETERMINISM = {
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "TZ": "UTC",
    "SOURCE_DATE_EPOCH": "1700000000",
    "PYTHONDONTWRITEBYTECODE": "1",
}

Step = tuple[str, list[str]]  # a step's name and its argv, run from the analysis root

EXAMPLE_STEPS: list[Step] = [
    ("01_compare_models", [PYTHON, "scripts/01_compare_models.py"]),
    ("02_confusion_matrix", [PYTHON, "scripts/02_confusion_matrix.py"]),
    ("03_ngram_sweep", [PYTHON, "scripts/03_ngram_sweep.py"]),
    (
        "04_error_analysis",
        [PYTHON, "-m", "_capsule_notebook", "notebooks/04_error_analysis.ipynb"],
    ),
]

FILE_COUNT = 5_000
FILE_HEAVY_SCRIPT = f'''\
"""Write {FILE_COUNT} files of 1 KB into out/, read them all back, write a summary."""

import hashlib
from pathlib import Path

out = Path("out")
out.mkdir(exist_ok=True)
for index in range({FILE_COUNT}):
    (out / f"part-{{index:05d}}.txt").write_bytes(bytes([index % 256]) * 1024)
digest = hashlib.sha256()
for index in range({FILE_COUNT}):
    digest.update((out / f"part-{{index:05d}}.txt").read_bytes())
Path("summary.txt").write_text(f"{{digest.hexdigest()}}\\n", encoding="utf-8")
'''
FILE_HEAVY_STEPS: list[Step] = [("file_heavy", [PYTHON, "file_heavy.py"])]

STARTUP_LAUNCHES = 20
STARTUP_STEPS: list[Step] = [
    (f"python_{index:02d}", [PYTHON, "-c", "pass"]) for index in range(STARTUP_LAUNCHES)
]


@dataclass
class Run:
    """One run of a case's steps: wall clock, user and system CPU seconds per step; the trace."""

    wall: dict[str, float]
    user: dict[str, float]
    system: dict[str, float]
    trace_bytes: int = 0
    trace_events: int = 0
    trace_records: int = 0
    trace_failures: int = 0


@dataclass
class Case:
    """A workload: how to lay out its analysis root, and its steps."""

    name: str
    prepare: Callable[[Path], None]
    steps: list[Step]
    step_rows: bool  # print one row per step as well as the total
    runs: dict[bool, list[Run]] = field(default_factory=lambda: {False: [], True: []})


def prepare_example(root: Path) -> None:
    """Copy the example analysis to root, without the outputs its steps make again."""
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("figures", "tables"))


def prepare_file_heavy(root: Path) -> None:
    """Write the file-heavy script into an empty analysis root."""
    root.mkdir()
    (root / "file_heavy.py").write_text(FILE_HEAVY_SCRIPT, encoding="utf-8")


def prepare_startup(root: Path) -> None:
    """An empty analysis root."""
    root.mkdir()


def base_environment(config: Path) -> dict[str, str]:
    """The environment shared by every run: little of the host's, as in capsule's runner."""
    host = {name: os.environ[name] for name in ("HOME", "USER", "LOGNAME") if name in os.environ}
    return {
        **host,
        "PATH": os.pathsep.join((str(Path(PYTHON).parent), os.environ.get("PATH", ""))),
        **DETERMINISM,
        "MPLCONFIGDIR": str(config / "matplotlib"),
        "JUPYTER_CONFIG_DIR": str(config / "jupyter"),
        "JUPYTER_DATA_DIR": str(config / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(config / "jupyter-runtime"),
        "IPYTHONDIR": str(config / "ipython"),
        "PYTHONPATH": str(RUNTIME),
    }


def children_cpu() -> tuple[float, float]:
    """User and system CPU seconds of every finished (and waited for) descendant so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def read_trace(folder: Path, run: Run) -> None:
    """Add up the process records of a traced run."""
    for path in folder.glob("process-*.json"):
        run.trace_records += 1
        run.trace_bytes += path.stat().st_size
        record = json.loads(path.read_text(encoding="utf-8"))
        run.trace_events += len(record.get("events", []))
        run.trace_failures += int(record.get("failures", 0))


SYSTEM_OBSERVER = ""  # strace's path when --system is given


def run_case(case: Case, env: dict[str, str], scratch: Path, *, traced: bool) -> Run:
    """Run a case's steps once, in a fresh copy of its analysis root; fail on a failing step."""
    work = Path(tempfile.mkdtemp(prefix=f"{case.name}-", dir=scratch))
    root = work / "analysis"
    case.prepare(root)
    trace = work / "trace"
    trace.mkdir()
    env = {**env, "CAPSULE_ANALYSIS_ROOT": str(root)}
    if traced:
        env["CAPSULE_TRACE_DIR"] = str(trace)
    run = Run(wall={}, user={}, system={})
    for name, plain in case.steps:
        argv = plain
        if traced and SYSTEM_OBSERVER:
            argv = list(systrace.wrap(plain, SYSTEM_OBSERVER, work / "system" / name))
        with (work / f"{name}.log").open("wb") as log:
            cpu, start = children_cpu(), time.perf_counter()
            done = subprocess.run(
                argv, cwd=root, env={**env, "CAPSULE_STEP": name}, stdout=log, stderr=log
            )
            run.wall[name] = time.perf_counter() - start
            user, system = children_cpu()
            run.user[name], run.system[name] = user - cpu[0], system - cpu[1]
        if done.returncode != 0:
            tail = (work / f"{name}.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise SystemExit(f"{case.name}: step {name} failed ({done.returncode}):\n{tail}")
    if traced:
        read_trace(trace, run)
    shutil.rmtree(work, ignore_errors=True)
    return run


def load() -> str:
    """The load averages over 1, 5 and 15 minutes."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def median(runs: list[Run], measure: Callable[[Run], float]) -> float:
    """The median of one measure over runs."""
    return statistics.median(measure(run) for run in runs)


def total(part: str) -> Callable[[Run], float]:
    """A run's total of one measure ("wall", "user" or "system") over its steps."""
    return lambda run: sum(getattr(run, part).values())


def one_step(part: str, name: str) -> Callable[[Run], float]:
    """One step's value of one measure."""
    return lambda run: getattr(run, part)[name]


def ratio(case: Case, measure: Callable[[Run], float]) -> float:
    """Median traced over median untraced."""
    return median(case.runs[True], measure) / median(case.runs[False], measure)


def print_table(cases: list[Case]) -> None:
    """The medians, untraced against traced: wall clock, then the ratios of CPU time."""
    print()
    print(f"{'case':<32}{'untraced':>10}{'traced':>10}{'ratio':>8}{'user cpu':>10}{'sys cpu':>9}")
    for case in cases:
        rows = [(f"{case.name} {name}", name) for name, _argv in case.steps if case.step_rows]
        rows.append((f"{case.name} total", ""))
        for label, name in rows:

            def measure(part: str, name: str = name) -> Callable[[Run], float]:
                return one_step(part, name) if name else total(part)

            plain = median(case.runs[False], measure("wall"))
            traced = median(case.runs[True], measure("wall"))
            print(
                f"{label:<32}{plain:>8.2f} s{traced:>8.2f} s{traced / plain:>8.2f}"
                f"{ratio(case, measure('user')):>10.2f}{ratio(case, measure('system')):>9.2f}"
            )
    print("(medians; ratio = traced / untraced, of wall clock, then of user and system CPU time)")


def print_traces(cases: list[Case]) -> None:
    """What the traced runs recorded, and the extra user CPU time that tracing cost."""
    print()
    print(
        f"{'trace records':<20}{'processes':>10}{'events':>9}{'size':>11}{'failures':>10}"
        f"{'extra cpu/process':>19}{'extra cpu/event':>17}"
    )
    for case in cases:
        runs = case.runs[True]
        processes = median(runs, lambda run: run.trace_records)
        events = median(runs, lambda run: run.trace_events)
        extra = median(runs, total("user")) - median(case.runs[False], total("user"))
        per_process = f"{extra / processes * 1e3:>14.1f} ms" if processes else f"{'-':>17}"
        # Only a case with many events says anything per event; elsewhere it is start-up cost.
        per_event = f"{extra / events * 1e6:>12.1f} us" if events >= 1000 else f"{'-':>15}"
        print(
            f"{case.name:<20}{processes:>10.0f}{events:>9.0f}"
            f"{median(runs, lambda run: run.trace_bytes) / 1024:>8.1f} KB"
            f"{max(run.trace_failures for run in runs):>10d}  {per_process}  {per_event}"
        )
    print("(medians; extra cpu = median user CPU time traced minus untraced)")


def main() -> int:
    """Run the benchmark; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of each case (default 3)")
    parser.add_argument(
        "--system", action="store_true", help="trace with the system observer (strace) too"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.system:
        observer = systrace.observer()
        if not observer.program:
            parser.error(f"no system observer: {observer.description}")
        global SYSTEM_OBSERVER
        SYSTEM_OBSERVER = observer.program
        print(f"traced runs are also observed by {observer.description}")

    cases = [
        Case("example", prepare_example, EXAMPLE_STEPS, step_rows=True),
        Case("file-heavy", prepare_file_heavy, FILE_HEAVY_STEPS, step_rows=False),
        Case(f"start-up ({STARTUP_LAUNCHES}x)", prepare_startup, STARTUP_STEPS, step_rows=False),
    ]
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} CPUs; load average {load()}")
    with tempfile.TemporaryDirectory(prefix="capsule-bench-tracer-") as tmp:
        scratch = Path(tmp)
        env = base_environment(scratch / "config")
        start = time.perf_counter()
        for case in cases:  # warms the shared configuration folders and the page cache
            run_case(case, env, scratch, traced=False)
        print(f"warm-up run (untimed)            {time.perf_counter() - start:6.1f} s")
        for round_ in range(args.repeat):
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for case in cases:
                for traced in order:
                    run = run_case(case, env, scratch, traced=traced)
                    case.runs[traced].append(run)
                    print(
                        f"round {round_ + 1}/{args.repeat} {case.name:<16} "
                        f"{'traced' if traced else 'untraced':<9}"
                        f"{sum(run.wall.values()):7.2f} s   load {load()}",
                        flush=True,
                    )
    print_table(cases)
    print_traces(cases)
    print(f"\nload average at the end {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

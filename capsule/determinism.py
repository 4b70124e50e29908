"""The determinism environment: identical for the build's run and every verification.

Measured here (DESIGN.md, decision 2): with matplotlib 3.11, PDF and SVG files differ between two
runs of the same script unless SOURCE_DATE_EPOCH and svg.hashsalt are set; with them they are
byte-identical. Thread counts are pinned to one because BLAS reductions summed in a different
order give different last bits.
"""

from __future__ import annotations

from collections.abc import Mapping

from capsule.model import Determinism, EpochOrigin, GitState, Plan

# 1980-01-01T00:00:00Z: the earliest date a ZIP file can hold; used when nothing better is known.
DEFAULT_SOURCE_DATE_EPOCH = 315532800

FIXED_ENV: tuple[tuple[str, str], ...] = (
    ("LANG", "C.UTF-8"),
    ("LC_ALL", "C.UTF-8"),
    ("MKL_NUM_THREADS", "1"),
    # Agg, except that plt.show() saves each figure (capsule/runtime/_capsule_show.py)
    ("MPLBACKEND", "module://_capsule_show"),
    ("NUMEXPR_NUM_THREADS", "1"),
    ("OMP_NUM_THREADS", "1"),
    ("OPENBLAS_NUM_THREADS", "1"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("PYTHONHASHSEED", "0"),
    ("PYTHONUNBUFFERED", "1"),
    ("TZ", "UTC"),
)

# Set on some machines to pick OpenBLAS's kernel by hand; the kernel decides the last bits of a
# result, so a value present at build time is carried into every rerun.
CARRIED_FROM_HOST: tuple[str, ...] = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# Variables set per run to paths (they differ between the host and the container), named here so
# the manifest and run.sh agree on them: the capsule's matplotlibrc, a fresh matplotlib and
# Jupyter config folder, and the runtime folder with capsule's sitecustomize.
PATH_VARIABLES: tuple[str, ...] = (
    "MATPLOTLIBRC",
    "MPLCONFIGDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_DATA_DIR",
    "JUPYTER_RUNTIME_DIR",
    "IPYTHONDIR",
    "PYTHONPATH",
)


def decide(plan: Plan, git: GitState | None, host_env: Mapping[str, str]) -> Determinism:
    """The determinism environment for this analysis: SOURCE_DATE_EPOCH and the fixed settings."""
    origin: EpochOrigin
    if plan.source_date_epoch is not None:
        epoch, origin = plan.source_date_epoch, "capsule.toml"
    elif git is not None:
        epoch, origin = git.commit_time, "git commit"
    else:
        epoch, origin = DEFAULT_SOURCE_DATE_EPOCH, "default"
    env = dict(FIXED_ENV)
    env["SOURCE_DATE_EPOCH"] = str(epoch)
    for name in CARRIED_FROM_HOST:
        if host_env.get(name):
            env[name] = host_env[name]
    return Determinism(env=tuple(sorted(env.items())), source_date_epoch_from=origin)

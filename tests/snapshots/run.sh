#!/bin/sh
# run.sh of the research capsule "paper-figures", written by capsule <capsule version>.
# Reruns the analysis the way the build ran it: a copy of work/ in a scratch folder, the steps in
# order, under the determinism environment below; then copies every file the steps wrote to OUTDIR.
#   usage: sh run.sh OUTDIR [LOGDIR]
# It needs the capsule's Python environment first on PATH: the Dockerfile makes one, and
# README.md says how to make one by hand.
# Notebook steps also need capsule's notebook client, in an environment of its own made from
# runtime.lock, its interpreter named by CAPSULE_RUNTIME_PYTHON (the Dockerfile sets it).
set -eu
: "${CAPSULE_RUNTIME_PYTHON:?must name the Python of the notebook client made from runtime.lock (see README.md)}"

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: sh run.sh OUTDIR [LOGDIR]}"
mkdir -p "$out"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/capsule-run.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
logs="${2:-$scratch/logs}"
mkdir -p "$logs" "$scratch/config"
cp -R "$here/work" "$scratch/work"

# The determinism environment, recorded in capsule.json under "determinism".
export LANG=C.UTF-8
export LC_ALL=C.UTF-8
export MKL_NUM_THREADS=1
export MPLBACKEND=module://_capsule_show
export NUMEXPR_NUM_THREADS=1
export OMP_NUM_THREADS=1
export OPENBLAS_CORETYPE=Haswell
export OPENBLAS_NUM_THREADS=1
export PYTHONDONTWRITEBYTECODE=1
export PYTHONHASHSEED=0
export PYTHONUNBUFFERED=1
export SOURCE_DATE_EPOCH=1700000000
export TZ=UTC
# Paths that differ between machines: the capsule's own settings and fresh config folders.
export MATPLOTLIBRC="$here/matplotlibrc"
export MPLCONFIGDIR="$scratch/config/matplotlib"
export JUPYTER_CONFIG_DIR="$scratch/config/jupyter"
export JUPYTER_DATA_DIR="$scratch/config/jupyter-data"
export JUPYTER_RUNTIME_DIR="$scratch/config/jupyter-runtime"
export IPYTHONDIR="$scratch/config/ipython"
export PYTHONPATH="$here/runtime"
export CAPSULE_LOG_DIR="$logs"
export CAPSULE_ANALYSIS_ROOT="$scratch/work"
if [ ! -w "${HOME:-/nonexistent}" ]; then
  export HOME="$scratch/config"
fi

# run_step NAME LOG DIR LIMIT EXPECT ARGV...: run one step in work/DIR, stopped after LIMIT
# seconds (0: no limit of its own), its output in LOG.stdout and LOG.stderr. It must end with
# the exit code EXPECT: 0, or the failure the build's run recorded for a step allowed to fail.
run_step() {
  name="$1"
  log="$logs/$2"
  dir="$scratch/work/$3"
  limit="$4"
  expect="$5"
  shift 5
  echo "capsule: running step $name" >&2
  status=0
  if [ "$limit" -gt 0 ]; then
    (cd "$dir" && exec timeout "$limit" "$@") >"$log.stdout" 2>"$log.stderr" || status=$?
  else
    (cd "$dir" && exec "$@") >"$log.stdout" 2>"$log.stderr" || status=$?
  fi
  if [ "$status" -ne "$expect" ]; then
    if [ "$expect" -ne 0 ]; then
      echo "capsule: step $name is allowed to fail, and the build's run failed with exit code $expect; this one ended with $status" >&2
    fi
    echo "capsule: step $name failed with exit code $status; the end of its stderr:" >&2
    tail -n 20 "$log.stderr" >&2
    exit $(( status == 0 ? 1 : status ))
  fi
}

cd "$scratch/work"
run_step 01_clean.py 01-01_clean.py . 0 0 python scripts/01_clean.py --seed 7
run_step '02 explore' 02-02-explore . 0 0 "$CAPSULE_RUNTIME_PYTHON" -m _capsule_notebook --kernel-python python 'notebooks/02 explore.ipynb'
run_step figures 03-figures . 0 0 python -m plots --out 'it'"'"'s'
run_step tables 04-tables . 0 0 sh tables.sh '$HOME'

# Outputs must stay removable by whoever runs the container (it writes as another user).
umask 0000
python -m _capsule_collect "$here/work" "$scratch/work" "$out"

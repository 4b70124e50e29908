#!/usr/bin/env bash
# The whole test suite: sets up .venv if needed (scripts/setup.sh), then runs pytest.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
#
# Nothing is deselected by default: the Docker, browser and LaTeX tests run whenever their tools
# are present. When a tool is present, its CAPSULE_REQUIRE_* variable is set (unless the caller
# set it), so such a test cannot quietly skip on a machine that could run it. pytest's last lines
# then count the tests that were skipped, by reason (tests/skip_summary.py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

base_image="${CAPSULE_TEST_BASE_IMAGE:-capsule-base:bookworm}"
found=()
# require VARIABLE TOOL COMMAND...: set VARIABLE=1 when COMMAND succeeds, unless already set.
require() {
  local variable="$1" tool="$2"
  shift 2
  if [ -z "${!variable:-}" ] && "$@" >/dev/null 2>&1; then
    export "$variable=1"
    found+=("$tool")
  fi
}
require CAPSULE_REQUIRE_DOCKER "Docker ($base_image)" docker image inspect "$base_image"
require CAPSULE_REQUIRE_BROWSER "Chromium" test -x /usr/bin/chromium
require CAPSULE_REQUIRE_LATEX "pdflatex" command -v pdflatex
if [ "${#found[@]}" -gt 0 ]; then
  echo "test.sh: found $(IFS=,; echo "${found[*]}" | sed 's/,/, /g'): their tests must run"
fi

exec .venv/bin/python -m pytest "$@"

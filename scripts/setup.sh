#!/usr/bin/env bash
# Makes (or refreshes) .venv: the pinned development environment of capsule, then capsule itself.
# Idempotent: does nothing when .venv already matches requirements/dev.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: capsule needs Python 3.11 or newer; $python is $("$python" --version 2>&1)" >&2
  echo "hint: set PYTHON=/path/to/python3.11 and run this again" >&2
  exit 2
fi

stamp=".venv/.capsule-dev-lock.sha256"
want="$(sha256sum requirements/dev.lock pyproject.toml | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/capsule ]; then
  exit 0
fi

# pip_quietly ARGS...: pip without its notes about configured find-links folders that are
# missing on this machine (they say nothing about capsule).
pip_quietly() {
  .venv/bin/python -m pip "$@" 2> >(grep -v "^WARNING: Location '.*' is ignored" >&2)
}

echo "setting up .venv from requirements/dev.lock ..." >&2
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip_quietly install --quiet --require-hashes -r requirements/dev.lock
pip_quietly install --quiet --no-deps --no-build-isolation -e .
echo "$want" > "$stamp"

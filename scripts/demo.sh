#!/usr/bin/env bash
# The main job, on the example: set up .venv (scripts/setup.sh), build the capsule of
# examples/paper_figures into build/paper_figures.capsule, then verify it: in Docker with no
# network where an engine answers and has a Python base image, else with the local backend.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

capsule=.venv/bin/capsule
out=build/paper_figures.capsule
# The offline base image scripts/make-base-image.sh makes; CAPSULE_BASE_IMAGE picks another.
base="${CAPSULE_BASE_IMAGE:-capsule-base:bookworm}"

# Ready: an engine answers and has the image, whose python3 is the very one of .venv (build
# refuses another: the rerun must use the interpreter the outputs were made with).
image_ready() {
  .venv/bin/python - "$1" <<'PY'
import platform, sys
from capsule.backends import docker
found = docker.image_python(sys.argv[1]) if docker.engine_available() else None
if found is not None and found.version != platform.python_version():
    print(f"The base image {sys.argv[1]} has Python {found.version}, and capsule's .venv "
          f"{platform.python_version()}: remake it (docker rmi {sys.argv[1]}; "
          "sudo bash scripts/make-base-image.sh).")
sys.exit(0 if found is not None and found.version == platform.python_version() else 1)
PY
}

echo "== capsule build examples/paper_figures -o $out"
if image_ready "$base"; then
  "$capsule" build examples/paper_figures -o "$out" --force --base-image "$base"
  echo
  echo "== capsule verify $out   (Docker, no network, sandboxed)"
  exec "$capsule" verify "$out"
fi

"$capsule" build examples/paper_figures -o "$out" --force
echo
if .venv/bin/python -c 'from capsule.backends import docker; raise SystemExit(not docker.engine_available())'; then
  echo "The Docker engine has no base image $base with this Python (no registry is needed to"
  echo "make one: sudo bash scripts/make-base-image.sh); verifying with the local backend instead."
else
  echo "No Docker engine answers; verifying with the local backend instead."
fi
echo "== capsule verify $out --backend local   (the code runs on this machine)"
exec "$capsule" verify "$out" --backend local

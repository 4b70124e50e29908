"""Time a first and a second `capsule verify` of the example capsule, per backend.

    .venv/bin/python benchmarks/verify.py [--backend docker|local] [--base-image IMAGE]

Builds examples/paper_figures into a temporary capsule (or uses --capsule), then verifies it
twice. For docker, the first verification starts with no cached layers (the images capsule and
its tests built are removed first, the base image is kept), so it installs every wheel; the
second reuses the dependency layer and only reruns the analysis. For local, the first makes the
virtual environment, the second reuses it from capsule's cache. Prints one line per
verification and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from capsule.backends import docker
from capsule.build import BuildOptions, build
from capsule.verify import VerifyOptions, verify

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "paper_figures"


# Images capsule and its tests build: any of them may hold the capsule's dependency layer.
BUILT_PREFIXES = ("capsule-verify/", "capsule-test/", "capsule-try")


def _forget_images() -> None:
    """Remove the images capsule built (never the base image), so the next build is cold."""
    client = docker.require_engine()
    for image in client.images.list():
        if any(tag.startswith(BUILT_PREFIXES) for tag in image.tags):
            client.images.remove(image.id, force=True)
    client.images.prune(filters={"dangling": True})


def main() -> int:
    """Run the benchmark; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("docker", "local"), default="docker")
    parser.add_argument("--base-image", default="capsule-base:bookworm")
    parser.add_argument("--capsule", type=Path, help="an existing capsule (default: build one)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="capsule-bench-") as tmp:
        capsule = args.capsule
        if capsule is None:
            start = time.monotonic()
            capsule = Path(tmp) / "paper_figures.capsule"
            build(BuildOptions(source=EXAMPLE, output=capsule))
            print(f"build                      {time.monotonic() - start:7.1f} s")
        if args.backend == "docker":
            _forget_images()
        else:
            os.environ["CAPSULE_CACHE_DIR"] = str(Path(tmp) / "cache")
        totals = []
        for label in ("first verification", "second verification"):
            start = time.monotonic()
            result = verify(
                VerifyOptions(
                    capsule=capsule,
                    backend=args.backend,
                    base_image=args.base_image if args.backend == "docker" else "",
                    report_dir=Path(tmp) / "report",
                )
            )
            total = time.monotonic() - start
            totals.append(total)
            rerun = result.verification.rerun
            print(
                f"{label:<26} {total:7.1f} s  (environment {rerun.build_s:6.1f} s, "
                f"run {rerun.run_s:6.1f} s; {result.verification.outcome})"
            )
        print(f"second / first             {totals[1] / totals[0]:7.2f}")
        if args.capsule is None:
            shutil.rmtree(capsule, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Snapshot tests: the rendered Dockerfile, run.sh and .dockerignore, byte for byte.

Each file is rendered from templates/ through capsule/render.py with a fixed, hand-made context
shaped like the one build.py's `_render_files` makes, and compared with its golden copy under
tests/snapshots/. Volatile values (capsule's version) are normalised first. After a deliberate
template change, regenerate the golden files and review their diff (as pdoc's test_snapshot.py
does): see REGENERATE.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from capsule import __version__, render, runner
from capsule.build import RENDERED, RUNTIME_PYTHON
from capsule.determinism import decide
from capsule.dockerfile import DOCKERFILE_TEMPLATE
from capsule.model import Plan, Step
from capsule.naming import RUNTIME_LOCK, RUNTIME_PYTHON_VARIABLE, RUNTIME_WHEELS

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
UPDATE_ENV = "CAPSULE_UPDATE_SNAPSHOTS"
REGENERATE = f"{UPDATE_ENV}=1 bash scripts/test.sh tests/test_snapshots.py"
VERSION_PLACEHOLDER = "<capsule version>"

PLAN = Plan(
    title="Paper figures",
    steps=(
        Step(name="01_clean.py", kind="script", path="scripts/01_clean.py", args=("--seed", "7")),
        Step(name="02 explore", kind="notebook", path="notebooks/02 explore.ipynb"),
        Step(name="figures", kind="command", args=("python", "-m", "plots", "--out", "it's")),
        Step(name="tables", kind="command", args=("sh", "tables.sh", "$HOME")),
    ),
    data=("data/*.csv",),
    outputs=("results/**",),
    exclude=(),
    source_date_epoch=1_700_000_000,
)


EMBEDDED_ID = "sha256:" + "0123456789abcdef" * 4


def context(
    *, has_pins: bool = True, archive: str = "", runtime: bool = True, debs: str = ""
) -> dict[str, Any]:
    """The values build.py (and capsule/dockerfile.py) give the templates, for PLAN."""
    name = "paper-figures"
    return {
        "name": name,
        "capsule_version": __version__,
        "base_image": EMBEDDED_ID if archive else "capsule-base:bookworm",
        "platform": "linux/amd64",
        "archive": archive,
        "debs": debs,
        "tag": f"capsule/{name}",
        "env": decide(PLAN, None, {"OPENBLAS_CORETYPE": "Haswell"}).env,
        "steps": [
            runner.shell_step(index, step, RUNTIME_PYTHON)
            for index, step in enumerate(PLAN.steps, start=1)
        ],
        "plan": PLAN,
        "python_version": "3.11",
        "has_pins": has_pins,
        "runtime": {
            "lock": RUNTIME_LOCK,
            "wheels": RUNTIME_WHEELS,
            "variable": RUNTIME_PYTHON_VARIABLE,
            "has_pins": True,
        }
        if runtime
        else None,
    }


def normalised(text: str) -> str:
    """The rendered text with its volatile values replaced by placeholders."""
    return text.replace(f"capsule {__version__}", f"capsule {VERSION_PLACEHOLDER}")


CASES = {
    "Dockerfile": ("Dockerfile.j2", context()),
    "Dockerfile-without-pins": ("Dockerfile.j2", context(has_pins=False, runtime=False)),
    "Dockerfile-embedded": ("Dockerfile.j2", context(archive="base-image.tar")),
    "Dockerfile-with-debs": ("Dockerfile.j2", context(debs="debs")),
    "run.sh": ("run.sh.j2", context()),
    "dockerignore": ("dockerignore.j2", context()),
}


@pytest.mark.parametrize("snapshot", sorted(CASES))
def test_rendered_file_matches_its_snapshot(snapshot: str) -> None:
    template, values = CASES[snapshot]
    actual = normalised(render.render(template, **values))
    golden = SNAPSHOTS / snapshot
    if os.environ.get(UPDATE_ENV) == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(actual.encode("utf-8"))  # bytes: LF only, whatever the platform
    expected = golden.read_bytes().decode("utf-8") if golden.exists() else ""
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                f"tests/snapshots/{snapshot}",
                f"{template} as rendered now",
            )
        )
        pytest.fail(
            f"{template} renders differently from tests/snapshots/{snapshot}:\n{diff}\n"
            f"if the change is intended, regenerate the snapshots with\n  {REGENERATE}\n"
            "and review their diff before committing",
            pytrace=False,
        )


def test_the_snapshots_cover_every_rendered_file_but_the_readme() -> None:
    templates = {template for template, _values in CASES.values()}
    rendered = {template for template, _name in RENDERED} | {DOCKERFILE_TEMPLATE}
    assert templates == rendered - {"README.md.j2"}


def test_the_run_script_snapshot_is_valid_shell() -> None:
    # Quoting mistakes show as a shell syntax error before any diff is read.
    done = subprocess.run(
        ["sh", "-n", str(SNAPSHOTS / "run.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr

"""runtime/_capsule_collect.py: after a rerun, copy what the steps wrote, run for real."""

from __future__ import annotations

from pathlib import Path

from .conftest import run_runtime


def write(root: Path, files: dict[str, str]) -> None:
    """Write {relative path: text} under root."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def test_collect_copies_new_and_changed_files_only(tmp_path: Path, python: str) -> None:
    pristine, work, out = tmp_path / "pristine", tmp_path / "work", tmp_path / "out"
    packaged = {"a.py": "print(1)\n", "data/in.csv": "x\n1\n", "results/kept.txt": "same\n"}
    write(pristine, packaged)
    write(work, packaged)
    write(
        work,
        {
            "data/in.csv": "x\n2\n",  # a step rewrote its input: collected
            "results/new/figure.svg": "<svg/>",
            "__pycache__/a.cpython-311.pyc": "bytecode",
            "notebooks/.ipynb_checkpoints/n-checkpoint.ipynb": "{}",
        },
    )
    done = run_runtime(
        ["-m", "_capsule_collect", str(pristine), str(work), str(out)], cwd=tmp_path, python=python
    )
    assert done.returncode == 0, done.stderr
    copied = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert copied == ["data/in.csv", "results/new/figure.svg"]
    assert (out / "data/in.csv").read_text() == "x\n2\n"
    assert done.stderr == f"capsule: collected 2 output file(s) into {out}\n"


def test_collect_needs_three_folders(tmp_path: Path, python: str) -> None:
    done = run_runtime(["-m", "_capsule_collect", "only-one"], cwd=tmp_path, python=python)
    assert done.returncode == 2
    assert done.stderr.startswith("usage: python -m _capsule_collect PRISTINE WORKDIR OUTDIR")

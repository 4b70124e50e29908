"""Checksums, globs and snapshots of trees."""

from __future__ import annotations

import hashlib
from pathlib import Path

from capsule.hashing import diff, matches, sha256_file, snapshot, walk

from conftest import write_tree


def test_sha256_streams_large_files(tmp_path: Path) -> None:
    data = bytes(range(256)) * 20_000  # 5 MB, several chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_globs() -> None:
    assert matches("figures/a/b.png", ["figures/**"])
    assert matches("data/raw.csv", ["data/*.csv"])
    assert not matches("data/sub/raw.csv", ["data/*.csv"])
    assert matches("data/sub/raw.csv", ["data/**/*.csv"])
    assert matches("deep/.venv/x", [".venv"])  # a bare name excludes at any depth
    assert matches("a/b/c.pyc", ["*.pyc"])
    assert not matches("figures.py", ["figures/**"])


def test_walk_skips_caches_and_virtualenvs(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "a.py": "x",
            "__pycache__/a.cpython-311.pyc": b"\0",
            ".git/HEAD": "ref",
            "env/pyvenv.cfg": "home = /usr",
            "env/lib/site.py": "x",
            "data/d.csv": "1",
            "notebooks/.ipynb_checkpoints/n.ipynb": "{}",
        },
    )
    assert list(walk(tmp_path)) == ["a.py", "data/d.csv"]
    assert list(walk(tmp_path, ["data/**"])) == ["a.py"]


def test_snapshot_diff_sees_created_modified_removed(tmp_path: Path) -> None:
    write_tree(tmp_path, {"keep.txt": "same", "change.txt": "old", "gone.txt": "bye"})
    before = snapshot(tmp_path)
    (tmp_path / "change.txt").write_text("new")
    (tmp_path / "gone.txt").unlink()
    (tmp_path / "made.txt").write_text("hi")
    (tmp_path / "keep.txt").write_text("same")  # rewritten with the same bytes: not modified
    change = diff(before, snapshot(tmp_path, previous=before))
    assert change.created == ("made.txt",)
    assert change.modified == ("change.txt",)
    assert change.removed == ("gone.txt",)
    assert change.written == ("change.txt", "made.txt")

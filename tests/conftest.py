"""Shared fixtures: small analyses made inline, and the plugins for Docker tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

pytest_plugins = ["fixtures_docker"]

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "paper_figures"

MakeProject = Callable[[Mapping[str, str | bytes]], Path]


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write files (relative path -> text, dedented, or bytes) under root; return root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """make_project({path: text}) builds a small analysis folder in tmp and returns it."""

    def make(files: Mapping[str, str | bytes]) -> Path:
        return write_tree(tmp_path / "analysis", files)

    return make

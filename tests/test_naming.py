"""The one naming rule: the capsule's name, its default folder, its verification folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from capsule.naming import FALLBACK_NAME, capsule_name, default_capsule_path, verification_dir


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("paper_figures", "paper_figures"),
        ("my analysis", "my-analysis"),
        ("données & résultats", "donn-es-r-sultats"),
        ("v1.2-final", "v1.2-final"),
        (".hidden.", "hidden"),
        ("***", FALLBACK_NAME),
    ],
)
def test_the_name_is_file_safe(tmp_path: Path, folder: str, name: str) -> None:
    assert capsule_name(tmp_path / folder) == name


def test_the_name_comes_from_the_resolved_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my analysis").mkdir()
    monkeypatch.chdir(tmp_path / "my analysis")
    assert capsule_name(Path()) == "my-analysis"


def test_the_default_capsule_is_in_the_current_folder_and_carries_the_name(
    tmp_path: Path,
) -> None:
    path = default_capsule_path(tmp_path / "my analysis")
    assert path == Path("my-analysis.capsule")
    assert not path.is_absolute()


@pytest.mark.parametrize("capsule", ["paper.capsule", "paper"])
def test_the_verification_lies_beside_the_capsule(tmp_path: Path, capsule: str) -> None:
    assert verification_dir(tmp_path / capsule) == tmp_path.resolve() / "paper.verification"

"""Tests for capsule/environment.py: redaction, git state on real repositories, host facts."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capsule import environment
from capsule.environment import (
    ENV_ALLOWLIST,
    GIT_LIST_CAP,
    REDACTED,
    describe,
    git_state,
    now_iso,
    record_env,
)
from capsule.errors import EnvironmentProblem

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git executable")

# Keep the test's git away from the user's and the machine's configuration.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
    "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
}
COMMIT_TIME = 1767323045  # 2026-01-02T03:04:05Z


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """A repository at `root` on branch main, with `files` in one commit."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test")
    git(root, "config", "user.email", "test@example.org")
    write(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    return root


# ── environment variables ─────────────────────────────────────────────────────────────────

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-aws-secret",
    "GITHUB_TOKEN": "ghp_github-token-value",
    "PYTHON_SECRET_TOKEN": "python-secret-token-value",
    "NVIDIA_API_KEY": "nvapi-key-value",
    "PIP_INDEX_URL": "https://user:pip-password@pypi.example.org/simple",
    "PYTHONPATH": "https://someone:url-password@example.org/",
    "my_password": "lowercase-password-value",
}


def test_secrets_appear_nowhere() -> None:
    recorded = record_env({**SECRETS, "PATH": "/usr/bin"})
    text = repr(recorded)
    for value in SECRETS.values():
        assert value not in text
    assert dict(recorded) == {**dict.fromkeys(SECRETS, REDACTED), "PATH": "/usr/bin"}


def test_allowlisted_values_kept_others_redacted_all_names_sorted() -> None:
    environ = {
        "TZ": "UTC",
        "PATH": "/usr/bin:/bin",
        "LC_ALL": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "SOURCE_DATE_EPOCH": "1767323045",
        "HOME": "/home/someone",
        "USER": "someone",
        "EDITOR": "vim",
        "XPATH": "not PATH",
    }
    recorded = record_env(environ)
    assert [name for name, _ in recorded] == sorted(environ)
    values = dict(recorded)
    for name in ("TZ", "PATH", "LC_ALL", "PYTHONHASHSEED", "OMP_NUM_THREADS", "SOURCE_DATE_EPOCH"):
        assert values[name] == environ[name]
    for name in ("HOME", "USER", "EDITOR", "XPATH"):
        assert values[name] == REDACTED


def test_allowlist_shape() -> None:
    assert "PIP_INDEX_URL" not in ENV_ALLOWLIST
    assert {"PATH", "LANG", "LC_*", "PYTHON*", "OMP_*", "CUDA_*"} <= set(ENV_ALLOWLIST)
    assert list(ENV_ALLOWLIST) == sorted(ENV_ALLOWLIST)


def test_now_iso_format() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now_iso())


# ── git state ─────────────────────────────────────────────────────────────────────────────


@needs_git
def test_clean_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"analysis.py": "print(1)\n"})
    state = git_state(repo)
    assert state is not None
    assert state.commit == git(repo, "rev-parse", "HEAD")
    assert state.branch == "main"
    assert state.commit_time == COMMIT_TIME
    assert not state.dirty
    assert state.untracked == state.modified == ()


@needs_git
def test_dirt_outside_the_analysis_folder_does_not_count(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo", {"paper/analysis.py": "print(1)\n", "other/notes.txt": "a\n"}
    )
    write(repo, {"other/notes.txt": "changed\n", "other/new.txt": "new\n", "top.txt": "x\n"})
    state = git_state(repo / "paper")
    assert state is not None
    assert not state.dirty
    assert state.untracked == state.modified == ()
    whole = git_state(repo)
    assert whole is not None
    assert whole.dirty
    assert whole.untracked == ("other/new.txt", "top.txt")
    assert whole.modified == ("other/notes.txt",)


@needs_git
def test_changes_inside_are_listed_relative_to_the_analysis_root(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {"paper/analysis.py": "print(1)\n", "paper/b.py": "", "paper/same.py": "x = 1\n"},
    )
    write(repo, {"paper/data/new.csv": "a,b\n", "paper/analysis.py": "print(2)\n"})
    (repo / "paper" / "b.py").unlink()
    # A new mtime on an unchanged file: a plain `git status` would rewrite the index for it.
    os.utime(repo / "paper" / "same.py", (2_000_000_000, 2_000_000_000))
    index_before = (repo / ".git" / "index").read_bytes()
    state = git_state(repo / "paper")
    assert state is not None
    assert state.dirty
    assert state.untracked == ("data/new.csv",)
    assert state.modified == ("analysis.py", "b.py")
    assert (repo / ".git" / "index").read_bytes() == index_before  # read-only
    git(repo, "diff", "--cached", "--quiet")  # nothing was staged either


@needs_git
def test_staged_rename_inside_the_analysis_folder(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"paper/old.py": "print('a long enough file')\n"})
    git(repo, "mv", "paper/old.py", "paper/new.py")
    state = git_state(repo / "paper")
    assert state is not None
    assert state.modified == ("new.py", "old.py")


@needs_git
def test_untracked_lists_are_capped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": ""})
    write(repo, {f"out/{i:04d}.txt": "" for i in range(GIT_LIST_CAP + 5)})
    state = git_state(repo)
    assert state is not None
    assert state.dirty
    assert len(state.untracked) == GIT_LIST_CAP
    assert state.untracked[0] == "out/0000.txt"


@needs_git
def test_detached_head_has_no_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a.py": ""})
    git(repo, "checkout", "-q", "--detach")
    state = git_state(repo)
    assert state is not None
    assert state.branch == ""
    assert state.commit == git(repo, "rev-parse", "HEAD")


@needs_git
@pytest.mark.skipif(sys.platform == "win32", reason="* is not allowed in Windows names")
def test_folder_name_with_glob_characters(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"a*/x.py": "", "ab/y.py": ""})
    write(repo, {"ab/new.txt": ""})
    state = git_state(repo / "a*")
    assert state is not None
    assert not state.dirty


@needs_git
def test_repository_without_commits_is_none(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    git(tmp_path / "empty", "init", "-q")
    assert git_state(tmp_path / "empty") is None


def test_outside_git_is_none(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None
    assert git_state(tmp_path / "does-not-exist") is None


# ── describe ──────────────────────────────────────────────────────────────────────────────


def test_describe_this_machine(tmp_path: Path) -> None:
    env = describe(
        started_at="2026-11-26T04:00:00Z",
        finished_at="2026-11-26T04:01:00Z",
        python=sys.executable,
        root=tmp_path,
        environ={"PATH": "/usr/bin", "GITHUB_TOKEN": "ghp_secret"},
    )
    assert env.python_version == platform.python_version()
    assert env.python_implementation == platform.python_implementation()
    assert env.os == platform.platform()
    assert env.architecture == platform.machine()
    assert env.cpu_cores_logical >= 1
    assert 0 <= env.cpu_cores_physical <= env.cpu_cores_logical
    assert env.memory_bytes > 0
    assert env.hostname
    assert env.started_at == "2026-11-26T04:00:00Z"
    assert env.finished_at == "2026-11-26T04:01:00Z"
    assert env.git is None
    assert env.env_vars == (("GITHUB_TOKEN", REDACTED), ("PATH", "/usr/bin"))
    if Path("/etc/os-release").exists():
        assert env.os_release


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for Python")
def test_describe_asks_the_analysis_interpreter(tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho '9 8 9.8.7 FakePy'\n", encoding="utf-8")
    fake.chmod(0o755)
    env = describe(started_at="", finished_at="", python=str(fake), root=tmp_path, environ={})
    assert (env.python_version, env.python_implementation) == ("9.8.7", "FakePy")


def test_describe_with_a_missing_interpreter_says_so(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem, match="no-python did not say which Python it is"):
        describe(
            started_at="",
            finished_at="",
            python=str(tmp_path / "no-python"),
            root=tmp_path,
            environ={},
        )


def test_user_is_empty_when_the_system_cannot_tell(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> str:
        raise OSError("no passwd entry")

    monkeypatch.setattr("getpass.getuser", fail)
    assert environment._user() == ""


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for Python")
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "echo 'no such module' >&2\nexit 3",
            "did not say which Python it is: exit code 3, no such module",
        ),
        ("echo 'Python 2.7'", "did not say which Python it is: exit code 0, Python 2.7"),
    ],
    ids=["fails", "garbled"],
)
def test_describe_with_a_broken_interpreter_says_how(
    tmp_path: Path, script: str, expected: str
) -> None:
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\n{script}\n", encoding="utf-8")
    fake.chmod(0o755)
    with pytest.raises(EnvironmentProblem, match=expected):
        describe(started_at="", finished_at="", python=str(fake), root=tmp_path, environ={})

"""capsule/determinism.py: where SOURCE_DATE_EPOCH comes from, and the settings every run gets."""

from __future__ import annotations

from capsule.determinism import (
    CARRIED_FROM_HOST,
    DEFAULT_SOURCE_DATE_EPOCH,
    FIXED_ENV,
    PATH_VARIABLES,
    decide,
)
from capsule.model import GitState, Plan

GIT = GitState(commit="c" * 40, branch="main", dirty=False, commit_time=1_700_000_000)


def a_plan(source_date_epoch: int | None = None) -> Plan:
    """A plan with nothing in it but the epoch the author may have pinned."""
    return Plan(
        title="t",
        steps=(),
        data=(),
        outputs=(),
        exclude=(),
        source_date_epoch=source_date_epoch,
    )


def test_the_epoch_pinned_in_capsule_toml_wins_over_git() -> None:
    determinism = decide(a_plan(source_date_epoch=42), GIT, {})
    assert dict(determinism.env)["SOURCE_DATE_EPOCH"] == "42"
    assert determinism.source_date_epoch_from == "capsule.toml"


def test_the_git_commit_time_comes_next() -> None:
    determinism = decide(a_plan(), GIT, {})
    assert dict(determinism.env)["SOURCE_DATE_EPOCH"] == "1700000000"
    assert determinism.source_date_epoch_from == "git commit"


def test_without_either_the_epoch_is_the_zip_epoch() -> None:
    determinism = decide(a_plan(), None, {})
    assert dict(determinism.env)["SOURCE_DATE_EPOCH"] == str(DEFAULT_SOURCE_DATE_EPOCH)
    assert DEFAULT_SOURCE_DATE_EPOCH == 315532800  # 1980-01-01, the earliest a ZIP file holds
    assert determinism.source_date_epoch_from == "default"


def test_every_fixed_setting_is_there_and_the_pairs_are_sorted() -> None:
    env = decide(a_plan(), None, {}).env
    assert [name for name, _ in env] == sorted(name for name, _ in env)
    assert set(FIXED_ENV) <= set(env)
    assert dict(env)["PYTHONHASHSEED"] == "0"
    assert dict(env)["TZ"] == "UTC"


def test_only_the_blas_kernel_settings_are_carried_from_the_host() -> None:
    host = {
        "OPENBLAS_CORETYPE": "Haswell",
        "OPENBLAS_L2_SIZE": "",  # empty: not carried
        "HOME": "/home/author",
        "OMP_NUM_THREADS": "16",  # the host's value never replaces the fixed one
    }
    env = dict(decide(a_plan(), None, host).env)
    assert env["OPENBLAS_CORETYPE"] == "Haswell"
    assert "OPENBLAS_L2_SIZE" not in env
    assert "HOME" not in env
    assert env["OMP_NUM_THREADS"] == "1"
    assert set(CARRIED_FROM_HOST) == {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"}


def test_the_same_inputs_give_the_same_environment() -> None:
    host = {"OPENBLAS_CORETYPE": "Zen"}
    assert decide(a_plan(), GIT, host) == decide(a_plan(), GIT, dict(host))


def test_no_path_variable_is_part_of_the_recorded_environment() -> None:
    # Paths differ between the host and the container; they are set per run, never recorded.
    env = dict(decide(a_plan(), GIT, {}).env)
    assert not set(PATH_VARIABLES) & set(env)

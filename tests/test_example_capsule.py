"""The example analysis, built into a capsule once per session: the promises of `capsule build`."""

from __future__ import annotations

import re
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest

from capsule import manifest
from capsule.build import BuildOptions, build
from capsule.hashing import sha256_file, walk

from conftest import EXAMPLE, PLANTED_SECRET, BuiltExample

pytestmark = pytest.mark.slow

EXAMPLE_OUTPUTS = {
    "figures/fig1_model_comparison.png",
    "figures/fig1_model_comparison.pdf",
    "figures/fig2_confusion_matrix.png",
    "figures/fig3_ngram_sweep.svg",
    "figures/fig4_error_analysis.png",
    "tables/table1_metrics.csv",
    "notebooks/04_error_analysis/cell7-1.png",  # the figure the notebook displays
}


def _lock_pins(text: str) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a requirements.lock."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        if match:
            current = match.group(1).lower()
            pins[current] = (match.group(2), [])
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            pins[current][1].append(digest)
    return pins


def test_manifest_lists_every_output_with_hash_and_step(example_capsule: BuiltExample) -> None:
    loaded = manifest.read(example_capsule.path)
    outputs = {entry.path: entry for entry in loaded.outputs}
    assert set(outputs) == EXAMPLE_OUTPUTS
    step_names = {step.name for step in loaded.plan.steps}
    for rel, entry in outputs.items():
        assert entry.sha256 == sha256_file(example_capsule.path / "expected" / rel)
        assert entry.step in step_names
    assert outputs["figures/fig4_error_analysis.png"].step == "04_error_analysis"
    assert outputs["tables/table1_metrics.csv"].step == "01_compare_models"
    # the committed PNGs and CSV come back identical; PDF and SVG at most differ in metadata
    assert outputs["tables/table1_metrics.csv"].on_disk == "identical"
    assert outputs["figures/fig2_confusion_matrix.png"].on_disk == "identical"
    assert outputs["figures/fig3_ngram_sweep.svg"].on_disk in ("identical", "metadata-only")


def test_every_pin_is_hashed_installed_and_vendored(example_capsule: BuiltExample) -> None:
    loaded = manifest.read(example_capsule.path)
    pins = _lock_pins((example_capsule.path / "requirements.lock").read_text())
    assert {"scikit-learn", "matplotlib", "numpy", "scipy", "ipykernel"} <= set(pins)
    # capsule's notebook client is pinned apart: the analysis never imports it
    assert not {"nbclient", "nbformat"} & set(pins)
    runtime = _lock_pins((example_capsule.path / "runtime.lock").read_text())
    assert {"nbclient", "nbformat", "jupyter-client"} <= set(runtime)
    assert loaded.runtime_lock is not None
    assert set(runtime) == {pin.name for pin in loaded.runtime_lock.pins}
    assert set(pins) == {pin.name for pin in loaded.lock.pins}
    wheels = {path.name for path in (example_capsule.path / "wheels").iterdir()}
    for pin in loaded.lock.pins:
        pinned_version, hashes = pins[pin.name]
        assert hashes, f"{pin.name} has no --hash line"
        assert pinned_version == pin.version == version(pin.name), pin.name
        assert pin.wheel in wheels
        assert pin.wheel_sha256 == sha256_file(example_capsule.path / "wheels" / pin.wheel)
        assert pin.wheel_sha256 in hashes, f"{pin.wheel} is not among the lock's hashes"
    assert {"sklearn", "matplotlib", "numpy"} <= set(loaded.lock.imported_modules)


def test_the_source_folder_is_untouched(example_capsule: BuiltExample) -> None:
    assert example_capsule.source_after == example_capsule.source_before


def test_a_secret_in_the_environment_appears_nowhere(example_capsule: BuiltExample) -> None:
    name, value = PLANTED_SECRET
    for rel in walk(example_capsule.path):
        assert value.encode() not in (example_capsule.path / rel).read_bytes(), rel
    env_vars = dict(manifest.read(example_capsule.path).environment.env_vars)
    assert env_vars[name] == "<redacted>"


def test_environment_and_git_are_recorded(example_capsule: BuiltExample) -> None:
    env = manifest.read(example_capsule.path).environment
    assert env.python_version.startswith("3.")
    assert env.cpu_cores_logical >= 1 and env.memory_bytes > 0
    assert env.hostname and env.started_at <= env.finished_at
    if env.git is not None:  # the example lives in capsule's own repository
        assert re.fullmatch(r"[0-9a-f]{40}", env.git.commit)


def test_two_builds_give_identical_files(example_capsule: BuiltExample, tmp_path: Path) -> None:
    again = tmp_path / "again.capsule"
    build(BuildOptions(source=EXAMPLE, output=again))
    first = example_capsule.path
    for name in (
        "Dockerfile",
        "requirements.lock",
        "runtime.lock",
        "run.sh",
        "README.md",
        "matplotlibrc",
    ):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    expected = sorted(walk(first / "expected"))
    assert expected == sorted(walk(again / "expected"))
    for rel in expected:
        assert sha256_file(first / "expected" / rel) == sha256_file(again / "expected" / rel), rel
    shutil.rmtree(again)


@pytest.mark.docker
def test_docker_round_trip_reproduces_every_output(
    example_capsule: BuiltExample, base_image: str, tmp_path: Path
) -> None:
    """docker build --network none, docker run --network none: expected/ comes back bit-for-bit."""
    from capsule.backends import docker

    capsule_dir = example_capsule.path
    tag = "capsule-test/paper-figures:round-trip"
    docker.build_image(capsule_dir, tag=tag, build_args={"BASE_IMAGE": base_image})
    result = docker.run_container(tag, out_dir=tmp_path / "rerun")
    assert result.exit_code == 0, result.logs
    assert not result.timed_out and not result.oom_killed
    rerun = tmp_path / "rerun"
    assert sorted(walk(rerun)) == sorted(walk(capsule_dir / "expected"))
    for rel in walk(capsule_dir / "expected"):
        assert sha256_file(rerun / rel) == sha256_file(capsule_dir / "expected" / rel), rel


def test_the_report_shows_every_output_with_its_lineage(example_capsule: BuiltExample) -> None:
    """report.html, written by the build, names each output, the code that wrote it, the pins."""
    from capsule.report.methods_text import methods_text

    capsule = example_capsule.path
    loaded = manifest.read(capsule)
    html = (capsule / "report.html").read_text(encoding="utf-8")
    for entry in loaded.outputs:
        assert entry.path in html
    for generation in loaded.provenance.generated:
        site = generation.call_site
        assert site is not None, generation.entity
        assert site.file in html
    capsule_id = sha256_file(capsule / "capsule.json")
    text = " ".join(methods_text(loaded, capsule_id).paragraphs)
    versions = {pin.name: pin.version for pin in loaded.lock.pins}
    for name in ("scikit-learn", "matplotlib", "numpy"):
        assert f"{name} {versions[name]}" in text
    assert loaded.environment.python_version in text
    data = next(e for e in loaded.files if e.path == "data/utterances.csv")
    assert data.sha256[:12] in text
    assert "scripts/02_confusion_matrix.py" in text
    assert capsule_id in text
    markdown = (capsule / "methods.md").read_text(encoding="utf-8")
    assert text.split(". ")[0] in markdown

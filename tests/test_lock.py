"""Tests for capsule/lock.py and runtime/_capsule_inventory.py, on real environments and pip.

One throw-away virtual environment (module scope) plays the analysis' environment: six from the
index, and the fixture packages of tests/projects/lock-packages installed editable, from a
folder, from a folder deleted afterwards, as two portions of one namespace package, and behind
an extra. No pip is mocked; the index is the machine's configured one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capsule import lock
from capsule.errors import LockError
from capsule.hashing import sha256_file
from capsule.runtime import _capsule_inventory as inventory

PACKAGES = Path(__file__).resolve().parent / "projects" / "lock-packages"
SIX = "six==1.16.0"
SDIST_ONLY = "docopt==0.6.2"  # a release with no wheel on the index
NEEDS_SIX = "python-dateutil==2.9.0.post0"  # requires six, which file_env lacks


@dataclass(frozen=True)
class AnalysisEnv:
    """A virtual environment standing for the analysis', and where its parts live."""

    python: str
    site: Path  # site-packages
    sources: Path  # copies of the fixture packages, as installed
    root: Path  # an analysis folder with a module of its own


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], check=True, capture_output=True, text=True
    )


def _venv(path: Path) -> str:
    """A fresh venv without pip (capsule's own pip installs into it with --python)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return str(path / "bin" / "python")


def _site(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


@pytest.fixture(scope="module", autouse=True)
def hash_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep the tests' pip-tools hash cache away from the user's."""
    folder = tmp_path_factory.mktemp("capsule-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(lock.HASH_CACHE_ENV, str(folder))
        yield folder


@pytest.fixture(scope="module")
def analysis_env(tmp_path_factory: pytest.TempPathFactory) -> AnalysisEnv:
    """The analysis' environment, installed once for the whole module (about 10 s)."""
    base = tmp_path_factory.mktemp("analysis-env")
    sources = base / "src"
    shutil.copytree(PACKAGES, sources)
    python = _venv(base / "venv")
    _pip(
        "--python",
        python,
        "install",
        "--quiet",
        SIX,
        SDIST_ONLY,
        str(sources / "capfix-local"),
        str(sources / "capfix-extra"),
        str(sources / "capfix-gone"),
        str(sources / "capfix-ns-a"),
        str(sources / "capfix-ns-b"),
        "--editable",
        str(sources / "capfix-editable"),
    )
    shutil.rmtree(sources / "capfix-gone")
    # What setuptools left in the folder it built: the author's folder is clean again.
    shutil.rmtree(sources / "capfix-local" / "build", ignore_errors=True)
    for leftover in (sources / "capfix-local").glob("*.egg-info"):
        shutil.rmtree(leftover)
    root = base / "analysis"
    (root / "lib").mkdir(parents=True)
    (root / "lib" / "helpers.py").write_text("X = 1\n", encoding="utf-8")
    return AnalysisEnv(python=python, site=_site(python), sources=sources, root=root)


def _tree(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root, but bytecode caches."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def _run_inventory(env: AnalysisEnv, modules: dict[str, str | None]) -> dict[str, object]:
    request = {"modules": modules, "analysis_root": str(env.root)}
    out = subprocess.run(
        [env.python, str(lock.INVENTORY_SCRIPT)],
        input=json.dumps(request),
        check=True,
        capture_output=True,
        text=True,
    )
    answer: dict[str, object] = json.loads(out.stdout)
    return answer


def _names(answer: dict[str, object]) -> dict[str, dict[str, object]]:
    dists = answer["distributions"]
    assert isinstance(dists, list)
    return {d["name"]: d for d in dists}


# ── reading the trace ─────────────────────────────────────────────────────────────────────


def test_read_module_records_merges_processes(tmp_path: Path) -> None:
    records = [
        (11, {"numpy": None, "os": "/x/os.py", "pkg": "/b/pkg.py"}),
        (7, {"numpy": "/np.py", "pkg": "/a/pkg.py", "sys": None}),
    ]
    for pid, modules in records:
        record = {"pid": pid, "argv": ["x"], "executable": "/py", "modules": modules}
        (tmp_path / f"process-{pid}.json").write_text(json.dumps(record), encoding="utf-8")
    (tmp_path / "unrelated.json").write_text("not json", encoding="utf-8")
    assert lock.read_module_records(tmp_path) == {
        "numpy": "/np.py",
        "os": "/x/os.py",
        "pkg": "/a/pkg.py",  # two files for one name: the smaller path, whatever the pids
        "sys": None,
    }
    assert lock.read_module_records(tmp_path / "missing") == {}


def test_read_module_records_refuses_a_broken_record(tmp_path: Path) -> None:
    (tmp_path / "process-1.json").write_text('{"pid": 1, "modu', encoding="utf-8")
    with pytest.raises(LockError, match=r"process-1\.json"):
        lock.read_module_records(tmp_path)


# ── the inventory: modules to distributions, and their closure ───────────────────────────


def test_inventory_maps_namespace_portions_by_file(analysis_env: AnalysisEnv) -> None:
    portion_a = str(analysis_env.site / "capfix_ns" / "a" / "__init__.py")
    answer = _run_inventory(analysis_env, {"capfix_ns": portion_a})
    assert sorted(_names(answer)) == ["capfix-ns-a"]
    assert _names(answer)["capfix-ns-a"]["modules"] == ["capfix_ns"]
    # Without a file, the namespace can only be attributed to every distribution of it.
    answer = _run_inventory(analysis_env, {"capfix_ns": None})
    assert sorted(_names(answer)) == ["capfix-ns-a", "capfix-ns-b"]
    assert answer["ambiguous"] == [
        {"module": "capfix_ns", "distributions": ["capfix-ns-a", "capfix-ns-b"]}
    ]
    # Dotted names tell the portions apart too.
    portion_b = str(analysis_env.site / "capfix_ns" / "b" / "__init__.py")
    answer = _run_inventory(analysis_env, {"capfix_ns.a": portion_a, "capfix_ns.b": portion_b})
    assert sorted(_names(answer)) == ["capfix-ns-a", "capfix-ns-b"]


def test_inventory_skips_stdlib_local_and_startup_modules(analysis_env: AnalysisEnv) -> None:
    modules: dict[str, str | None] = {
        "os": os.__file__,
        "sys": None,
        "helpers": str(analysis_env.root / "lib" / "helpers.py"),
        "sitecustomize": "/somewhere/runtime/sitecustomize.py",
        "_capsule_notebook": "/somewhere/runtime/_capsule_notebook.py",
        "nowhere": "/not/installed/nowhere.py",
        "six": str(analysis_env.site / "six.py"),
    }
    answer = _run_inventory(analysis_env, modules)
    assert sorted(_names(answer)) == ["six"]
    assert answer["skipped"] == {
        "builtin": ["sys"],
        "local": ["helpers"],
        "runner": [],
        "startup": ["_capsule_notebook", "sitecustomize"],
        "stdlib": ["os"],
    }
    assert answer["unmapped"] == [{"module": "nowhere", "file": "/not/installed/nowhere.py"}]


def test_inventory_follows_requested_extras_and_markers(analysis_env: AnalysisEnv) -> None:
    module = str(analysis_env.site / "capfix_local" / "__init__.py")
    answer = _run_inventory(analysis_env, {"capfix_local": module})
    dists = _names(answer)
    # capfix-local needs capfix-extra[fancy], whose "fancy" extra needs six; the "other" extra
    # and the python_version < "3" requirement are not in force.
    assert sorted(dists) == ["capfix-extra", "capfix-local", "six"]
    assert dists["capfix-extra"]["extras"] == ["fancy"]
    assert dists["six"]["required_by"] == ["capfix-extra"]
    assert dists["six"]["imported"] is False
    assert dists["capfix-local"]["imported"] is True
    assert answer["missing"] == []
    assert dists["capfix-local"]["direct_url"]["dir_info"] == {}  # type: ignore[index]


def test_inventory_maps_an_editable_install_by_its_source_folder(
    analysis_env: AnalysisEnv,
) -> None:
    module = str(analysis_env.sources / "capfix-editable" / "capfix_editable" / "__init__.py")
    dists = _names(_run_inventory(analysis_env, {"capfix_editable": module}))
    assert list(dists) == ["capfix-editable"]
    assert dists["capfix-editable"]["direct_url"]["dir_info"] == {"editable": True}  # type: ignore[index]


@pytest.mark.parametrize(
    ("marker", "extra", "expected"),
    [
        ('python_version >= "3.8" and sys_platform == "linux"', "", sys.platform == "linux"),
        ('python_version < "3"', "", False),
        ("python_full_version == '3.*'", "", True),
        ('extra == "Fancy_Stuff"', "fancy-stuff", True),
        ('extra == "fancy"', "", False),
        ('(os_name == "nt" or os_name == "posix") and "x" not in "abc"', "", os.name == "posix"),
        ('platform_release >= "0"', "", True),  # not a version: compared as strings
    ],
)
def test_markers(marker: str, extra: str, expected: bool) -> None:
    env = dict(inventory.marker_environment(), extra=extra)
    assert inventory.evaluate_marker(marker, env) is expected


def test_versions_are_normalized_as_pep_440_says() -> None:
    assert inventory.normalize_version("1.0-1") == "1.0.post1"
    assert inventory.normalize_version("v2.0RC1") == "2.0rc1"
    assert inventory.normalize_version("1.0.0.dev0+Local_1") == "1.0.0.dev0+local.1"
    assert inventory.normalize_version("not a version") == "not a version"


# ── pinning ───────────────────────────────────────────────────────────────────────────────


def test_parse_compiled_reads_pip_tools_output() -> None:
    text = (
        "--find-links /somewhere\n\n"
        "Six==1.16.0 \\\n    --hash=sha256:bb \\\n    --hash=sha256:aa\n    # via -r x.in\n"
        "zipp==3.0 --hash=sha256:cc  # via foo\n"
    )
    parsed = lock._parse_compiled(text)
    assert parsed == {
        "six": lock._Compiled("1.16.0", ("aa", "bb")),
        "zipp": lock._Compiled("3.0", ("cc",)),
    }


def test_a_deleted_source_folder_is_a_lock_error(analysis_env: AnalysisEnv, tmp_path: Path) -> None:
    module = str(analysis_env.site / "capfix_gone.py")
    with pytest.raises(LockError) as caught:
        lock.pin(
            {"capfix_gone": module},
            python=analysis_env.python,
            analysis_root=analysis_env.root,
            wheels_dir=tmp_path / "wheels",
            lock_path=tmp_path / "requirements.lock",
        )
    assert "capfix-gone" in caught.value.message
    assert "no longer exists" in caught.value.message
    assert caught.value.hint


def test_a_distribution_without_source_nor_index_is_a_lock_error(
    analysis_env: AnalysisEnv, tmp_path: Path
) -> None:
    # As installed by a distribution's package manager or `setup.py develop`: no PEP 610 record.
    python = _venv(tmp_path / "venv")
    _pip("--python", python, "install", "--quiet", str(analysis_env.sources / "capfix-editable"))
    site = _site(python)
    for record in site.glob("capfix_editable-*.dist-info/direct_url.json"):
        record.unlink()
    with pytest.raises(LockError) as caught:
        lock.pin(
            {"capfix_editable": str(site / "capfix_editable" / "__init__.py")},
            python=python,
            analysis_root=analysis_env.root,
            wheels_dir=tmp_path / "wheels",
            lock_path=tmp_path / "requirements.lock",
        )
    assert caught.value.message == lock.NOT_ON_INDEX.format(name="capfix-editable", version="0.1.0")


@pytest.fixture(scope="module")
def file_env(analysis_env: AnalysisEnv, tmp_path_factory: pytest.TempPathFactory) -> AnalysisEnv:
    """capfix-ns-b from a wheel file, capfix-extra from a folder changed since, no six."""
    base = tmp_path_factory.mktemp("file-env")
    shutil.copytree(analysis_env.sources / "capfix-ns-b", base / "capfix-ns-b")
    shutil.copytree(analysis_env.sources / "capfix-extra", base / "capfix-extra")
    _pip(
        "wheel",
        "--quiet",
        "--no-deps",
        "--wheel-dir",
        str(base / "dist"),
        str(base / "capfix-ns-b"),
    )
    (wheel,) = (base / "dist").glob("*.whl")
    python = _venv(base / "venv")
    _pip(
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        str(wheel),
        str(base / "capfix-extra"),
        NEEDS_SIX,
    )
    module = base / "capfix-extra" / "capfix_extra.py"
    module.write_text(module.read_text(encoding="utf-8") + "CHANGED = True\n", encoding="utf-8")
    return AnalysisEnv(python=python, site=_site(python), sources=base, root=analysis_env.root)


def test_a_wheel_file_install_is_pinned_with_that_wheel(
    file_env: AnalysisEnv, tmp_path: Path
) -> None:
    (wheel,) = (file_env.sources / "dist").glob("*.whl")
    result = lock.pin(
        {"capfix_ns": str(file_env.site / "capfix_ns" / "b" / "__init__.py")},
        python=file_env.python,
        analysis_root=file_env.root,
        wheels_dir=tmp_path / "wheels",
        lock_path=tmp_path / "requirements.lock",
    )
    (only,) = result.pins
    assert (only.name, only.source, only.origin) == ("capfix-ns-b", "built", str(wheel))
    assert only.wheel == wheel.name
    assert only.wheel_sha256 == sha256_file(wheel)


def test_a_changed_source_folder_is_a_lock_error(file_env: AnalysisEnv, tmp_path: Path) -> None:
    with pytest.raises(LockError) as caught:
        lock.pin(
            {"capfix_extra": str(file_env.site / "capfix_extra.py")},
            python=file_env.python,
            analysis_root=file_env.root,
            wheels_dir=tmp_path / "wheels",
            lock_path=tmp_path / "requirements.lock",
        )
    assert "has changed since it was installed" in caught.value.message
    assert "capfix_extra.py" in caught.value.message


def test_a_requirement_missing_from_the_environment_is_added_and_said(
    file_env: AnalysisEnv, tmp_path: Path
) -> None:
    said: list[str] = []
    result = lock.pin(
        {"dateutil": str(file_env.site / "dateutil" / "__init__.py")},
        python=file_env.python,
        analysis_root=file_env.root,
        wheels_dir=tmp_path / "wheels",
        lock_path=tmp_path / "requirements.lock",
        say=said.append,
    )
    assert [p.name for p in result.pins] == ["python-dateutil", "six"]
    assert any(
        m.startswith("six") and "(required by python-dateutil) is not installed" in m for m in said
    )
    assert any(m.startswith("pip-tools added six==") for m in said)
    text = (tmp_path / "requirements.lock").read_text(encoding="utf-8")
    assert "# added by pip-tools: not installed where the analysis ran" in text


def test_another_python_version_is_a_lock_error() -> None:
    found = lock._Inventory("2.7.18", (2, 7), "cpython", (), (), (), ())
    with pytest.raises(LockError, match=r"Python cpython 2\.7"):
        lock._check_python(found)


def test_nothing_imported_gives_an_empty_lock(analysis_env: AnalysisEnv, tmp_path: Path) -> None:
    result = lock.pin(
        {"os": os.__file__},
        python=analysis_env.python,
        analysis_root=analysis_env.root,
        wheels_dir=tmp_path / "wheels",
        lock_path=tmp_path / "requirements.lock",
    )
    assert result.pins == ()
    assert result.imported_modules == ()
    assert (tmp_path / "requirements.lock").read_text(encoding="utf-8").startswith("# ")


@pytest.mark.slow
def test_pin_locks_what_ran_and_installs_offline(analysis_env: AnalysisEnv, tmp_path: Path) -> None:
    site = analysis_env.site
    imports: dict[str, str | None] = {
        "six": str(site / "six.py"),
        "docopt": str(site / "docopt.py"),
        "capfix_local": str(site / "capfix_local" / "__init__.py"),
        "capfix_editable": str(
            analysis_env.sources / "capfix-editable" / "capfix_editable" / "__init__.py"
        ),
        "capfix_ns": str(site / "capfix_ns" / "a" / "__init__.py"),
        "json": json.__file__,
        "helpers": str(analysis_env.root / "lib" / "helpers.py"),
    }
    said: list[str] = []
    wheels, lock_path = tmp_path / "wheels", tmp_path / "requirements.lock"
    sources_before = _tree(analysis_env.sources)
    result = lock.pin(
        imports,
        python=analysis_env.python,
        analysis_root=analysis_env.root,
        wheels_dir=wheels,
        lock_path=lock_path,
        say=said.append,
    )

    assert (
        result.python_version
        == subprocess.run(
            [analysis_env.python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    assert result.tool.startswith("pip-tools ")
    assert result.imported_modules == (
        "capfix_editable",
        "capfix_local",
        "capfix_ns",
        "docopt",
        "six",
    )
    pins = {p.name: p for p in result.pins}
    assert [p.name for p in result.pins] == sorted(pins)
    assert sorted(pins) == [
        "capfix-editable",
        "capfix-extra",
        "capfix-local",
        "capfix-ns-a",
        "docopt",
        "six",
    ]
    assert pins["docopt"].source == "built"
    assert "source distribution" in pins["docopt"].origin
    assert pins["six"].source == "index"
    assert pins["six"].version == "1.16.0"
    assert pins["six"].imported
    assert pins["capfix-extra"].source == "built"
    assert not pins["capfix-extra"].imported
    assert pins["capfix-editable"].origin == str(analysis_env.sources / "capfix-editable")
    for p in result.pins:
        assert sha256_file(wheels / p.wheel) == p.wheel_sha256
        assert p.source == "index" or p.origin

    text = lock_path.read_text(encoding="utf-8")
    assert text.startswith("# requirements.lock")
    assert "six==1.16.0 \\\n    --hash=sha256:" in text
    assert f"    --hash=sha256:{pins['six'].wheel_sha256}" in text
    built = pins["capfix-local"]
    assert f"capfix-local==0.1.0 --hash=sha256:{built.wheel_sha256}\n" in text
    assert f"    # built from {built.origin}\n" in text
    assert "/tmp/capsule-lock-" not in text
    assert any("building a wheel of capfix-local" in m for m in said)
    # Wheels are built from copies: setuptools' build/ and *.egg-info never reach the source.
    assert _tree(analysis_env.sources) == sources_before

    # The same input gives the same file, byte for byte.
    again = tmp_path / "again.lock"
    lock.pin(
        imports,
        python=analysis_env.python,
        analysis_root=analysis_env.root,
        wheels_dir=tmp_path / "wheels-again",
        lock_path=again,
    )
    assert again.read_bytes() == lock_path.read_bytes()

    # What the capsule's Dockerfile does: an offline, hash-checked install into a fresh venv.
    fresh = _venv(tmp_path / "fresh")
    _pip(
        "--python",
        fresh,
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(wheels),
        "--require-hashes",
        "-r",
        str(lock_path),
    )
    check = (
        "import six, docopt, capfix_local, capfix_editable, capfix_ns.a, capfix_extra\n"
        "print(six.__version__)"
    )
    out = subprocess.run([fresh, "-c", check], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1.16.0"

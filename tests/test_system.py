"""What a run used of the operating system: resolved to packages, vendored, rebuilt offline.

The first part feeds capsule/system.py file uses and a small dpkg database of its own; the second
builds the two projects of tests/projects/ whose outputs depend on the system (a Makefile
pipeline running make, tar and graphviz's dot; a figure in Liberation Sans) from the offline
base image, which has none of those, and verifies them in Docker with no network.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from capsule import syspkg, system
from capsule.build import BuildOptions, build
from capsule.checks import system as system_checks
from capsule.checks.context import AuditContext, BuildFacts, RunFacts
from capsule.errors import ManifestError
from capsule.model import SystemEnvironment, SystemPackage, SystemUse, UnownedFile
from capsule.systrace import FileUse
from capsule.verify import VerifyOptions, check_capsule, verify

PROJECTS = Path(__file__).resolve().parent / "projects"

STATUS = """\
Package: graphviz
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.42.2-7+deb12u1
Depends: libc6 (>= 2.34), libgvc6 (>= 2.42)

Package: libgvc6
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.42.2-7+deb12u1
Depends: libc6

Package: libc6
Status: install ok installed
Priority: required
Architecture: amd64
Version: 2.36-9+deb12u14

Package: locales
Status: install ok installed
Priority: optional
Architecture: all
Version: 2.36-9+deb12u14
"""

LISTS = {
    "graphviz": ["/usr/bin/dot"],
    "libgvc6": ["/usr/lib/x86_64-linux-gnu/libgvc.so.6"],
    "libc6:amd64": ["/lib/x86_64-linux-gnu/libc.so.6"],
    "locales": ["/etc/locale.alias", "/usr/share/locale/locale.alias"],
}


@pytest.fixture
def database(tmp_path: Path) -> syspkg.Database:
    """A dpkg database with graphviz, its library, libc6 and locales."""
    root = tmp_path / "dpkg"
    (root / "info").mkdir(parents=True)
    (root / "status").write_text(STATUS)
    for name, paths in LISTS.items():
        (root / "info" / f"{name}.list").write_text("\n".join(paths) + "\n")
    loaded = syspkg.load(root)
    assert loaded is not None
    return loaded


def use(path: str, program: str = "/usr/bin/dot", **how: bool) -> FileUse:
    """A file use by `program`."""
    return FileUse(path=path, program=program, **how)


def describe(
    database: syspkg.Database, uses: list[FileUse], base: dict[str, str] | None
) -> SystemEnvironment:
    """The section for one step's uses, skipping /work (the analysis) and /py (its Python)."""
    return system.describe(
        {"make": uses}, skip=["/work", "/py/"], observer="strace 6.1", database=database, base=base
    )


# ── resolving files to packages ───────────────────────────────────────────────────────────


def test_files_resolve_to_packages_with_who_used_them(database: syspkg.Database) -> None:
    section = describe(
        database,
        [
            use("/usr/bin/dot", "/usr/bin/make", executed=True),
            use("/usr/lib/x86_64-linux-gnu/libgvc.so.6"),
            use("/usr/lib/x86_64-linux-gnu/libc.so.6"),  # listed as /lib/…: the merged /usr
        ],
        base={"libc6": "2.36-9+deb12u10"},
    )
    packages = {p.name: p for p in section.packages}
    assert set(packages) == {"graphviz", "libgvc6", "libc6"}
    dot = packages["graphviz"]
    assert dot.files == ("/usr/bin/dot",)
    assert dot.used_by == (SystemUse(step="make", program="/usr/bin/make"),)
    assert not dot.in_base and dot.version == "2.42.2-7+deb12u1"
    # libc6 is in the image at another version: present, the difference recorded
    assert packages["libc6"].in_base
    assert packages["libc6"].base_version == "2.36-9+deb12u10"
    assert section.base_packages == "image" and section.observer == "strace 6.1"


def test_the_analysis_its_python_and_the_machines_state_are_not_the_system(
    database: syspkg.Database,
) -> None:
    section = describe(
        database,
        [
            use("/work/data.csv"),
            use("/py/lib/python3.11/os.py"),
            use("/proc/self/maps"),
            use("/tmp/scratch.txt"),
            use("/usr/bin/dot", written=True),  # written: an output, not something it needs
        ],
        base=None,
    )
    assert section.packages == () and section.unowned == ()


def test_a_package_read_only_for_its_configuration_is_not_needed(
    database: syspkg.Database,
) -> None:
    """locales' /etc/locale.alias is read by every Python; the package is not needed for it."""
    section = describe(database, [use("/etc/locale.alias")], base={})
    assert section.packages == ()
    needed = describe(
        database, [use("/etc/locale.alias"), use("/usr/share/locale/locale.alias")], base={}
    )
    assert [p.name for p in needed.packages] == ["locales"]
    assert needed.packages[0].files == ("/etc/locale.alias", "/usr/share/locale/locale.alias")


def test_the_closure_is_taken_against_a_minimal_debian_without_the_images_list(
    database: syspkg.Database,
) -> None:
    section = describe(database, [use("/usr/bin/dot", executed=True)], base=None)
    assert {p.name: p.in_base for p in section.packages} == {
        "graphviz": False,
        "libgvc6": False,  # a dependency only: no files of its own were used
    }  # libc6, a dependency too, is required: every Debian has it, so it is not listed
    assert section.base_packages == "minimal"
    assert {p.name: p.used_by for p in section.packages}["libgvc6"] == ()


def test_unowned_files_are_listed_and_the_generated_ones_not_reported(
    database: syspkg.Database,
) -> None:
    section = describe(
        database,
        [
            use("/opt/tools/bin/helper", executed=True),
            use("/usr/lib/x86_64-linux-gnu/graphviz/config6a"),
            use("/etc/ld.so.cache"),
        ],
        base={},
    )
    assert [u.path for u in section.unowned] == [
        "/etc/ld.so.cache",
        "/opt/tools/bin/helper",
        "/usr/lib/x86_64-linux-gnu/graphviz/config6a",
    ]
    assert [u.path for u in system.reported(section.unowned)] == ["/opt/tools/bin/helper"]


def test_without_a_dpkg_database_files_are_listed_and_the_reason_given() -> None:
    section = system.describe(
        {"make": [use("/usr/bin/dot", executed=True)]},
        skip=[],
        observer="strace 6.1",
        database=None,
        base=None,
    )
    assert section.packages == ()
    assert [u.path for u in section.unowned] == ["/usr/bin/dot"]
    assert section.base_packages == "none"
    assert "no dpkg database" in section.note


# ── vendoring ─────────────────────────────────────────────────────────────────────────────


def package(name: str, version: str, *, in_base: bool = False) -> SystemPackage:
    """A system package of architecture all."""
    return SystemPackage(
        name=name, version=version, architecture="all", files=(), used_by=(), in_base=in_base
    )


def section_of(*packages: SystemPackage) -> SystemEnvironment:
    """A system section holding packages."""
    return SystemEnvironment(
        os_release="debian 12",
        observer="strace 6.1",
        packages=packages,
        unowned=(),
        base_packages="image",
    )


def test_vendoring_copies_the_cached_debs_of_what_the_image_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPSULE_CACHE_DIR", str(tmp_path / "cache"))
    cached = tmp_path / "cache" / "debs"
    cached.mkdir(parents=True)
    (cached / "capsule-fixture_1%3a1.0-1_all.deb").write_bytes(b"a .deb")
    section = section_of(package("capsule-fixture", "1:1.0-1"), package("base", "2", in_base=True))
    vendored, failed = system.vendor(section, tmp_path / "capsule")
    assert failed == ()
    assert [p.deb for p in vendored.packages] == ["capsule-fixture_1%3a1.0-1_all.deb", ""]
    assert vendored.packages[0].deb_version == ""
    copied = tmp_path / "capsule" / "debs" / "capsule-fixture_1%3a1.0-1_all.deb"
    assert copied.read_bytes() == b"a .deb"


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="this machine has no apt-get")
def test_a_package_apt_cannot_find_is_said_not_vendored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPSULE_CACHE_DIR", str(tmp_path / "cache"))
    section = section_of(package("capsule-no-such-package", "1.0-1"))
    vendored, failed = system.vendor(section, tmp_path / "capsule")
    assert failed == ("capsule-no-such-package=1.0-1",)
    assert vendored.packages[0].deb == ""
    assert list((tmp_path / "capsule" / "debs").iterdir()) == []


def test_apts_word_for_a_version_it_no_longer_has_is_understood() -> None:
    said = (
        "E: Can't find a source to download version '1.3.14-1' of 'libgraphite2-3:amd64'\n"
        "E: Can't find a source to download version '1:1.0' of 'libxau6'\n"
    )
    assert {m.group(1) for m in system._VERSION_GONE.finditer(said)} == {
        "libgraphite2-3",
        "libxau6",
    }


def test_a_debs_version_is_read_from_its_name() -> None:
    assert syspkg.deb_version("libxau6_1%3a1.0.9-1_amd64.deb") == "1:1.0.9-1"
    assert syspkg.deb_version("not-a-deb.deb") == ""


# ── findings ──────────────────────────────────────────────────────────────────────────────


def build_context(build: BuildFacts) -> AuditContext:
    """An audit context holding only a build's facts: all the system checks read."""
    return AuditContext(
        root=Path("/nonexistent"),
        plan=None,  # type: ignore[arg-type]  # the system checks read only the run
        files=(),
        code=(),
        run=RunFacts(provenance=None, outputs=(), build=build),  # type: ignore[arg-type]
    )


def findings(section: SystemEnvironment, unvendored: tuple[str, ...] = ()) -> dict[str, str]:
    """check id -> message of the system checks on a build with this section."""
    context = build_context(
        BuildFacts(on_disk=(), system=section, unvendored=unvendored, rerun_python="CPython 3.11.7")
    )
    return {f.check: f.message for check in system_checks.CHECKS.values() for f in check(context)}


def test_the_findings_name_what_the_rerun_will_lack() -> None:
    helper = UnownedFile(
        path="/opt/tools/bin/helper", used_by=(SystemUse("make", "/usr/bin/make"),)
    )
    said = findings(
        dataclasses.replace(section_of(), unowned=(helper,)), unvendored=("graphviz=2.42",)
    )
    assert set(said) == {"system-file-unowned", "system-package-not-vendored"}
    assert "/opt/tools/bin/helper" in said["system-file-unowned"]
    assert "/usr/bin/make" in said["system-file-unowned"]
    assert "graphviz=2.42" in said["system-package-not-vendored"]


def test_a_build_that_could_not_ask_the_images_python_says_so() -> None:
    context = build_context(BuildFacts(on_disk=(), system=section_of(), rerun_python=""))
    (finding,) = system_checks.rerun_python_unchecked(context)
    assert finding.check == "rerun-python-unchecked" and finding.severity == "info"


def test_a_build_without_the_observer_says_so() -> None:
    unobserved = dataclasses.replace(
        section_of(), observer="", base_packages="none", note="strace is not installed"
    )
    assert "strace is not installed" in findings(unobserved)["system-not-observed"]


# ── the real thing: build from the offline base image, verify in Docker ───────────────────


def built(project: str, base_image: str, tmp: Path) -> Path:
    """The capsule of tests/projects/<project>, built from the offline base image."""
    out = tmp / f"{project}.capsule"
    build(BuildOptions(source=PROJECTS / project, output=out, base_image=base_image))
    return out


@pytest.fixture(scope="module")
def pipeline(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capsule of the Makefile pipeline."""
    for program in ("make", "dot"):
        if shutil.which(program) is None:
            pytest.fail(f"{program} is not installed: `.ci/run` installs make and graphviz")
    return built("makefile-pipeline", base_image, tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="module")
def font_figure(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capsule of the figure drawn in Liberation Sans."""
    return built("font-figure", base_image, tmp_path_factory.mktemp("font"))


def read_system(capsule: Path) -> dict[str, Any]:
    """The capsule's system section as plain data."""
    section: dict[str, Any] = json.loads((capsule / "capsule.json").read_text())["system"]
    return section


@pytest.mark.docker
@pytest.mark.slow
def test_the_pipelines_programs_are_resolved_and_vendored(pipeline: Path) -> None:
    section = read_system(pipeline)
    assert section["observer"].startswith("strace")
    assert section["base_packages"] == "image"
    packages = {p["name"]: p for p in section["packages"]}
    programs = {
        name: {u["program"] for u in packages[name]["used_by"]} for name in ("make", "graphviz")
    }
    assert "/usr/bin/dot" in packages["graphviz"]["files"]
    assert programs["graphviz"] == {"/usr/bin/dot"}
    assert programs["make"] == {"/usr/bin/make"}
    # tar and coreutils are in every Debian: used, not vendored
    assert packages["tar"]["in_base"] and packages["tar"]["deb"] == ""
    for name in ("make", "graphviz", "libgvc6"):
        deb = packages[name]["deb"]
        assert deb.startswith(f"{name}_") and (pipeline / "debs" / deb).is_file()
    listed = {
        e["path"] for e in json.loads((pipeline / "capsule.json").read_text())["capsule_files"]
    }
    assert {f"debs/{p['deb']}" for p in packages.values() if p["deb"]} == {
        rel for rel in listed if rel.startswith("debs/")
    }
    assert "COPY debs/ /capsule/debs/" in (pipeline / "Dockerfile").read_text()
    # the methods text names the programs, not the libraries under them
    methods = (pipeline / "methods.md").read_text()
    sentence = methods[methods.index("Outside Python") :].split("\n", 1)[0]
    assert "graphviz 2." in sentence and "make 4." in sentence
    assert "libgvc6" not in sentence and "other packages they need" in sentence


def verified(capsule: Path, base_image: str, docker_engine: Any, report: Path) -> None:
    """Verify the capsule in Docker: reproduced with no network, every output identical."""
    result = verify(VerifyOptions(capsule=capsule, base_image=base_image, report_dir=report))
    verification = result.verification
    try:
        assert verification.outcome == "reproduced", verification.rerun.log_tail
        assert verification.rerun.network == "none"
        assert verification.outputs
        assert all(check.status == "identical" for check in verification.outputs)
    finally:
        with contextlib.suppress(Exception):
            docker_engine.images.remove(verification.image_id, force=True)


@pytest.mark.docker
@pytest.mark.slow
def test_the_pipeline_is_verified_in_docker_with_no_network(
    pipeline: Path, base_image: str, docker_engine: Any, tmp_path: Path
) -> None:
    verified(pipeline, base_image, docker_engine, tmp_path / "v")


@pytest.mark.docker
@pytest.mark.slow
def test_the_figures_font_is_resolved_to_its_package(font_figure: Path) -> None:
    section = read_system(font_figure)
    opened = [f for p in section["packages"] for f in p["files"]]
    opened += [u["path"] for u in section["unowned"]]
    fonts = sorted(path for path in opened if path.lower().endswith(system.FONT_SUFFIXES))
    used = (font_figure / "expected/figures/font.txt").read_text().strip()
    assert used in fonts
    owner = next(p for p in section["packages"] if used in p["files"])
    assert owner["name"].startswith("fonts-liberation")
    assert owner["deb"] and not owner["in_base"]
    # matplotlib's font list was made before the observed run: no other font counts as used
    assert [f for f in fonts if "LiberationSans" not in f and "DejaVu" not in f] == []


@pytest.mark.docker
@pytest.mark.slow
def test_the_figure_is_verified_in_docker_with_no_network(
    font_figure: Path, base_image: str, docker_engine: Any, tmp_path: Path
) -> None:
    verified(font_figure, base_image, docker_engine, tmp_path / "v")


# ── hostile capsules ──────────────────────────────────────────────────────────────────────


def tampered(capsule: Path, tmp_path: Path, change: Any) -> Path:
    """A copy of the capsule whose capsule.json `change` (a function of the data) edited."""
    copy = tmp_path / "copy.capsule"
    shutil.copytree(capsule, copy)
    data = json.loads((copy / "capsule.json").read_text())
    change(data)
    (copy / "capsule.json").write_text(json.dumps(data))
    return copy


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize(
    "deb",
    ["../../etc/passwd", "graphviz.deb; rm -rf /", "x_1_all.deb\nRUN curl", "Graphviz_1_all.deb"],
)
def test_a_deb_name_that_is_not_a_package_files_is_refused(
    pipeline: Path, tmp_path: Path, deb: str
) -> None:
    def rename(data: dict[str, Any]) -> None:
        first = next(p for p in data["system"]["packages"] if p["deb"])
        first["deb"] = deb

    with pytest.raises(ManifestError, match=r"not one|disagree"):
        check_capsule(tampered(pipeline, tmp_path, rename))


@pytest.mark.docker
@pytest.mark.slow
def test_a_deb_the_system_section_does_not_name_is_refused(pipeline: Path, tmp_path: Path) -> None:
    """A .deb slipped into debs/ and listed with its hash would still be installed: refused."""

    def unname(data: dict[str, Any]) -> None:
        first = next(p for p in data["system"]["packages"] if p["deb"])
        first["deb"] = ""

    with pytest.raises(ManifestError, match="disagree about debs/"):
        check_capsule(tampered(pipeline, tmp_path, unname))


@pytest.mark.docker
@pytest.mark.slow
def test_a_changed_deb_is_refused_before_anything_runs(pipeline: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.capsule"
    shutil.copytree(pipeline, copy)
    deb = sorted((copy / "debs").glob("make_*.deb"))[0]
    deb.write_bytes(deb.read_bytes()[:-1] + b"\0")
    with pytest.raises(ManifestError, match=f"debs/{deb.name} does not match"):
        check_capsule(copy)

"""The dpkg database: which package owns a file, what it is, and what it needs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from capsule import syspkg

STATUS = """\
Package: graphviz
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.42.2-7+b3
Depends: libc6 (>= 2.34), libgvc6 (>= 2.42), fonts-liberation | ttf-font-virtual
Description: rich set of graph drawing tools
 continuation: lines are not fields

Package: libgvc6
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 2.42.2-7+b3
Pre-Depends: libc6:amd64
Depends: graphviz

Package: fonts-dejavu-core
Status: install ok installed
Priority: optional
Architecture: all
Version: 2.37-6
Provides: ttf-font-virtual

Package: libc6
Status: install ok installed
Priority: required
Architecture: amd64
Version: 2.36-9+deb12u10

Package: removed-one
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0
"""


@pytest.fixture
def database(tmp_path: Path) -> syspkg.Database:
    """A small dpkg database in tmp_path."""
    (tmp_path / "info").mkdir()
    (tmp_path / "status").write_text(STATUS)
    (tmp_path / "info" / "graphviz.list").write_text("/.\n/usr\n/usr/bin\n/usr/bin/dot\n")
    (tmp_path / "info" / "libc6:amd64.list").write_text("/lib/x86_64-linux-gnu/libc.so.6\n")
    loaded = syspkg.load(tmp_path)
    assert loaded is not None
    return loaded


def test_the_status_file_gives_installed_packages_only(database: syspkg.Database) -> None:
    assert set(database.packages) == {"graphviz", "libgvc6", "fonts-dejavu-core", "libc6"}
    graphviz = database.packages["graphviz"]
    assert graphviz.version == "2.42.2-7+b3" and graphviz.architecture == "amd64"
    assert graphviz.depends == (("libc6",), ("libgvc6",), ("fonts-liberation", "ttf-font-virtual"))
    assert database.packages["libgvc6"].depends == (("libc6",), ("graphviz",))
    assert graphviz.spec == "graphviz:amd64=2.42.2-7+b3"


def test_owners_know_the_merged_usr(database: syspkg.Database) -> None:
    found = database.owners(["/usr/bin/dot", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/opt/x"])
    assert found == {"/usr/bin/dot": "graphviz", "/usr/lib/x86_64-linux-gnu/libc.so.6": "libc6"}


def test_the_closure_follows_alternatives_virtual_packages_and_cycles(
    database: syspkg.Database,
) -> None:
    names = [p.name for p in database.closure(["graphviz"])]
    # fonts-liberation is not installed: the virtual package it stands beside is provided
    assert names == ["fonts-dejavu-core", "graphviz", "libc6", "libgvc6"]


def test_what_a_base_lacks(database: syspkg.Database) -> None:
    packages = database.closure(["graphviz"])
    minimal = [p.name for p in syspkg.missing_from(packages, None)]
    assert minimal == ["fonts-dejavu-core", "graphviz", "libgvc6"]  # libc6 is required
    image = {"libc6": "2.36-9+deb12u10", "graphviz": "2.42.2-7", "libgvc6": "2.42.2-7+b3"}
    # graphviz is there at another version: present, the caller records the difference
    assert [p.name for p in syspkg.missing_from(packages, image)] == ["fonts-dejavu-core"]


def test_no_database_is_none(tmp_path: Path) -> None:
    assert syspkg.load(tmp_path / "nothing") is None


def test_deb_names_encode_the_epoch() -> None:
    assert syspkg.deb_name("fonts-liberation", "1:1.07.4-11", "all") == (
        "fonts-liberation_1%3a1.07.4-11_all.deb"
    )


@pytest.mark.skipif(syspkg.load() is None, reason="this machine has no dpkg database")
def test_this_machines_shell_has_an_owner() -> None:
    database = syspkg.load()
    assert database is not None
    shell = os.path.realpath("/bin/sh")
    owner = database.owners([shell])[shell]
    assert owner in database.packages and database.packages[owner].version

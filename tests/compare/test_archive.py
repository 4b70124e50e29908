"""The archive comparator: members by name, content by SHA-256, volatile metadata named."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from capsule.compare import Comparison, Tolerance, archive, compare

FILES = {"results/scores.csv": b"model,accuracy\nsvm,0.8123\n", "README.md": b"# Results\n"}


def make_tar(
    file: Path,
    files: dict[str, bytes] = FILES,
    *,
    mtime: int = 1_000_000_000,
    uid: int = 0,
    mode: int = 0o644,
    gzip_mtime: int | None = None,
    gzip_name: str = "",
) -> Path:
    """A tar (gzipped when gzip_mtime is given) made with tarfile, metadata chosen."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tarred:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.uid, info.uname, info.mode = (
                len(content),
                mtime,
                uid,
                f"user{uid}",
                mode,
            )
            tarred.addfile(info, io.BytesIO(content))
    data = buffer.getvalue()
    if gzip_mtime is not None:
        out = io.BytesIO()
        with gzip.GzipFile(gzip_name, mode="wb", fileobj=out, mtime=gzip_mtime) as packed:
            packed.write(data)
        data = out.getvalue()
    file.write_bytes(data)
    return file


def make_zip(file: Path, files: dict[str, bytes] = FILES, *, year: int = 2020) -> Path:
    """A zip made with zipfile, member dates chosen."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, content in files.items():
            zipped.writestr(zipfile.ZipInfo(name, date_time=(year, 1, 1, 0, 0, 0)), content)
    return file


def explain(old: Path, new: Path, path: str) -> Comparison:
    """Run the archive comparator itself."""
    return archive.compare(old, new, path=path, tolerance=Tolerance(), artifacts_dir=None)


def test_tar_members_differing_in_mtime_and_owner_are_metadata_only(tmp_path: Path) -> None:
    old = make_tar(tmp_path / "a.tar")
    new = make_tar(tmp_path / "b.tar", mtime=1_700_000_000, uid=1000)
    result = compare(old, new, path="out/results.tar")
    assert result.verdict == "metadata-only"
    assert result.comparator == "archive"
    assert result.volatile == (archive.MEMBER_MTIMES, archive.MEMBER_OWNERSHIP)
    assert (
        result.reason
        == "same 2 members and contents; only member mtimes and member ownership differ"
    )


def test_tar_gz_header_mtime_and_name_are_named(tmp_path: Path) -> None:
    old = make_tar(tmp_path / "a.tar.gz", gzip_mtime=1, gzip_name="a.tar")
    new = make_tar(tmp_path / "b.tar.gz", gzip_mtime=2, gzip_name="b.tar")
    result = explain(old, new, "results.tar.gz")
    assert result.verdict == "metadata-only"
    assert result.volatile == (archive.GZIP_MTIME, archive.GZIP_NAME)


def test_member_order_is_named(tmp_path: Path) -> None:
    old = make_tar(tmp_path / "a.tar")
    new = make_tar(tmp_path / "b.tar", dict(reversed(FILES.items())))
    result = explain(old, new, "x.tar")
    assert result.verdict == "metadata-only"
    assert result.volatile == (archive.MEMBER_ORDER,)


def test_changed_content_names_the_member_and_sizes(tmp_path: Path) -> None:
    old = make_tar(tmp_path / "a.tgz", gzip_mtime=0)
    changed = {**FILES, "results/scores.csv": b"model,accuracy\nsvm,0.81234\n"}
    new = make_tar(tmp_path / "b.tgz", changed, gzip_mtime=5)
    result = explain(old, new, "x.tgz")
    assert result.verdict == "differs"
    assert (
        result.reason
        == "1 difference in members: results/scores.csv (26 → 27 bytes) (also gzip mtime)"
    )


def test_same_size_content_change_and_added_member(tmp_path: Path) -> None:
    old = make_tar(tmp_path / "a.tar")
    changed = {**FILES, "README.md": b"# Rasults\n", "extra.txt": b"x"}
    result = explain(old, make_tar(tmp_path / "b.tar", changed), "x.tar")
    assert result.verdict == "differs"
    assert result.details == (
        "only in actual: extra.txt",
        "README.md (content differs, same size 10 bytes)",
    )


def test_mode_change_is_a_difference(tmp_path: Path) -> None:
    old = make_tar(tmp_path / "a.tar")
    new = make_tar(tmp_path / "b.tar", mode=0o755)
    result = explain(old, new, "x.tar")
    assert result.verdict == "differs"
    assert "README.md (mode 0644 → 0755)" in result.details


def test_tar_made_by_gnu_tar_at_different_times(tmp_path: Path) -> None:
    if shutil.which("tar") is None:
        pytest.skip("no tar program")
    source = tmp_path / "src"
    (source / "results").mkdir(parents=True)
    for name, content in FILES.items():
        (source / name).write_bytes(content)
    archives = []
    for stamp in (1_000_000_000, 1_200_000_000):
        for name in FILES:
            os.utime(source / name, (stamp, stamp))
        target = tmp_path / f"{stamp}.tar"
        subprocess.run(
            ["tar", "-cf", str(target), "-C", str(source), "--sort=name", *sorted(FILES)],
            check=True,
        )
        archives.append(target)
    result = explain(archives[0], archives[1], "x.tar")
    assert result.verdict == "metadata-only"
    assert result.volatile == (archive.MEMBER_MTIMES,)


def test_zip_dates_are_metadata_only_and_content_is_not(tmp_path: Path) -> None:
    old = make_zip(tmp_path / "a.zip")
    result = explain(old, make_zip(tmp_path / "b.zip", year=2024), "x.zip")
    assert result.verdict == "metadata-only"
    assert result.volatile == (archive.MEMBER_MTIMES,)
    changed = make_zip(tmp_path / "c.zip", {**FILES, "README.md": b"# Changed!\n"})
    result = explain(old, changed, "x.zip")
    assert result.verdict == "differs"
    assert result.reason == "1 difference in members: README.md (10 → 11 bytes)"


def test_zip_by_the_zip_program_with_other_file_times(tmp_path: Path) -> None:
    if shutil.which("zip") is None:
        pytest.skip("no zip program")
    source = tmp_path / "src"
    source.mkdir()
    (source / "table.csv").write_bytes(b"a,b\n1,2\n")
    archives = []
    for stamp in (1_000_000_000, 1_200_000_000):
        os.utime(source / "table.csv", (stamp, stamp))
        target = tmp_path / f"{stamp}.zip"
        # Without -X, zip adds extra fields: UT (times) and ux (owner).
        subprocess.run(["zip", "-q", str(target), "table.csv"], cwd=source, check=True)
        archives.append(target)
    result = explain(archives[0], archives[1], "x.zip")
    assert result.verdict == "metadata-only"
    assert result.volatile == (archive.MEMBER_MTIMES,)


def test_gz_header_and_compression_level(tmp_path: Path) -> None:
    content = b"step,loss\n" + b"".join(b"%d,%f\n" % (i, 1 / (i + 1)) for i in range(500))
    a, b, c, d = (tmp_path / f"{n}.csv.gz" for n in "abcd")
    a.write_bytes(gzip.compress(content, mtime=1))
    b.write_bytes(gzip.compress(content, mtime=2))
    c.write_bytes(gzip.compress(content, compresslevel=1, mtime=1))
    d.write_bytes(gzip.compress(content + b"500,0.001996\n", mtime=1))
    dated = compare(a, b, path="log.csv.gz")
    assert dated.verdict == "metadata-only"
    assert dated.volatile == (archive.GZIP_MTIME,)
    level = compare(a, c, path="log.csv.gz")
    assert level.verdict == "metadata-only"
    assert level.volatile == (archive.ENCODING_ONLY,)
    changed = compare(a, d, path="log.csv.gz")
    assert changed.verdict == "differs"
    assert changed.reason == "1 difference in members: (content) (6400 → 6413 bytes)"


def test_truncated_tar_gz_falls_back_to_binary(tmp_path: Path) -> None:
    old = make_tar(tmp_path / "a.tar.gz", gzip_mtime=0)
    new = tmp_path / "b.tar.gz"
    new.write_bytes(old.read_bytes()[:60])
    result = explain(old, new, "x.tar.gz")
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not a readable tar file (")
    assert result.comparator == "binary"


def test_zip_with_a_corrupt_member_falls_back_to_binary(tmp_path: Path) -> None:
    old = make_zip(tmp_path / "a.zip", {"data.txt": b"A" * 1000})
    data = bytearray(old.read_bytes())
    data[40] ^= 0xFF  # inside the compressed data: the CRC check fails
    new = tmp_path / "b.zip"
    new.write_bytes(bytes(data))
    result = explain(old, new, "x.zip")
    assert result.verdict == "differs"
    assert result.reason.startswith("actual is not a readable zip file (")


def test_not_gzip_at_all(tmp_path: Path) -> None:
    (tmp_path / "a.gz").write_bytes(gzip.compress(b"x"))
    (tmp_path / "b.gz").write_bytes(b"plain")
    result = explain(tmp_path / "a.gz", tmp_path / "b.gz", "x.gz")
    assert result.reason.startswith(
        "actual is not a readable gzip file (ValueError: no gzip header)"
    )

"""`capsule verify`: refuse what cannot be trusted, rerun, compare, and say what differs."""

from __future__ import annotations

import dataclasses
import json
import shutil
import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from capsule import manifest
from capsule.backends import docker as capsule_docker
from capsule.build import BuildOptions, build
from capsule.cli import main
from capsule.hashing import sha256_bytes
from capsule.model import FileEntry, Manifest, OutputEntry
from capsule.platforms import KNOWN_PLATFORMS, same_architecture

from conftest import BuiltExample, MakeProject

# A small analysis, standard library only: a table and a text file from seeded data.
SMALL = {
    "data/values.csv": "x,y\n1,2.5\n2,3.5\n3,4.25\n",
    "01_table.py": """
        import csv, pathlib
        rows = list(csv.DictReader(open("data/values.csv")))
        pathlib.Path("out").mkdir(exist_ok=True)
        with open("out/table.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["x", "y2"])
            for r in rows:
                w.writerow([r["x"], float(r["y"]) * 2])
        pathlib.Path("out/note.txt").write_text("three rows\\n")
    """,
}


@pytest.fixture
def small_capsule(make_project: MakeProject, tmp_path: Path) -> Path:
    """The SMALL analysis built into a capsule."""
    out = tmp_path / "small.capsule"
    build(BuildOptions(source=make_project(SMALL), output=out))
    return out


def rewrite_capsule(capsule: Path, changes: Mapping[str, bytes]) -> None:
    """Change files of a capsule and its manifest consistently, as its author could have."""
    for rel, data in changes.items():
        (capsule / rel).parent.mkdir(parents=True, exist_ok=True)
        (capsule / rel).write_bytes(data)
    old = manifest.read(capsule)

    def fix(prefix: str, entries: tuple[FileEntry, ...] | tuple[OutputEntry, ...]) -> tuple:  # type: ignore[type-arg]
        fixed = []
        for entry in entries:
            data = changes.get(prefix + entry.path)
            if data is not None:
                entry = dataclasses.replace(entry, sha256=sha256_bytes(data), size=len(data))
            fixed.append(entry)
        return tuple(fixed)

    new: Manifest = dataclasses.replace(
        old,
        files=fix("work/", old.files),
        outputs=fix("expected/", old.outputs),
        capsule_files=fix("", old.capsule_files),
    )
    manifest.write(new, capsule)


def verify_json(capsule: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Run `capsule verify --json` in-process; return the exit code and verification.json."""
    report = capsule.parent / f"{capsule.name}.report"
    code = main(["verify", str(capsule), "--report-dir", str(report), *args])
    data = (
        json.loads((report / "verification.json").read_text())
        if code in (0, 1, 2) and (report / "verification.json").exists()
        else {}
    )
    return code, data


# ── refusing what cannot be trusted ──────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "rel",
    [
        "work/data/values.csv",
        "work/01_table.py",
        "expected/out/table.csv",
        "requirements.lock",
        "run.sh",
        "Dockerfile",
        "runtime/sitecustomize.py",
    ],
)
def test_a_flipped_byte_anywhere_stops_verification(
    small_capsule: Path, rel: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = small_capsule / rel
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code = main(["verify", str(small_capsule), "--backend", "local"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{rel} does not match its SHA-256" in err
    assert "nothing was run" in err


def test_truncated_and_extra_files_are_named(
    small_capsule: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (small_capsule / "expected/out/note.txt").unlink()
    (small_capsule / "work/evil.py").write_text("import os\n")
    (small_capsule / "work/link").symlink_to("/etc/passwd")
    assert main(["verify", str(small_capsule), "--backend", "local"]) == 2
    err = capsys.readouterr().err
    assert "expected/out/note.txt is listed in capsule.json but missing" in err
    assert "work/evil.py is not listed in capsule.json" in err
    assert "work/link is a symbolic link" in err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 99}, "upgrade capsule"),
        (
            {"files": [{"path": "../../etc/passwd", "sha256": "0", "size": 1, "role": "data"}]},
            "not inside the capsule",
        ),
        ({"platform": "linux/amd64\nRUN touch /pwned"}, "does not know"),
        ({"platform": "plan9/amd64"}, "does not know"),
    ],
)
def test_bad_manifests_are_refused(
    small_capsule: Path,
    change: dict[str, object],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = json.loads((small_capsule / "capsule.json").read_text())
    data.update(change)
    (small_capsule / "capsule.json").write_text(json.dumps(data))
    assert main(["verify", str(small_capsule), "--backend", "local"]) == 2
    assert message in capsys.readouterr().err


def test_report_dir_inside_the_capsule_is_refused(
    small_capsule: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "verify",
            str(small_capsule),
            "--backend",
            "local",
            "--report-dir",
            str(small_capsule / "report"),
        ]
    )
    assert code == 2
    assert "inside the capsule" in capsys.readouterr().err
    assert not (small_capsule / "report").exists()


def test_no_engine_and_no_backend_says_how(
    small_capsule: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert main(["verify", str(small_capsule)]) == 3
    err = capsys.readouterr().err
    assert "No Docker engine answers" in err
    assert "--backend local" in err


# ── the local backend ────────────────────────────────────────────────────────────────────


def test_local_backend_reproduces(small_capsule: Path) -> None:
    code, data = verify_json(small_capsule, "--backend", "local")
    assert code == 0
    assert data["outcome"] == "reproduced" and data["backend"] == "local"
    assert {c["path"]: c["status"] for c in data["outputs"]} == {
        "out/table.csv": "identical",
        "out/note.txt": "identical",
    }
    assert data["capsule_id"] == sha256_bytes((small_capsule / "capsule.json").read_bytes())
    assert (small_capsule.parent / "small.capsule.report/verification.html").is_file()


def test_an_output_that_no_longer_comes_from_the_code(small_capsule: Path) -> None:
    table = (small_capsule / "expected/out/table.csv").read_text()
    rewrite_capsule(small_capsule, {"expected/out/table.csv": table.replace("7.0", "7.5").encode()})
    code, data = verify_json(small_capsule, "--backend", "local")
    assert code == 1
    checks = {c["path"]: c for c in data["outputs"]}
    assert checks["out/table.csv"]["status"] == "differs"
    reason = checks["out/table.csv"]["reason"]
    assert "row 2, column y2: 7.5 → 7.0" in reason and "max abs diff 0.5" in reason
    assert checks["out/note.txt"]["status"] == "identical"
    # a tolerance is a looser tier only when the reviewer accepts it
    code, data = verify_json(small_capsule, "--backend", "local", "--atol", "0.6")
    assert code == 1 and data["outputs"][0]["status"] == "within-tolerance"
    code, data = verify_json(
        small_capsule, "--backend", "local", "--atol", "0.6", "--accept", "tolerance"
    )
    assert code == 0 and data["accept"] == "tolerance"


def test_missing_and_unexpected_outputs(small_capsule: Path) -> None:
    script = (small_capsule / "work/01_table.py").read_text()
    script = script.replace('pathlib.Path("out/note.txt")', 'pathlib.Path("out/other.txt")')
    rewrite_capsule(small_capsule, {"work/01_table.py": script.encode()})
    code, data = verify_json(small_capsule, "--backend", "local")
    assert code == 1
    statuses = {c["path"]: c["status"] for c in data["outputs"]}
    assert statuses == {
        "out/note.txt": "missing",
        "out/other.txt": "unexpected",
        "out/table.csv": "identical",
    }


def test_an_analysis_that_writes_the_time_does_not_verify(
    make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project(
        {
            "01_stamp.py": "import time, pathlib\n"
            "pathlib.Path('stamp.txt').write_text(repr(time.time_ns()))\n"
        }
    )
    out = tmp_path / "stamp.capsule"
    build(BuildOptions(source=root, output=out))
    code, data = verify_json(out, "--backend", "local")
    assert code == 1
    assert data["outputs"][0]["path"] == "stamp.txt"
    assert data["outputs"][0]["status"] == "differs"


def test_a_failing_rerun_is_reported(small_capsule: Path) -> None:
    rewrite_capsule(small_capsule, {"work/data/values.csv": b"x,y\n1,oops\n"})
    code, data = verify_json(small_capsule, "--backend", "local")
    assert code == 1
    assert "failed with exit code" in data["rerun"]["failure"]
    assert any("oops" in line for line in data["rerun"]["log_tail"])


def test_local_time_limit(small_capsule: Path) -> None:
    rewrite_capsule(small_capsule, {"work/01_table.py": b"import time\ntime.sleep(60)\n"})
    code, data = verify_json(small_capsule, "--backend", "local", "--timeout", "3")
    assert code == 2
    assert data["outcome"] == "failed" and data["rerun"]["timed_out"]
    assert "time limit of 3 s" in data["rerun"]["failure"]


# ── the docker backend ───────────────────────────────────────────────────────────────────


@pytest.mark.docker
def test_docker_reproduces_the_small_capsule(small_capsule: Path, base_image: str) -> None:
    code, data = verify_json(small_capsule, "--base-image", base_image)
    assert code == 0, data
    assert data["backend"] == "docker" and data["image"] == base_image
    assert data["image_id"].startswith("sha256:")


@pytest.mark.docker
def test_docker_builds_the_dockerfile_it_renders_not_the_capsules(
    small_capsule: Path, base_image: str
) -> None:
    # A capsule whose author rewrote its Dockerfile and its hash consistently: verify never
    # builds that file, only the one it renders from capsule.json (DESIGN.md, decision 14).
    rewrite_capsule(small_capsule, {"Dockerfile": b'FROM scratch\nCMD ["/bin/false"]\n'})
    code, data = verify_json(small_capsule, "--base-image", base_image)
    assert code == 0, data
    assert data["platform"] == data["rerun_platform"] != "" and data["emulated"] is False


@pytest.mark.docker
def test_docker_says_when_the_rerun_is_emulated(
    small_capsule: Path, base_image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = capsule_docker.engine_platform()
    other = next(p for p in sorted(KNOWN_PLATFORMS) if not same_architecture(p, engine))
    old = manifest.read(small_capsule)
    manifest.write(dataclasses.replace(old, platform=other), small_capsule)
    code, data = verify_json(small_capsule, "--base-image", base_image)
    err = " ".join(capsys.readouterr().err.split())
    assert capsule_docker.EMULATED.format(platform=other, engine=engine) in err
    # Whether the build then runs depends on the engine (an emulator, its builder's platform
    # checks); when it got as far as a verdict, the verdict says it too.
    if data:
        assert (data["platform"], data["rerun_platform"], data["emulated"]) == (
            other,
            engine,
            True,
        )
        assert code in (0, 1, 2)


@pytest.mark.docker
def test_docker_missing_base_image(
    small_capsule: Path, docker_engine: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["verify", str(small_capsule), "--base-image", "capsule-test/no-such-image:1"])
    err = capsys.readouterr().err
    assert code == 3
    assert "capsule-test/no-such-image:1" in err
    assert "--base-image" in err and "docker load" in err


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A TCP server on the host's loopback that answers every connection."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.sendall(b"hello\n")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    server.close()


@pytest.mark.docker
def test_docker_sandbox_has_no_network(
    make_project: MakeProject, tmp_path: Path, base_image: str, host_listener: int
) -> None:
    """A step that reaches a server at build time cannot reach anything in the sandbox."""
    root = make_project(
        {
            "01_fetch.py": f"""
            import socket, pathlib
            try:
                with socket.create_connection(("127.0.0.1", {host_listener}), timeout=3) as s:
                    answer = s.recv(100).decode()
            except OSError as error:
                answer = type(error).__name__
            pathlib.Path("fetched.txt").write_text(answer)
        """
        }
    )
    out = tmp_path / "fetch.capsule"
    build(BuildOptions(source=root, output=out))
    assert (out / "expected/fetched.txt").read_text() == "hello\n"
    code, data = verify_json(out, "--base-image", base_image)
    assert code == 1
    assert data["outputs"][0]["path"] == "fetched.txt"
    assert data["outputs"][0]["status"] == "differs"
    assert "ConnectionRefusedError" in "\n".join(data["outputs"][0]["details"])


@pytest.mark.docker
def test_docker_contains_a_fork_bomb(small_capsule: Path, base_image: str) -> None:
    """A stranger's capsule that forks without bound is stopped, and said to be."""
    bomb = (
        b"import os, time\n"
        b"while True:\n"
        b"    try:\n"
        b"        os.fork()\n"
        b"    except OSError:\n"
        b"        time.sleep(0.01)\n"
    )
    rewrite_capsule(small_capsule, {"work/01_table.py": bomb})
    code, data = verify_json(
        small_capsule, "--base-image", base_image, "--pids", "64", "--timeout", "15"
    )
    assert code == 2
    assert data["outcome"] == "failed"
    assert "time limit of 15 s" in data["rerun"]["failure"]


@pytest.mark.docker
@pytest.mark.slow
def test_docker_verifies_the_example_and_explains_a_changed_png(
    example_capsule: BuiltExample, base_image: str, tmp_path: Path
) -> None:
    capsule = tmp_path / "paper_figures.capsule"
    shutil.copytree(example_capsule.path, capsule)
    code, data = verify_json(capsule, "--base-image", base_image)
    assert code == 0, data["rerun"]
    assert data["outcome"] == "reproduced"
    assert len(data["outputs"]) == len(manifest.read(capsule).outputs) == 7

    # The author's figure no longer comes from the code: a few pixels painted over.
    from PIL import Image

    rel = "expected/figures/fig2_confusion_matrix.png"
    image = Image.open(capsule / rel).convert("RGBA")
    for x in range(10, 20):
        for y in range(10, 15):
            image.putpixel((x, y), (255, 0, 255, 255))
    image.save(tmp_path / "changed.png")
    rewrite_capsule(capsule, {rel: (tmp_path / "changed.png").read_bytes()})
    code, data = verify_json(capsule, "--base-image", base_image)
    assert code == 1
    check = next(c for c in data["outputs"] if c["path"] == "figures/fig2_confusion_matrix.png")
    assert check["status"] == "differs"
    assert "50 of " in check["reason"] and "pixels differ" in check["reason"]
    assert check["artifacts"]
    report = capsule.parent / f"{capsule.name}.report"
    assert (report / check["artifacts"][0]).is_file()


def test_keep_keeps_the_rerun_beside_the_report(small_capsule: Path) -> None:
    code, _data = verify_json(small_capsule, "--backend", "local", "--keep")
    assert code == 0
    kept = small_capsule.parent / f"{small_capsule.name}.report" / "rerun"
    assert (kept / "outputs/out/table.csv").read_bytes() == (
        small_capsule / "expected/out/table.csv"
    ).read_bytes()
    assert sorted(p.name for p in (kept / "logs").iterdir())  # the steps' logs
    assert not any(p.name == "rerun" for p in small_capsule.iterdir())  # never in the capsule

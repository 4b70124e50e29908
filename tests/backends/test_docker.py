"""Tests of capsule/backends/docker.py: the engine, offline builds, the sandbox of a capsule run.

The images are tiny layers on the offline base image (fixtures_docker.py), built once per module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from capsule.backends import docker as capsule_docker
from capsule.backends.docker import ContainerResult
from capsule.errors import EXIT_ENVIRONMENT, CapsuleError, EnvironmentProblem
from capsule.model import RunLimits

from fixtures_docker import DEFAULT_BASE_IMAGE

NO_SUCH_IMAGE = "capsule-test-no-such-image:never"
TESTS = Path(__file__).resolve().parent.parent  # where fixtures_docker.py is

# Written into the test image; run as its CMD, it reports what the sandbox allows into /out.
PROBE = r"""
import json, os, pathlib, socket, stat, subprocess, sys

out = pathlib.Path(sys.argv[1])
facts = {"uid": os.getuid(), "gid": os.getgid(), "home": os.environ.get("HOME")}
status = pathlib.Path("/proc/self/status").read_text().splitlines()
fields = dict(line.split(":\t", 1) for line in status if ":\t" in line)
facts["cap_eff"] = fields["CapEff"].strip()
facts["no_new_privs"] = fields["NoNewPrivs"].strip()

def attempt(action):
    try:
        action()
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    return "ok"

def write_root():
    pathlib.Path("/probe-was-here").write_text("x")

def tmp_exec():
    script = pathlib.Path("/tmp/probe.sh")
    script.write_text("#!/bin/sh\necho executed\n")
    script.chmod(0o755)
    result = subprocess.run([str(script)], capture_output=True, text=True, check=True)
    assert result.stdout == "executed\n"

def connect(host, port):
    return lambda: socket.create_connection((host, port), timeout=3).close()

facts["write_root"] = attempt(write_root)
facts["tmp_exec"] = attempt(tmp_exec)
facts["net_internet"] = attempt(connect("1.1.1.1", 53))
facts["net_docker_host"] = attempt(connect("172.17.0.1", 2375))
facts["dns"] = attempt(lambda: socket.getaddrinfo("example.invalid", 80))  # RFC 2606
facts["interfaces"] = sorted(os.listdir("/sys/class/net"))
(out / "facts.json").write_text(json.dumps(facts, indent=2))
(out / "sub").mkdir()
(out / "sub" / "result.txt").write_text("hello from the capsule\n")
print("probe done")
print("a line on stderr", file=sys.stderr)
"""

FORK = r"""
import os, sys, time
children = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as error:
    print(f"fork failed after {children} children: {error}", flush=True)
    sys.exit(3)
print(f"forked {children} children")
"""

EAT_MEMORY = "blocks = []\nwhile True:\n    blocks.append(bytearray(10**6))\n"

PROBE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY probe.py fork.py /app/
CMD ["python3", "/app/probe.py", "/out"]
"""

# Only for the no-engine tests: where no engine can answer.
DEAD_DOCKER_HOST = "unix:///nonexistent/capsule-test/docker.sock"


# ── helpers ───────────────────────────────────────────────────────────────────────────────


def write_context(root: Path, files: dict[str, str]) -> Path:
    """A build context made of {relative path: text}."""
    root.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        (root / relative).write_text(text, encoding="utf-8")
    return root


def capsule_containers(client: Any) -> set[str]:
    """The ids of the containers capsule started that the engine still has."""
    found = client.containers.list(all=True, filters={"label": capsule_docker.RUN_LABEL})
    return {container.id for container in found}


@pytest.fixture(scope="module")
def leftover_containers(docker_engine: Any) -> Callable[[], set[str]]:
    """The containers capsule started in this module's tests and did not remove.

    Those the engine had before (a run killed with its machine, say) are not the tests'.
    """
    before = capsule_containers(docker_engine)
    return lambda: capsule_containers(docker_engine) - before


@pytest.fixture(scope="module")
def probe_image(image_factory: Callable[[dict[str, str]], str]) -> str:
    """The test image: base image + probe.py (its CMD) + fork.py."""
    return image_factory({"Dockerfile": PROBE_DOCKERFILE, "probe.py": PROBE, "fork.py": FORK})


Runner = Callable[..., tuple[ContainerResult, list[str]]]


@pytest.fixture
def run(
    probe_image: str, tmp_path: Path, leftover_containers: Callable[[], set[str]]
) -> Iterator[Runner]:
    """Run the probe image (or `command` in it); returns the result and the lines said."""

    def runner(
        command: Sequence[str] | None = None, limits: RunLimits | None = None
    ) -> tuple[ContainerResult, list[str]]:
        said: list[str] = []
        result = capsule_docker.run_container(
            probe_image,
            out_dir=tmp_path / "out",
            command=command,
            limits=limits or RunLimits(),
            say=said.append,
        )
        return result, said

    yield runner
    assert leftover_containers() == set()


@pytest.fixture(scope="module")
def probe_run(
    leftover_containers: Callable[[], set[str]],
    probe_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ContainerResult, list[str], Path]:
    """One run of the probe image's CMD, shared by the sandbox tests below."""
    out = tmp_path_factory.mktemp("probe") / "out"
    said: list[str] = []
    result = capsule_docker.run_container(probe_image, out_dir=out, say=said.append)
    return result, said, out


@pytest.fixture(scope="module")
def facts(probe_run: tuple[ContainerResult, list[str], Path]) -> dict[str, Any]:
    """What the probe found out about its sandbox."""
    result, _, out = probe_run
    assert result.exit_code == 0, result.logs
    loaded: dict[str, Any] = json.loads((out / "facts.json").read_text())
    return loaded


# ── without an engine (run everywhere) ────────────────────────────────────────────────────


def test_no_engine_is_none_and_an_environment_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", DEAD_DOCKER_HOST)
    assert capsule_docker.engine() is None
    assert capsule_docker.engine_available() is False
    with pytest.raises(EnvironmentProblem) as caught:
        capsule_docker.require_engine()
    assert caught.value.exit_code == EXIT_ENVIRONMENT
    assert DEAD_DOCKER_HOST in caught.value.message
    assert caught.value.hint == capsule_docker.NO_ENGINE_HINT
    assert "--backend local" in caught.value.hint


def test_every_call_needing_the_engine_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", DEAD_DOCKER_HOST)
    context = write_context(tmp_path / "ctx", {"Dockerfile": PROBE_DOCKERFILE})
    calls: list[Callable[[], object]] = [
        lambda: capsule_docker.image_exists("x"),
        lambda: capsule_docker.image_digest("x"),
        lambda: capsule_docker.build_image(context, tag="x", build_args={}),
        lambda: capsule_docker.run_container("x", out_dir=tmp_path / "out"),
    ]
    for call in calls:
        with pytest.raises(EnvironmentProblem, match="No Docker engine answers"):
            call()


@pytest.mark.parametrize(
    ("name", "digests", "expected"),
    [
        ("python:3.11-slim", ["python@sha256:aa"], "python@sha256:aa"),
        ("python", ["mirror/python@sha256:bb", "python@sha256:aa"], "python@sha256:aa"),
        ("localhost:5000/py:1", ["localhost:5000/py@sha256:cc"], "localhost:5000/py@sha256:cc"),
        ("retagged:1", ["original@sha256:dd"], "original@sha256:dd"),
        ("imported:1", [], None),
    ],
)
def test_pick_digest(name: str, digests: list[str], expected: str | None) -> None:
    assert capsule_docker.pick_digest(name, digests) == expected


def test_build_needs_a_dockerfile(tmp_path: Path) -> None:
    with pytest.raises(CapsuleError, match="no Dockerfile"):
        capsule_docker.build_image(tmp_path, tag="x", build_args={})


PLUGIN_CHECK = """
import pytest

@pytest.mark.docker
def test_needs_docker(base_image):
    pass
"""


@pytest.mark.parametrize(
    ("require", "outcome"), [("", "1 skipped"), ("1", "1 error")], ids=["skip", "require"]
)
def test_docker_fixtures_skip_or_fail_without_an_engine(
    tmp_path: Path, require: str, outcome: str
) -> None:
    # CI sets CAPSULE_REQUIRE_DOCKER=1: a machine without Docker must not pass by skipping.
    (tmp_path / "test_plugin_check.py").write_text(PLUGIN_CHECK)
    env = {
        **os.environ,
        "DOCKER_HOST": DEAD_DOCKER_HOST,
        "CAPSULE_REQUIRE_DOCKER": require,
        "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]),
    }
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "fixtures_docker",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-o",
            "markers=docker",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert outcome in completed.stdout, completed.stdout + completed.stderr
    assert "no Docker engine answers" in completed.stdout
    if require:
        assert completed.returncode != 0
        assert "CAPSULE_REQUIRE_DOCKER=1" in completed.stdout


# ── images ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.docker
def test_engine_answers(docker_engine: Any) -> None:
    assert capsule_docker.engine_available()
    client = capsule_docker.require_engine()
    assert client.ping()
    client.close()


@pytest.mark.docker
def test_image_queries(base_image: str, docker_engine: Any) -> None:
    assert capsule_docker.image_exists(base_image)
    assert not capsule_docker.image_exists(NO_SUCH_IMAGE)
    assert capsule_docker.image_digest(NO_SUCH_IMAGE) is None
    assert capsule_docker.image_id(NO_SUCH_IMAGE) is None
    image_id = capsule_docker.image_id(base_image)
    assert image_id is not None
    assert image_id.startswith("sha256:")
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    digest = capsule_docker.image_digest(base_image)
    repo_digests = docker_engine.images.get(base_image).attrs.get("RepoDigests") or []
    if base_image == DEFAULT_BASE_IMAGE:
        # Made with `docker import` (scripts/make-base-image.sh), never pushed or pulled: it has
        # no RepoDigests, so no digest; its content id is what names it.
        assert repo_digests == []
        assert digest is None
    else:  # $CAPSULE_TEST_BASE_IMAGE, which may have come from a registry
        assert digest == (sorted(repo_digests)[0] if repo_digests else None)


@pytest.mark.docker
def test_build_streams_its_log_and_returns_the_image_id(
    docker_engine: Any, base_image: str, tmp_path: Path
) -> None:
    context = write_context(
        tmp_path,
        {
            "Dockerfile": 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo "built offline"\n',
        },
    )
    said: list[str] = []
    tag = "capsule-test-build-log:latest"
    image_id = capsule_docker.build_image(
        context, tag=tag, build_args={"BASE_IMAGE": base_image}, say=said.append
    )
    try:
        assert image_id.startswith("sha256:")
        assert capsule_docker.image_id(tag) == image_id
        assert any(line.startswith("Step 3/3 : RUN") for line in said)
        assert "built offline" in said
    finally:
        docker_engine.images.remove(tag, force=True)


@pytest.mark.docker
def test_build_has_no_network(base_image: str, tmp_path: Path) -> None:
    dockerfile = (
        "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"
        "RUN python3 -c 'import socket; socket.create_connection((\"1.1.1.1\", 53), timeout=5)'\n"
    )
    context = write_context(tmp_path, {"Dockerfile": dockerfile})
    said: list[str] = []
    with pytest.raises(CapsuleError) as caught:
        capsule_docker.build_image(
            context,
            tag="capsule-test-build-net:latest",
            build_args={"BASE_IMAGE": base_image},
            say=said.append,
        )
    error = caught.value
    assert not isinstance(error, EnvironmentProblem)
    assert "returned a non-zero code" in error.message
    # The last lines of the log are in the message: the failing step and Python's error.
    assert "Network is unreachable" in error.message
    assert "Step 3/3 : RUN" in error.message
    assert error.hint == capsule_docker.BUILD_FAILED_HINT
    assert any("Network is unreachable" in line for line in said)


@pytest.mark.docker
def test_build_with_a_missing_base_image_names_it(docker_engine: Any, tmp_path: Path) -> None:
    context = write_context(tmp_path, {"Dockerfile": "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\n"})
    with pytest.raises(EnvironmentProblem) as caught:
        capsule_docker.build_image(context, tag="x", build_args={"BASE_IMAGE": NO_SUCH_IMAGE})
    assert NO_SUCH_IMAGE in caught.value.message
    assert "--base-image" in caught.value.hint
    assert "docker load" in caught.value.hint


@pytest.mark.docker
@pytest.mark.parametrize(
    "dockerfile",
    [
        f"FROM {NO_SUCH_IMAGE}\n",
        f"ARG BASE_IMAGE={NO_SUCH_IMAGE}\nFROM ${{BASE_IMAGE}}\n",
    ],
    ids=["literal", "arg-default"],
)
def test_build_from_an_image_the_engine_lacks_is_an_environment_problem(
    docker_engine: Any, tmp_path: Path, dockerfile: str
) -> None:
    # Not caught before the build (no BASE_IMAGE build argument): the FROM step fails.
    context = write_context(tmp_path, {"Dockerfile": dockerfile})
    with pytest.raises(EnvironmentProblem) as caught:
        capsule_docker.build_image(context, tag="x", build_args={})
    assert NO_SUCH_IMAGE in caught.value.message
    assert caught.value.exit_code == EXIT_ENVIRONMENT


# ── the sandbox of a run ──────────────────────────────────────────────────────────────────


@pytest.mark.docker
def test_run_uses_the_image_cmd_and_writes_outputs(
    probe_run: tuple[ContainerResult, list[str], Path],
    leftover_containers: Callable[[], set[str]],
) -> None:
    result, said, out = probe_run
    assert result.exit_code == 0, result.logs
    assert result.ok
    assert not result.timed_out
    assert not result.oom_killed
    assert (out / "sub" / "result.txt").read_text() == "hello from the capsule\n"
    # Files come back owned by the sandbox user, readable by everyone.
    written = (out / "sub" / "result.txt").stat()
    assert written.st_uid == 65534
    assert written.st_mode & 0o044 == 0o044
    # stdout and stderr are two pipes: their lines interleave in no guaranteed order.
    assert sorted(said) == ["a line on stderr", "probe done"]
    assert "probe done" in result.logs
    assert "a line on stderr" in result.logs
    assert 0 < result.duration_s < 30
    assert leftover_containers() == set()


@pytest.mark.docker
def test_run_is_not_root_and_has_no_privileges(facts: dict[str, Any]) -> None:
    assert (facts["uid"], facts["gid"]) == (65534, 65534)
    assert int(facts["cap_eff"], 16) == 0
    assert facts["no_new_privs"] == "1"
    assert facts["home"] == "/tmp"


@pytest.mark.docker
def test_run_has_a_read_only_root_and_an_executable_tmp(facts: dict[str, Any]) -> None:
    assert "Read-only file system" in facts["write_root"]
    assert facts["tmp_exec"] == "ok"


@pytest.mark.docker
def test_run_has_no_network(facts: dict[str, Any]) -> None:
    assert facts["interfaces"] == ["lo"]
    assert facts["net_internet"] != "ok"
    assert "unreachable" in facts["net_internet"].lower()
    assert facts["net_docker_host"] != "ok"
    assert facts["dns"] != "ok"


@pytest.mark.docker
def test_run_reports_exit_code_and_the_tail_of_the_logs(run: Runner) -> None:
    script = "import sys\nfor i in range(250): print(f'line {i}')\nsys.exit(7)\n"
    result, said = run(["python3", "-c", script])
    assert result.exit_code == 7
    assert not result.ok
    assert not result.timed_out
    assert not result.oom_killed
    assert said == [f"line {i}" for i in range(250)]
    lines = result.logs.splitlines()
    assert len(lines) == capsule_docker.LOG_TAIL_LINES
    assert lines[-1] == "line 249"


@pytest.mark.docker
def test_run_over_time_is_killed_and_reported(run: Runner) -> None:
    result, _ = run(["sleep", "120"], RunLimits(timeout_s=1))
    assert result.timed_out
    assert not result.oom_killed
    assert result.exit_code == capsule_docker.SIGKILL_EXIT
    assert 1 <= result.duration_s < 20


@pytest.mark.docker
def test_run_over_memory_is_reported_as_oom_killed(run: Runner) -> None:
    result, _ = run(["python3", "-c", EAT_MEMORY], RunLimits(memory="48m", timeout_s=60))
    assert result.oom_killed
    assert not result.timed_out
    assert result.exit_code == capsule_docker.SIGKILL_EXIT


@pytest.mark.docker
def test_oom_of_a_child_is_reported_even_if_the_container_exits_0(run: Runner) -> None:
    # The kernel kills the biggest process of the cgroup; the shell above it carries on.
    command = ["sh", "-c", f"python3 -c '{EAT_MEMORY}'; echo shell carried on"]
    result, said = run(command, RunLimits(memory="48m", timeout_s=60))
    assert result.exit_code == 0
    # stdout and stderr ("Killed") are separate streams: their lines may arrive in either order
    assert "shell carried on" in said
    assert result.oom_killed
    assert not result.ok


@pytest.mark.docker
def test_exit_137_alone_is_not_an_oom_kill(run: Runner) -> None:
    result, _ = run(["sh", "-c", "exit 137"])
    assert result.exit_code == capsule_docker.SIGKILL_EXIT
    assert not result.oom_killed
    assert not result.timed_out


@pytest.mark.docker
def test_run_pids_limit_makes_fork_fail(run: Runner) -> None:
    # The engine reports nothing when the pids limit is hit: fork() fails with EAGAIN inside.
    result, said = run(["python3", "/app/fork.py"], RunLimits(pids=16, timeout_s=60))
    assert result.exit_code == 3, result.logs
    assert not result.timed_out
    assert not result.oom_killed
    assert "Resource temporarily unavailable" in said[-1]
    children = int(said[-1].split("after ")[1].split(" ")[0])
    assert children < 16


@pytest.mark.docker
def test_run_of_a_missing_image_is_an_environment_problem(
    leftover_containers: Callable[[], set[str]], tmp_path: Path
) -> None:
    with pytest.raises(EnvironmentProblem, match=NO_SUCH_IMAGE):
        capsule_docker.run_container(NO_SUCH_IMAGE, out_dir=tmp_path / "out")
    assert leftover_containers() == set()

"""The docker backend, the one module that knows Docker: find the engine, build, run sandboxed.

Everything goes through the Docker SDK (`docker` package), never the CLI. A capsule build must
need no network (`network_mode="none"`), and a capsule run is a stranger's code: no network, no
capabilities, no privilege escalation, a non-root user, a read-only root filesystem, and memory,
pid and time limits (DESIGN.md, decision 5).
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import re
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.utils
import requests.exceptions

from capsule import dockerfile as capsule_dockerfile
from capsule import interpreters, platforms, syspkg
from capsule.backends._shared import failure_text, log_tail
from capsule.cache import cache_dir
from capsule.errors import CapsuleError, EnvironmentProblem, ManifestError
from capsule.model import Rerun, RerunRecord, RerunRequest, RunLimits
from capsule.progress import Progress
from capsule.wording import short_hash

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

NO_ENGINE = "No Docker engine answers at {where}"
NO_ENGINE_HINT = "start one (`sudo systemctl start docker` or `dockerd &`) or use --backend local"
MISSING_BASE_IMAGE = (
    "The base image {image} is not on this Docker engine, and a capsule build cannot pull it"
)
MISSING_BASE_IMAGE_HINT = (
    "pass --base-image with an image the engine has (see `docker images`), or `docker load -i` "
    "one; scripts/make-base-image.sh makes a Debian one without a registry"
)
NO_DOCKERFILE = "There is no Dockerfile in {context}"
BUILD_FAILED = "Building the image {tag} failed: {error}\nlast lines of the build log:\n{tail}"
BUILD_FAILED_HINT = (
    "the build has no network, so everything it installs must come from the capsule itself "
    "(wheels/); fix the step shown above and build again"
)
MISSING_IMAGE = "The image {image} is not on this Docker engine"
MISSING_IMAGE_HINT = "build the capsule image first (or check the name with `docker images`)"
ENGINE_REFUSED = "The Docker engine refused to {action}: {error}"
ENGINE_REFUSED_HINT = "check the engine with `docker info`; its log says more"
WRONG_LOADED_IMAGE = (
    "{archive} loaded the image {loaded}, not the image {expected} that capsule.json records; "
    "capsule will not build on it"
)
WRONG_LOADED_IMAGE_HINT = (
    "the capsule was changed after it was built: fetch it again, or ask its author to rebuild it"
)
NO_IMAGE_PYTHON = "the base image {image} has no python3 that answers: {said}"
NO_IMAGE_PYTHON_HINT = (
    "choose a base image with Python (--base-image), e.g. one made by scripts/make-base-image.sh"
)
EMBED_NEEDS_IMAGE = "--embed-base-image: the base image {image} is not on this Docker engine"
EMULATED = (
    "the capsule was made for {platform} and this Docker engine runs {engine}: the rebuild and "
    "the rerun run emulated (slower, and a difference may come from the emulator)"
)

# ── how containers are run ────────────────────────────────────────────────────────────────

SANDBOX_USER = "65534:65534"  # nobody:nogroup; the same uid on every reviewer's machine
OUT_MOUNT = "/out"  # where the container writes its outputs (bind mount of out_dir)
CONTAINER_TMP = "/tmp"  # noqa: S108 — inside the container: its tmpfs, not the host's /tmp
CONTAINER_HOME = CONTAINER_TMP  # nobody's home, /nonexistent, does not exist
IMAGE_PYTHON = "python3"  # the interpreter a capsule's Dockerfile makes its environment with
ASK_TIMEOUT_S = 60
DPKG_STATUS = "/var/lib/dpkg/status"  # an image's installed packages (Debian, Ubuntu)
RUN_LABEL = "org.capsule.run"  # marks capsule's containers, so leftovers can be found

PING_TIMEOUT_S = 3.0  # how long engine() waits for an answer before saying "no engine"
API_TIMEOUT_S = 120.0  # non-streaming API calls; streams (build, logs) have no read timeout
KILL_GRACE_S = 30.0  # after a kill, how long to wait for the engine to report the exit
LOG_TAIL_LINES = 100  # lines of container output kept in ContainerResult.logs
BUILD_TAIL_LINES = 20  # lines of build log put into a build failure's message

RUN_COMMAND = ("/bin/sh", "/capsule/run.sh", f"{OUT_MOUNT}/outputs", f"{OUT_MOUNT}/logs")
VERIFY_TAG = "capsule-verify/{name}:{capsule_id}"  # kept: the next verification reuses its layers

RENDERED_DOCKERFILE = ".capsule-verify.Dockerfile"  # the name in the context verify builds
SIGKILL_EXIT = 137  # 128 + SIGKILL: how the kernel's OOM killer (and our timeout) end a container

Say = Callable[[str], None]
DEFAULT_LIMITS = RunLimits()


def _quiet(_line: str) -> None:
    """Discard a progress line."""


@dataclass(frozen=True)
class ContainerResult:
    """What a capsule run did: exit code, the tail of its output, and why it ended if killed."""

    exit_code: int
    logs: str  # the last LOG_TAIL_LINES lines of stdout and stderr, interleaved
    duration_s: float
    timed_out: bool  # killed by capsule after RunLimits.timeout_s
    oom_killed: bool  # killed by the kernel for exceeding RunLimits.memory

    @property
    def ok(self) -> bool:
        """True when the container exited 0 on its own."""
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed


# ── the engine ────────────────────────────────────────────────────────────────────────────


def _where() -> str:
    """Where the SDK looks for the engine, said for a person."""
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


def engine() -> docker.DockerClient | None:
    """A client of the engine DOCKER_HOST names (else the local socket), None if none answers."""
    try:
        # version="auto" (from_env's default) asks the engine's API version, so this already
        # talks to it; the short timeout keeps a dead TCP host from hanging the CLI.
        client = docker.from_env(timeout=PING_TIMEOUT_S)
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return None
    client.api.timeout = API_TIMEOUT_S
    return client


def engine_available() -> bool:
    """True when a Docker engine answers."""
    client = engine()
    if client is None:
        return False
    client.close()
    return True


def require_engine() -> docker.DockerClient:
    """A client of a Docker engine that answers; EnvironmentProblem when none does."""
    client = engine()
    if client is None:
        raise EnvironmentProblem(NO_ENGINE.format(where=_where()), hint=NO_ENGINE_HINT)
    return client


@contextlib.contextmanager
def _connected() -> Iterator[docker.DockerClient]:
    """require_engine() for the length of a with block, closed after it."""
    client = require_engine()
    try:
        yield client
    finally:
        client.close()


def _refused(action: str, error: Exception) -> CapsuleError:
    """An engine error turned into a CapsuleError that says what capsule was doing."""
    explanation = getattr(error, "explanation", None) or str(error)
    return CapsuleError(
        ENGINE_REFUSED.format(action=action, error=explanation), hint=ENGINE_REFUSED_HINT
    )


# ── images ────────────────────────────────────────────────────────────────────────────────


def _inspect_image(client: docker.DockerClient, name: str) -> dict[str, Any] | None:
    """The engine's inspect data of an image, or None when the engine does not have it."""
    try:
        attrs: dict[str, Any] = client.images.get(name).attrs
    except docker.errors.ImageNotFound:
        return None
    except docker.errors.APIError as error:
        raise _refused(f"inspect the image {name}", error) from error
    return attrs


def _repository(name: str) -> str:
    """The repository part of an image reference: no tag, no digest."""
    name = name.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # a tag; a colon before the last slash is a registry port
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def pick_digest(name: str, repo_digests: Iterable[str]) -> str | None:
    """The RepoDigests entry of the repository `name` names, else the first one, else None."""
    digests = sorted(repo_digests)
    wanted = _repository(name)
    for digest in digests:
        if _repository(digest) == wanted:
            return digest
    return digests[0] if digests else None


def image_digest(name: str) -> str | None:
    """The "repo@sha256:…" of an image the engine knows; None if unknown or never pushed/pulled.

    Images made with `docker import` or `docker build` have no RepoDigests: use image_id().
    """
    with _connected() as client:
        attrs = _inspect_image(client, name)
    if attrs is None:
        return None
    return pick_digest(name, attrs.get("RepoDigests") or ())


def image_id(name: str) -> str | None:
    """The content id ("sha256:…") of an image the engine knows, else None."""
    with _connected() as client:
        attrs = _inspect_image(client, name)
    return None if attrs is None else str(attrs["Id"])


def image_exists(name: str) -> bool:
    """True when the engine has the image locally (nothing is ever pulled)."""
    with _connected() as client:
        return _inspect_image(client, name) is not None


def save_image(name: str, archive: Path) -> str:
    """`docker save` the image `name` into archive, untagged; return the image's id.

    Saved by id, so the archive carries no repository tag: loading it never moves a tag on the
    reviewer's engine. The engine writes the same bytes for the same image.
    """
    with _connected() as client:
        attrs = _inspect_image(client, name)
        if attrs is None:
            raise EnvironmentProblem(
                EMBED_NEEDS_IMAGE.format(image=name), hint=MISSING_BASE_IMAGE_HINT
            )
        found = str(attrs["Id"])
        try:
            with archive.open("wb") as out:
                for chunk in client.api.get_image(found):
                    out.write(chunk)
        except docker.errors.APIError as error:
            raise _refused(f"save the image {name}", error) from error
    return found


def _all_image_ids(client: docker.DockerClient) -> set[str]:
    """The ids of every image the engine has, intermediate ones included."""
    return {str(image.id) for image in client.images.list(all=True)}


def load_image(archive: Path, expected_id: str) -> bool:
    """Make sure the engine has the image expected_id, loading archive if it lacks it.

    Return True when it was loaded. The caller has checked archive's hash. An archive that
    loads another image is refused (ManifestError), and what it loaded is removed again.
    """
    with _connected() as client:
        if _inspect_image(client, expected_id) is not None:
            return False  # an image id is a content hash: the engine's copy is the same image
        before = _all_image_ids(client)
        try:
            with archive.open("rb") as data:
                loaded = [str(image.id) for image in client.images.load(data)]
        except docker.errors.APIError as error:
            raise _refused(f"load {archive.name}", error) from error
        if loaded == [expected_id]:
            return True
        for image_id in sorted(set(loaded) - before):
            with contextlib.suppress(docker.errors.APIError):
                client.images.remove(image_id, force=True)
    raise ManifestError(
        WRONG_LOADED_IMAGE.format(
            archive=archive.name, loaded=", ".join(loaded) or "nothing", expected=expected_id
        ),
        hint=WRONG_LOADED_IMAGE_HINT,
    )


def image_packages(name: str) -> dict[str, str] | None:
    """The dpkg packages of an image the engine has (name -> version), None when it lacks the
    image or the image has no dpkg database. Read from a created container, never started;
    cached by image id, which is a content hash."""
    with _connected() as client:
        attrs = _inspect_image(client, name)
        if attrs is None:
            return None
        image = str(attrs["Id"])
        cached = cache_dir() / "image-packages" / f"{image.removeprefix('sha256:')}.json"
        with contextlib.suppress(OSError, ValueError):
            known: dict[str, str] = json.loads(cached.read_text(encoding="utf-8"))
            return known
        status = _read_file_of(client, image, DPKG_STATUS)
    if status is None:
        return None
    packages = {p.name: p.version for p in syspkg.parse_status(status)}
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.partial")
    partial.write_text(json.dumps(packages, sort_keys=True), encoding="utf-8")
    partial.replace(cached)
    return packages


def image_python(name: str) -> interpreters.Interpreter | None:
    """The `python3` of an image the engine has, asked in a sandboxed container; None when the
    engine lacks the image. Cached by image id. An image without a python3 that answers is an
    EnvironmentProblem naming it."""
    with _connected() as client:
        attrs = _inspect_image(client, name)
    if attrs is None:
        return None
    image = str(attrs["Id"])
    cached = cache_dir() / "image-python" / image.removeprefix("sha256:")
    with contextlib.suppress(OSError):
        known = interpreters.answer(IMAGE_PYTHON, cached.read_text(encoding="utf-8"))
        if known is not None:
            return known
    with tempfile.TemporaryDirectory(prefix="capsule-ask-") as tmp:
        result = run_container(
            image,
            out_dir=Path(tmp) / "out",
            command=(IMAGE_PYTHON, "-E", "-S", "-c", interpreters.ASK),
            limits=RunLimits(timeout_s=ASK_TIMEOUT_S),
        )
    found = interpreters.answer(IMAGE_PYTHON, result.logs) if result.ok else None
    if found is None:
        raise EnvironmentProblem(
            NO_IMAGE_PYTHON.format(
                image=name, said=" | ".join(log_tail(result.logs)[-3:]) or "nothing"
            ),
            hint=NO_IMAGE_PYTHON_HINT,
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(result.logs.strip().splitlines()[-1] + "\n", encoding="utf-8")
    return found


def _read_file_of(client: docker.DockerClient, image: str, path: str) -> str | None:
    """The text of one file of an image (from a container created, not run), None if absent."""
    try:
        container = client.containers.create(image, ["true"], labels={RUN_LABEL: "1"})
    except docker.errors.APIError as error:
        raise _refused(f"create a container of {image}", error) from error
    try:
        stream, _stat = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
            member = archive.extractfile(Path(path).name)
            return None if member is None else member.read().decode("utf-8", "replace")
    except (docker.errors.NotFound, KeyError):
        return None
    except docker.errors.APIError as error:
        raise _refused(f"read {path} of {image}", error) from error
    finally:
        with contextlib.suppress(docker.errors.APIError):
            container.remove(force=True)


def engine_platform() -> str:
    """The platform of the engine's own machine, e.g. "linux/amd64"."""
    with _connected() as client:
        try:
            version = client.version()
        except docker.errors.APIError as error:
            raise _refused("say its version", error) from error
    return platforms.engine_platform(str(version.get("Os", "")), str(version.get("Arch", "")))


_STEP = re.compile(r"^Step \d+/\d+ : (?P<instruction>\S+)\s*(?P<rest>.*)$")


_ARG = re.compile(r"^\s*ARG\s+(?P<name>\w+)=(?P<default>\S+)\s*$", re.MULTILINE | re.IGNORECASE)
_VARIABLE = re.compile(r"\$\{?(?P<name>\w+)\}?")


def _missing_base(
    from_args: str, build_args: Mapping[str, str], dockerfile: str
) -> EnvironmentProblem:
    """The error for a FROM whose image the engine lacks (and cannot pull: no registry)."""
    words = [word for word in from_args.split() if not word.startswith("--")]
    image = words[0] if words else from_args
    # The legacy builder prints FROM's argument before it substitutes the build arguments.
    variables = {m["name"]: m["default"].strip("\"'") for m in _ARG.finditer(dockerfile)}
    variables.update(build_args)
    image = _VARIABLE.sub(lambda m: variables.get(m["name"], m[0]), image)
    return EnvironmentProblem(MISSING_BASE_IMAGE.format(image=image), hint=MISSING_BASE_IMAGE_HINT)


def _context(context_dir: Path, dockerfile: str, exclude: Sequence[str]) -> Any:
    """A build context: context_dir less `exclude`, with `dockerfile` as its Dockerfile.

    The folder's own Dockerfile and .dockerignore are left out: verify builds only what it
    rendered (DESIGN.md, decision 14).
    """
    patterns = [*exclude, "Dockerfile", ".dockerignore"]
    return docker.utils.tar(
        str(context_dir), exclude=patterns, dockerfile=(RENDERED_DOCKERFILE, dockerfile)
    )


def build_image(
    context_dir: Path,
    *,
    tag: str,
    build_args: Mapping[str, str],
    say: Say = _quiet,
    dockerfile: str | None = None,
    exclude: Sequence[str] = (),
) -> str:
    """Build context_dir/Dockerfile (or the text `dockerfile`) offline as `tag`; return its id.

    With `dockerfile`, the folder's Dockerfile and .dockerignore are ignored and `exclude`
    (.dockerignore patterns) is left out of the context. Each build log line goes to `say`. A
    failing step raises CapsuleError with the last lines of the log; a base image the engine
    lacks raises EnvironmentProblem naming it.
    """
    if dockerfile is None and not (context_dir / "Dockerfile").is_file():
        raise CapsuleError(NO_DOCKERFILE.format(context=context_dir))
    client = require_engine()
    base = build_args.get("BASE_IMAGE")
    # Checked first: without it the engine would try a registry, and fail less clearly.
    if base is not None and _inspect_image(client, base) is None:
        raise EnvironmentProblem(
            MISSING_BASE_IMAGE.format(image=base), hint=MISSING_BASE_IMAGE_HINT
        )
    tail: collections.deque[str] = collections.deque(maxlen=BUILD_TAIL_LINES)
    instruction, instruction_args = "", ""
    where: dict[str, Any] = {"path": str(context_dir)}
    if dockerfile is not None:
        where = {
            "fileobj": _context(context_dir, dockerfile, exclude),
            "custom_context": True,
            "dockerfile": RENDERED_DOCKERFILE,
        }
    try:
        stream: Iterator[dict[str, Any]] = client.api.build(
            **where,
            tag=tag,
            buildargs=dict(build_args),
            network_mode="none",  # RUN steps get no network: a capsule must build offline
            pull=False,
            rm=True,
            forcerm=True,  # remove intermediate containers of failed steps too
            decode=True,
            use_config_proxy=False,  # proxy settings of this machine are no build input
        )
        for chunk in stream:
            if "error" in chunk:
                error = str(chunk.get("errorDetail", {}).get("message") or chunk["error"]).strip()
                for line in error.splitlines():
                    say(line)
                if instruction.upper() == "FROM":
                    text = dockerfile or (context_dir / "Dockerfile").read_text("utf-8")
                    raise _missing_base(instruction_args, build_args, text)
                raise CapsuleError(
                    BUILD_FAILED.format(tag=tag, error=error, tail="\n".join(tail)),
                    hint=BUILD_FAILED_HINT,
                )
            text = chunk.get("stream") or chunk.get("status") or ""
            for line in str(text).splitlines():
                line = line.rstrip()
                if not line:
                    continue
                step = _STEP.match(line)
                if step:
                    instruction, instruction_args = step["instruction"], step["rest"]
                tail.append(line)
                say(line)
        return str(client.images.get(tag).id)
    except docker.errors.APIError as error:
        raise _refused(f"build the image {tag}", error) from error
    finally:
        if "fileobj" in where:
            where["fileobj"].close()
        client.close()


# ── containers ────────────────────────────────────────────────────────────────────────────


def _follow_logs(container: Any, tail: collections.deque[str], say: Say) -> None:
    """Pass each output line of a running container to `say` until it stops; keep the tail."""
    pending = b""
    for chunk in container.logs(stdout=True, stderr=True, stream=True, follow=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            tail.append(line)
            say(line)
    if pending:
        line = pending.decode("utf-8", errors="replace")
        tail.append(line)
        say(line)


def _oom_event_seen(client: docker.DockerClient, container_id: str, since: int) -> bool:
    """True when the engine logged an "oom" event for the container since `since` (epoch s)."""
    events = client.events(
        since=since,
        until=int(time.time()) + 1,
        filters={"container": container_id, "event": "oom"},
        decode=True,
    )
    try:
        return any(True for _ in events)
    finally:
        events.close()


def _was_oom_killed(
    client: docker.DockerClient, container: Any, exit_code: int, since: int
) -> bool:
    """Whether the kernel's OOM killer ended the container.

    State.OOMKilled is the engine's answer, but it comes from an asynchronous event that can
    lose the race with the exit event; on a SIGKILL exit the engine's event log is asked too.
    """
    container.reload()
    if container.attrs.get("State", {}).get("OOMKilled"):
        return True
    if exit_code != SIGKILL_EXIT:
        return False
    return _oom_event_seen(client, container.id, since)


def prepare_out_dir(out_dir: Path) -> Path:
    """Create out_dir, writable by the container's user; return its absolute path.

    The container runs as nobody (65534), so out_dir is made world-writable (mode 0777) and the
    files come back owned by 65534 with the container's umask (readable by everyone).
    """
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    out_dir.chmod(0o777)  # the sandbox user must write here; see docstring
    return out_dir


def _sandbox(out: Path, limits: RunLimits) -> dict[str, Any]:
    """The options of containers.create that make a capsule run's sandbox (see run_container)."""
    options: dict[str, Any] = {
        "detach": True,
        "network_mode": "none",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "user": SANDBOX_USER,
        "read_only": True,
        "tmpfs": {CONTAINER_TMP: f"rw,exec,nosuid,nodev,size={limits.tmp_size},mode=1777"},
        "volumes": {str(out): {"bind": OUT_MOUNT, "mode": "rw"}},
        "environment": {"HOME": CONTAINER_HOME},
        "mem_limit": limits.memory,
        "memswap_limit": limits.memory,  # equal to mem_limit: no swap on top of it
        "pids_limit": limits.pids,
        "labels": {RUN_LABEL: "1"},
    }
    if limits.cpus is not None:
        options["nano_cpus"] = int(limits.cpus * 1e9)
    return options


def _create(
    client: docker.DockerClient, image: str, command: Sequence[str] | None, options: dict[str, Any]
) -> Any:
    """A created (not started) container of `image`; the client is closed if that fails."""
    try:
        # create, not run: containers.run would try to pull an image the engine lacks.
        return client.containers.create(image, list(command) if command else None, **options)
    except docker.errors.ImageNotFound as error:
        client.close()
        raise EnvironmentProblem(
            MISSING_IMAGE.format(image=image), hint=MISSING_IMAGE_HINT
        ) from error
    except docker.errors.APIError as error:
        client.close()
        raise _refused(f"create a container of {image}", error) from error


def run_container(
    image: str,
    *,
    out_dir: Path,
    command: Sequence[str] | None = None,
    limits: RunLimits = DEFAULT_LIMITS,
    say: Say = _quiet,
) -> ContainerResult:
    """Run `image` (its CMD unless `command`) sandboxed, with out_dir (best empty) at /out.

    No network, no capabilities, no new privileges, user nobody, read-only root with a tmpfs
    /tmp, memory (no swap), pid and time limits. Output lines go to `say` as they come, on the
    calling thread. A run over the time limit is killed and reported timed_out, one that the
    kernel's OOM killer hit is reported oom_killed; the container is always removed. Hitting
    the pids limit is not reported: fork() and thread creation fail inside (EAGAIN).
    """
    client = require_engine()
    container = _create(client, image, command, _sandbox(prepare_out_dir(out_dir), limits))
    tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
    deadline_passed = threading.Event()

    def kill_at_deadline() -> None:
        """Kill the container when its time is up (runs on a timer thread).

        The flag is set before the kill: the main thread wakes up as soon as the container
        dies, possibly before kill() has returned here.
        """
        deadline_passed.set()
        with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
            container.kill()  # fails only if it stopped on its own meanwhile

    timer = threading.Timer(limits.timeout_s, kill_at_deadline)
    timer.daemon = True
    since = int(time.time()) - 1
    started = time.monotonic()
    try:
        container.start()
        timer.start()
        # A logging driver without reads only loses the live lines: the wait ends the run.
        with contextlib.suppress(docker.errors.APIError, requests.exceptions.RequestException):
            _follow_logs(container, tail, say)
        remaining = limits.timeout_s - (time.monotonic() - started)
        try:
            status = container.wait(timeout=max(remaining, 0.0) + KILL_GRACE_S)
        except requests.exceptions.RequestException:
            kill_at_deadline()
            status = container.wait(timeout=KILL_GRACE_S)
        duration = time.monotonic() - started
        timer.cancel()
        timer.join(timeout=KILL_GRACE_S)
        exit_code = int(status.get("StatusCode", -1))
        # killed at the deadline; an exit of its own at that very moment is not a timeout
        timed_out = deadline_passed.is_set() and exit_code == SIGKILL_EXIT
        oom = not timed_out and _was_oom_killed(client, container, exit_code, since)
        if not tail:  # the log stream gave nothing: ask once more, it may have been missed
            tail.extend(
                container.logs(stdout=True, stderr=True, tail=LOG_TAIL_LINES)
                .decode("utf-8", errors="replace")
                .splitlines()
            )
    except docker.errors.APIError as error:
        raise _refused(f"run a container of {image}", error) from error
    finally:
        timer.cancel()
        with contextlib.suppress(docker.errors.APIError):  # already gone
            container.remove(force=True)
        client.close()
    return ContainerResult(
        exit_code=exit_code,
        logs="\n".join(tail),
        duration_s=round(duration, 3),
        timed_out=timed_out,
        oom_killed=oom,
    )


# ── the backend ───────────────────────────────────────────────────────────────────────────


class DockerBackend:
    """Rerun a capsule in a container: its image built offline, its run sandboxed (no network)."""

    warning = ""

    def __init__(self, request: RerunRequest) -> None:
        self._request = request
        self._base_image = request.base_image or request.manifest.base_image
        self._tag = VERIFY_TAG.format(
            name=request.manifest.name.lower(), capsule_id=short_hash(request.capsule_id)
        )
        self._image_id = ""
        self._build_s = 0.0
        self._platform = ""
        self._emulated = False
        self._python = ""

    def prepare(self, progress: Progress) -> None:
        """Build the capsule's image, from a Dockerfile rendered from its manifest, offline."""
        manifest = self._request.manifest
        text = capsule_dockerfile.from_manifest(manifest)  # refuses values unsafe to render
        start = time.monotonic()
        build_from = self._base_image
        archive = manifest.base_image_archive
        if archive is not None and not self._request.base_image:
            with progress.stage(f"Loading the base image from {archive.file}"):
                load_image(self._request.capsule / archive.file, archive.image_id)
            build_from = archive.image_id
            self._base_image = f"{manifest.base_image} ({archive.file})"
        self._platform = engine_platform()
        self._emulated = bool(manifest.platform) and not platforms.same_architecture(
            manifest.platform, self._platform
        )
        if self._emulated:
            progress.note(
                "[yellow]warning:[/yellow] "
                + EMULATED.format(platform=manifest.platform, engine=self._platform)
            )
        with progress.stage(f"Building the image from {self._base_image} (no network)"):
            self._image_id = build_image(
                self._request.capsule,
                tag=self._tag,
                build_args={"BASE_IMAGE": build_from},
                say=progress.say,
                dockerfile=text,
                exclude=capsule_dockerfile.context_exclude(manifest.name),
            )
        self._build_s = time.monotonic() - start
        found = image_python(self._image_id)
        self._python = f"{found.implementation} {found.version}" if found else ""

    def rerun(self, rerun_dir: Path, progress: Progress) -> Rerun:
        """Run the image in the sandbox, its outputs and logs written under rerun_dir."""
        limits = self._request.limits
        rerun_dir.mkdir(parents=True)
        with progress.stage("Running the analysis in the sandbox"):
            result = run_container(
                self._tag, out_dir=rerun_dir, command=RUN_COMMAND, limits=limits, say=progress.say
            )
        record = RerunRecord(
            exit_code=result.exit_code,
            build_s=round(self._build_s, 3),
            run_s=result.duration_s,
            timed_out=result.timed_out,
            oom_killed=result.oom_killed,
            failure=failure_text(
                result.exit_code, limits, timed_out=result.timed_out, oom_killed=result.oom_killed
            ),
            log_tail=log_tail(result.logs),
            network="none",
            memory_limit=limits.memory,
            pids_limit=limits.pids,
            timeout_s=limits.timeout_s,
        )
        return Rerun(
            record=record,
            image=self._base_image,
            image_id=self._image_id,
            platform=self._platform,
            emulated=self._emulated,
            python=self._python,
        )

    def cleanup(self) -> None:
        """Nothing to remove: run_container removed the container, and the image is kept."""

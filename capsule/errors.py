"""The one exception family of capsule, and the exit codes the CLI maps it to."""

from __future__ import annotations

# Exit codes, documented in README.md and `capsule --help`; they follow diff(1).
EXIT_OK = 0
EXIT_DIFFERS = 1  # verification mismatch, or audit findings at the failing level
EXIT_BAD_INPUT = 2  # bad input or usage, a tampered capsule
EXIT_ENVIRONMENT = 3  # the machine lacks something: no Docker engine, no base image
# An error that is not a CapsuleError is a bug in capsule. It exits 2, "could not do it", and
# never 1, which verify and audit use for a verdict.
EXIT_INTERNAL = EXIT_BAD_INPUT
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT (128 + 2)


class CapsuleError(Exception):
    """A problem the user can act on: what happened, and a hint saying what to do next."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class PlanError(CapsuleError):
    """The analysis folder or its capsule.toml cannot be turned into a plan."""


class StepFailed(CapsuleError):
    """A step of the analysis exited non-zero while capsule ran it.

    `failed` holds (step name, its stderr) for every step that failed, for callers that look
    closer (capsule init retries a step from its own folder when it missed a file there).
    """

    def __init__(
        self, message: str, hint: str = "", failed: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message, hint)
        self.failed = failed


class LockError(CapsuleError):
    """The packages that ran cannot be pinned, fetched or built into wheels."""


class ManifestError(CapsuleError):
    """A capsule.json is missing, malformed, of an unknown format, or does not match its files."""


class EnvironmentProblem(CapsuleError):
    """The machine lacks something capsule needs (a Docker engine, a base image, a tool)."""

    exit_code = EXIT_ENVIRONMENT


class ProcessError(CapsuleError):
    """A program capsule started did not run to a successful end; `argv` is its command."""

    def __init__(self, message: str, hint: str = "", *, argv: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint)
        self.argv = argv


class ProgramFailedToStart(ProcessError):
    """The operating system could not start a program: not executable, no working folder, …."""


class ProgramNotFound(ProgramFailedToStart):
    """The program to start does not exist (not on PATH, or no file at its path)."""


class ProcessTimedOut(ProcessError):
    """A program ran past its time limit and was killed; `stderr` is what it wrote until then."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        argv: tuple[str, ...] = (),
        timeout_s: float = 0.0,
        stderr: str = "",
    ) -> None:
        super().__init__(message, hint, argv=argv)
        self.timeout_s = timeout_s
        self.stderr = stderr


class ProcessFailed(ProcessError):
    """A program exited non-zero where success was required; `returncode` is its exit code."""

    def __init__(
        self, message: str, hint: str = "", *, argv: tuple[str, ...] = (), returncode: int = 1
    ) -> None:
        super().__init__(message, hint, argv=argv)
        self.returncode = returncode

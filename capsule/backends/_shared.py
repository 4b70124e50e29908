"""What every backend says about a rerun that stopped short, in the user's terms (one wording)."""

from __future__ import annotations

from capsule.model import RunLimits

# ── user-facing strings (tests import them) ───────────────────────────────────────────────

TIMED_OUT = "the rerun exceeded the time limit of {timeout:g} s and was stopped"
OUT_OF_MEMORY = "the rerun exceeded the memory limit of {memory} and was stopped"
EXITED = "the rerun failed with exit code {code}"
NOT_STARTED = "the rerun could not be started: {reason}"

LOG_TAIL_LINES = 40  # lines of the rerun's output kept in its RerunRecord


def failure_text(
    exit_code: int, limits: RunLimits, *, timed_out: bool = False, oom_killed: bool = False
) -> str:
    """What stopped the rerun ("" when it exited 0): a limit it hit, else its exit code."""
    if timed_out:
        return TIMED_OUT.format(timeout=limits.timeout_s)
    if oom_killed:
        return OUT_OF_MEMORY.format(memory=limits.memory)
    if exit_code != 0:
        return EXITED.format(code=exit_code)
    return ""


def log_tail(text: str) -> tuple[str, ...]:
    """The last lines of a rerun's output, oldest first."""
    return tuple(text.splitlines()[-LOG_TAIL_LINES:])

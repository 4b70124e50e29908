"""Pytest plugin: the run ends by saying how many tests were skipped and why, grouped by reason.

Registered from tests/conftest.py. scripts/test.sh runs the Docker, browser and LaTeX tests
whenever their tools are present; this summary shows at a glance which ones could not run. It is
printed after pytest's short test summary and before pytest's own final "N passed ..." line,
which stays the very last line (CI reads it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator

import pytest

HEADER = "skipped tests, by reason"
NONE_SKIPPED = "no test was skipped"
_PREFIX = "Skipped: "


def skip_reasons(reporter: pytest.TerminalReporter) -> Counter[str]:
    """How many tests were skipped for each reason (pytest's "Skipped: " prefix removed)."""
    reasons: Counter[str] = Counter()
    for report in reporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix(_PREFIX)] += 1
    return reasons


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter,
) -> Generator[None]:
    """After every other summary (tryfirst makes this wrapper the outermost one)."""
    yield
    reasons = skip_reasons(terminalreporter)
    if not reasons:
        terminalreporter.write_line(NONE_SKIPPED)
        return
    terminalreporter.write_sep("=", f"{sum(reasons.values())} {HEADER}")
    for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0])):
        terminalreporter.write_line(f"{count:5d}  {reason}")

"""What the command line prints for people: user text is never read as markup."""

from __future__ import annotations

import pytest

from capsule import terminal
from capsule.audit import AuditResult
from capsule.build import BuildSummary
from capsule.model import Finding


def test_errors_keep_brackets_and_colons(capsys: pytest.CaptureFixture[str]) -> None:
    err = terminal.stderr_console()
    terminal.print_error(err, "[analysis] title :smile: is not text", "edit [[steps]]")
    assert capsys.readouterr().err == (
        "error: [analysis] title :smile: is not text\nhint: edit [[steps]]\n"
    )


def test_an_error_without_a_hint_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    err = terminal.stderr_console()
    terminal.print_error(err, "gone", "")
    assert capsys.readouterr().err == "error: gone\n"


def test_the_build_summary_uses_one_size_format_and_plurals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = terminal.stdout_console()
    summary = BuildSummary(
        capsule="/home/ada/[draft].capsule",
        capsule_id="5" * 64,
        outputs=2,
        pins=3,
        built_pins=(),
        data_bytes=23_456,
        files=9,
        on_disk={"a.png": "identical", "b.csv": "stale"},
        findings=(
            Finding(check="x", severity="warning", message="[bold]not bold[/bold]"),
            Finding(check="y", severity="info", message="an info"),
        ),
    )
    terminal.print_build_summary(summary, out)
    text = capsys.readouterr().out
    assert "capsule /home/ada/[draft].capsule\n" in text
    assert "outputs   2 (1 identical, 1 stale; against the copies on disk)" in text
    assert "data 23.5 kB" in text
    assert "warning  [bold]not bold[/bold]\n" in text
    assert "1 more finding of severity info" in text


def test_the_audit_summary_counts_each_severity(capsys: pytest.CaptureFixture[str]) -> None:
    out = terminal.stdout_console()
    findings = (
        Finding(check="a", severity="error", message="m [a]", location="x.py:1"),
        Finding(check="b", severity="info", message="n"),
        Finding(check="c", severity="info", message="o"),
    )
    terminal.print_findings(AuditResult(findings=findings, fail_on="error"), out)
    text = capsys.readouterr().out
    assert "m [a]  [a]" in text
    assert "1 error, 0 warnings, 2 info; the audit fails at --fail-on error" in text


def test_no_findings_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    out = terminal.stdout_console()
    terminal.print_findings(AuditResult(findings=(), fail_on="error"), out)
    assert terminal.NO_FINDINGS in capsys.readouterr().out

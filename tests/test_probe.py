"""Tests for capsule/probe.py: small analyses made to vary with one thing each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from capsule import audit, plan, probe
from capsule.checks import AuditContext, RunFacts
from capsule.checks.probe import CHECKS as PROBE_CHECKS
from capsule.checks.probe import FIXES as PROBE_FIXES
from capsule.determinism import decide
from capsule.errors import CapsuleError, StepFailed
from capsule.model import Finding, Plan, ProbeResult, Provenance

from conftest import MakeProject

EMPTY_PLAN = Plan(title="t", steps=(), data=(), outputs=(), exclude=())


def analysis(make_project: MakeProject, expression: str, imports: str = "") -> Path:
    """A one-step analysis whose script writes str(expression) into results/out.txt."""
    return make_project(
        {
            "01_write.py": f"""
                import os, pathlib, time{imports}
                pathlib.Path("results").mkdir(exist_ok=True)
                pathlib.Path("results/out.txt").write_text(str({expression}) + "\\n")
                pathlib.Path("results/stable.txt").write_text("stable\\n")
            """,
        }
    )


def run_probe(root: Path, variations: list[str], runs: int = 2) -> ProbeResult:
    """Probe an analysis with the interpreter running the tests."""
    result, first = probe.probe(
        root, plan.load(root), python=sys.executable, runs=runs, variations=variations
    )
    assert first is not None and first.result.steps  # the first baseline run, as traced
    return result


def probe_findings(result: ProbeResult) -> list[Finding]:
    """The findings the checks table makes of a probe's result (and nothing else)."""
    facts = RunFacts(provenance=Provenance((), (), ()), outputs=(), probe=result)
    context = AuditContext(root=Path(), plan=EMPTY_PLAN, files=(), code=(), run=facts)
    return audit.run_checks(context, only=PROBE_CHECKS)


def ids(findings: list[Finding]) -> list[tuple[str, str, str]]:
    """(check, severity, location) of each finding, sorted."""
    return sorted((f.check, f.severity, f.location) for f in findings)


def test_set_order_varies_with_the_hash_seed_only(make_project: MakeProject) -> None:
    root = analysis(make_project, 'repr(set("abcdefgh"))')
    result = run_probe(root, ["hash-seed", "time-zone", "folder-path"])
    assert result.baseline_repeat == ()
    assert result.by_variation == {
        "hash-seed": ("results/out.txt",),
        "time-zone": (),
        "folder-path": (),
    }
    # without capsule the seed is random: the same file, already named by hash-seed
    assert result.unprotected == {"unprotected": ("results/out.txt",)}
    assert result.runs == 2 + 3 + 1
    findings = probe_findings(result)
    assert ids(findings) == [("varies-with-hash-seed", "warning", "results/out.txt")]
    assert "PYTHONHASHSEED 0 → 1" in findings[0].message
    assert findings[0].fix == PROBE_FIXES["hash-seed"]


def test_local_time_varies_with_the_time_zone(make_project: MakeProject) -> None:
    root = analysis(make_project, 'time.strftime("%H:%M %Z", time.localtime(0))')
    result = run_probe(root, ["hash-seed", "time-zone"])
    assert result.by_variation == {"hash-seed": (), "time-zone": ("results/out.txt",)}
    assert ids(probe_findings(result)) == [("varies-with-time-zone", "warning", "results/out.txt")]
    assert (root / "results").exists() is False  # the author's folder is never written


def test_working_folder_varies_with_the_folder_path(make_project: MakeProject) -> None:
    root = analysis(make_project, "os.getcwd()")
    result = run_probe(root, ["folder-path", "hash-seed"])
    assert result.by_variation == {"folder-path": ("results/out.txt",), "hash-seed": ()}
    findings = probe_findings(result)
    assert ids(findings) == [("varies-with-folder-path", "warning", "results/out.txt")]
    assert "absolute paths" in findings[0].fix


def test_the_clock_makes_an_output_nondeterministic(make_project: MakeProject) -> None:
    root = analysis(make_project, "time.time_ns()")
    result = run_probe(root, ["hash-seed"])
    assert result.baseline_repeat == ("results/out.txt",)
    # already unverifiable: not blamed on the variation as well
    assert result.by_variation == {"hash-seed": ()}
    findings = probe_findings(result)
    assert ids(findings) == [("nondeterministic-output", "error", "results/out.txt")]
    assert findings[0].message == (
        "results/out.txt differs between two identical runs: it cannot be verified"
    )


def test_a_clean_analysis_has_no_findings(make_project: MakeProject) -> None:
    root = analysis(make_project, "sorted(set('abcdefgh'))")
    result = run_probe(root, list(probe.ALL), runs=3)
    assert result.baseline_repeat == ()
    assert result.by_variation == {name: () for name in probe.ALL}
    assert result.unprotected == {"unprotected": ()}
    assert result.runs == 3 + len(probe.ALL) + 1
    assert probe_findings(result) == []


def test_the_source_date_shows_as_info(make_project: MakeProject) -> None:
    root = analysis(make_project, 'os.environ.get("SOURCE_DATE_EPOCH")')
    result = run_probe(root, ["source-date"])
    assert result.by_variation == {"source-date": ("results/out.txt",)}
    # the unprotected run changes it too, but the variation already says why
    assert result.unprotected == {"unprotected": ("results/out.txt",)}
    findings = probe_findings(result)
    assert ids(findings) == [("varies-with-source-date", "info", "results/out.txt")]


def test_what_capsule_protects_is_reported_as_info(make_project: MakeProject) -> None:
    root = analysis(make_project, 'os.environ.get("SOURCE_DATE_EPOCH")')
    result = run_probe(root, [])
    assert result.unprotected == {"unprotected": ("results/out.txt",)}
    assert ids(probe_findings(result)) == [("protected-by-capsule", "info", "results/out.txt")]


def test_a_step_failing_under_a_variation_is_a_finding(make_project: MakeProject) -> None:
    root = analysis(make_project, 'os.environ["TZ"] == "UTC" or sys.exit(3)', imports=", sys")
    result = run_probe(root, ["time-zone"])
    assert set(result.failed) == {"time-zone", "unprotected"}
    assert sorted(f.check for f in probe_findings(result)) == [
        "fails-unprotected",
        "fails-with-time-zone",
    ]


def test_a_failing_baseline_raises(make_project: MakeProject) -> None:
    root = make_project({"01_fail.py": "raise SystemExit(2)\n"})
    with pytest.raises(StepFailed):
        run_probe(root, [])


def test_unknown_variations_and_too_few_runs_are_refused(make_project: MakeProject) -> None:
    root = analysis(make_project, "1")
    with pytest.raises(CapsuleError, match="unknown variation moon-phase"):
        run_probe(root, ["moon-phase"])
    with pytest.raises(CapsuleError, match="at least 2 runs"):
        run_probe(root, [], runs=1)


def test_the_locale_variation_says_what_it_ran(make_project: MakeProject) -> None:
    root = analysis(make_project, "1")
    determinism = decide(plan.load(root), None, {})
    env, description = probe._varied("locale", determinism)
    other = probe.other_locale()
    assert dict(env.env)["LC_ALL"] == dict(env.env)["LANG"] == other
    assert description.startswith(f"LANG/LC_ALL C.UTF-8 → {other}")
    assert ("no other locale" in description) == (other == probe.FALLBACK_LOCALE)


def test_the_checks_know_every_variation_the_probe_makes() -> None:
    assert set(PROBE_FIXES) == set(probe.VARIATIONS)
    for name in probe.VARIATIONS:
        assert f"varies-with-{name}" in PROBE_CHECKS
        assert f"fails-with-{name}" in PROBE_CHECKS

"""verification.html: one self-contained page, problems first, hostile text escaped, same bytes."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from capsule.errors import CapsuleError
from capsule.model import (
    VERIFICATION_FORMAT,
    Environment,
    OutputCheck,
    RerunRecord,
    Tolerances,
    Verification,
)
from capsule.report import verification as verification_report
from capsule.report.facts import duration_text

from conftest import REPO, run_chromium

ARTIFACTS = REPO / "test-artifacts"
DIFF_IMAGE = "diffs/figures__fig2.png.diff.png"
HOSTILE = "<script>alert(1)</script>"
SHA_A = "3f2a9c1e0b7d" + "a" * 52
SHA_B = "9b1d44e07c2f" + "b" * 52
SHA_C = "0c5e7a21d9f3" + "c" * 52

HOST = Environment(
    python_version="3.11.2",
    python_implementation="CPython",
    os="Linux-6.1.0-18-amd64-x86_64-with-glibc2.36",
    os_release="Debian GNU/Linux 12 (bookworm)",
    architecture="x86_64",
    cpu_model="AMD EPYC 7B13",
    cpu_cores_logical=8,
    cpu_cores_physical=4,
    memory_bytes=16 * 1024**3,
    hostname="reviewer-laptop",
    user="reviewer",
    started_at="2025-03-01T12:00:00+00:00",
    finished_at="2025-03-01T12:03:14+00:00",
    git=None,
    env_vars=(("LANG", "C.UTF-8"),),
)


def identical(path: str, sha: str = SHA_A) -> OutputCheck:
    """An output that came back bit for bit."""
    return OutputCheck(
        path=path,
        status="identical",
        reason="same SHA-256",
        accepted=True,
        expected_sha256=sha,
        actual_sha256=sha,
        comparator="sha256",
    )


def verification(**changes: object) -> Verification:
    """A reproduced verification of six identical outputs, with the given fields replaced."""
    base = Verification(
        format=VERIFICATION_FORMAT,
        capsule_version="0.1.0",
        capsule_id="5d41402abc4b2a76b9719d911017c592" + "e" * 32,
        capsule_name="paper_figures",
        outcome="reproduced",
        accept="identical",
        tolerances=Tolerances(),
        backend="docker",
        image="python:3.11.2-slim-bookworm",
        image_id="sha256:" + "f" * 64,
        host=HOST,
        started_at="2025-03-01T12:00:00+00:00",
        finished_at="2025-03-01T12:03:14+00:00",
        rerun=RerunRecord(exit_code=0, build_s=41.7, run_s=152.3),
        outputs=tuple(
            identical(path)
            for path in (
                "figures/fig1.png",
                "figures/fig2.png",
                "figures/fig3.pdf",
                "figures/fig4.svg",
                "tables/metrics.csv",
                "tables/summary.txt",
            )
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def write_diff_image(report_dir: Path) -> bytes:
    """A real PNG difference image under report_dir/diffs/; returns its bytes."""
    image = Image.new("RGB", (320, 240), (235, 235, 235))
    draw = ImageDraw.Draw(image)
    draw.line([(20, 200), (120, 120), (200, 150), (300, 40)], fill=(200, 200, 200), width=3)
    draw.rectangle([(150, 60), (210, 110)], fill=(230, 0, 0))
    draw.rectangle([(60, 150), (90, 170)], fill=(255, 160, 0))
    target = report_dir / DIFF_IMAGE
    target.parent.mkdir(parents=True, exist_ok=True)
    image.save(target, format="PNG")
    return target.read_bytes()


def differing(report_dir: Path) -> Verification:
    """Two of six outputs differ (one with a difference image), one is missing, one is extra."""
    write_diff_image(report_dir)
    outputs = (
        identical("figures/fig1.png"),
        OutputCheck(
            path="figures/fig2.png",
            status="differs",
            reason="1,204 of 76,800 pixels differ (max channel delta 87) in x 150..210, y 60..110",
            accepted=False,
            details=(
                "mode RGB → RGB, size 320x240",
                "difference image: diffs/figures__fig2.png.diff.png (red: beyond atol, orange: "
                "within)",
            ),
            artifacts=(DIFF_IMAGE,),
            expected_sha256=SHA_A,
            actual_sha256=SHA_B,
            comparator="png",
        ),
        OutputCheck(
            path="figures/fig3.pdf",
            status="metadata-only",
            reason="same content; only PDF CreationDate and ID differ",
            accepted=False,
            volatile=("PDF CreationDate", "PDF ID"),
            expected_sha256=SHA_B,
            actual_sha256=SHA_C,
            comparator="pdf",
        ),
        OutputCheck(
            path="tables/metrics.csv",
            status="within-tolerance",
            reason="3 of 120 cells differ (max abs 2.4e-07, max rel 1.1e-06)",
            accepted=False,
            details=("row 4, column auc: 0.912345 → 0.9123452",),
            expected_sha256=SHA_C,
            actual_sha256=SHA_A,
            comparator="csv",
        ),
        OutputCheck(
            path="tables/summary.txt",
            status="missing",
            reason="in expected/, but the rerun did not write it",
            accepted=False,
            expected_sha256=SHA_A,
        ),
        OutputCheck(
            path="debug.log",
            status="unexpected",
            reason="written by the rerun, not in expected/",
            accepted=False,
            actual_sha256=SHA_B,
        ),
        identical("figures/fig4.svg"),
    )
    return verification(outcome="differs", outputs=outputs)


def failed() -> Verification:
    """A rerun stopped at its time limit: nothing compared."""
    return verification(
        outcome="failed",
        backend="local",
        image="/usr/bin/python3.11",
        image_id="",
        outputs=(),
        rerun=RerunRecord(
            exit_code=137,
            build_s=12.0,
            run_s=1800.0,
            timed_out=True,
            failure="the rerun hit its time limit (30 min) and was stopped",
            log_tail=("step 2/3: python scripts/train.py", "epoch 41/200 loss=0.3121", "Killed"),
        ),
    )


def rows_in_order(page: str) -> list[str]:
    """The output paths as the page's table lists them."""
    return [html.unescape(p) for p in re.findall(r'<div class="path">(.*?)</div>', page)]


# ── the verdict line ──────────────────────────────────────────────────────────────────────


def test_verdict_reproduced() -> None:
    assert verification_report.verdict_line(verification()) == (
        "Reproduced: all 6 outputs are identical."
    )


def test_verdict_reproduced_under_an_accepted_tier() -> None:
    outputs = (
        identical("a.png"),
        OutputCheck(path="b.pdf", status="metadata-only", reason="dates", accepted=True),
    )
    line = verification_report.verdict_line(verification(accept="metadata", outputs=outputs))
    assert line == (
        "Reproduced with --accept metadata: all 2 outputs match (1 identical, 1 metadata only)."
    )


def test_verdict_differs_names_the_first_problem(tmp_path: Path) -> None:
    line = verification_report.verdict_line(differing(tmp_path))
    assert line.startswith(
        "Not reproduced: 3 of 6 outputs differ and 1 is missing; 1 unexpected output appeared "
        "(figures/fig2.png: 1,204 of 76,800 pixels differ"
    )
    assert line.endswith("; and 4 more).")


def test_verdict_names_a_rerun_that_exited_non_zero() -> None:
    rerun = RerunRecord(exit_code=1, build_s=1, run_s=2)
    line = verification_report.verdict_line(verification(outcome="differs", rerun=rerun))
    assert line == "Not reproduced: the rerun exited with code 1, although all 6 outputs match."
    missing = OutputCheck(path="t.txt", status="missing", reason="not written", accepted=False)
    line = verification_report.verdict_line(
        verification(outcome="differs", rerun=rerun, outputs=(identical("a.png"), missing))
    )
    assert line == (
        "Not reproduced: the rerun exited with code 1; 1 of 2 outputs is missing "
        "(t.txt: not written)."
    )


def test_verdict_failed() -> None:
    assert verification_report.verdict_line(failed()) == (
        "Could not check: the rerun hit its time limit (30 min) and was stopped."
    )


def test_verdict_failed_without_a_failure_text() -> None:
    rerun = RerunRecord(exit_code=0, build_s=1, run_s=65, oom_killed=True)
    line = verification_report.verdict_line(verification(outcome="failed", rerun=rerun))
    assert (
        line == "Could not check: the rerun ran out of memory and was stopped at its memory limit."
    )


def test_the_accept_tier_that_would_pass_is_suggested() -> None:
    pdf = OutputCheck(path="b.pdf", status="metadata-only", reason="dates", accepted=False)
    csv = OutputCheck(path="c.csv", status="within-tolerance", reason="1 cell", accepted=False)
    only_metadata = verification(outcome="differs", outputs=(identical("a.png"), pdf))
    assert "--accept metadata" in verification_report.accept_hint(only_metadata)
    both = replace(only_metadata, outputs=(pdf, csv))
    assert "--accept tolerance" in verification_report.accept_hint(both)
    missing = OutputCheck(path="d.txt", status="missing", reason="", accepted=False)
    assert verification_report.accept_hint(replace(both, outputs=(pdf, missing))) == ""
    assert verification_report.accept_hint(verification()) == ""


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.04, "0.0 s"), (41.7, "41.7 s"), (152.3, "2 min 32 s"), (3725, "1 h 02 min")],
)
def test_durations_read_well(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


# ── the page ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("kind", ["reproduced", "differs", "failed"])
def test_the_page_renders_and_is_self_contained(tmp_path: Path, kind: str) -> None:
    sample = {"reproduced": verification, "differs": lambda: differing(tmp_path), "failed": failed}
    target = verification_report.write_html(sample[kind](), tmp_path)
    assert target == tmp_path / "verification.html"
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.endswith("</html>\n")
    assert "\r" not in page
    for external in ('src="http', 'href="http', "<script", '<link rel="stylesheet" href=', "url("):
        assert external not in page.lower(), external
    assert re.findall(r"(?:src|href)=\"(?!data:image/png;base64,)", page) == []
    assert "default-src 'none'" in page
    assert f"verdict-{ {'differs': 'differs'}.get(kind, kind) }" in page
    head, rest = verification_report.verdict_line(sample[kind]()).split(": ", 1)
    assert f'<h2 class="verdict-word">{html.escape(head)}<' in page
    assert html.escape(rest[1:]) in page


def test_the_difference_image_is_embedded_byte_for_byte(tmp_path: Path) -> None:
    sample = differing(tmp_path)
    original = (tmp_path / DIFF_IMAGE).read_bytes()
    page = verification_report.write_html(sample, tmp_path).read_text(encoding="utf-8")
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 1
    assert base64.b64decode(uris[0], validate=True) == original
    assert 'width="320" height="240"' in page


def test_an_artifact_that_cannot_be_embedded_is_named(tmp_path: Path) -> None:
    sample = differing(tmp_path)
    (tmp_path / DIFF_IMAGE).unlink()
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    checks = [
        replace(check, artifacts=(DIFF_IMAGE, "notes.txt", "../outside.png"))
        if check.path == "figures/fig2.png"
        else check
        for check in sample.outputs
    ]
    page = verification_report.write_html(
        replace(sample, outputs=tuple(checks)), tmp_path
    ).read_text(encoding="utf-8")
    assert "data:image" not in page
    assert f"{DIFF_IMAGE}: not found beside this page" in page
    assert "notes.txt: not embedded (not a PNG image)" in page
    assert "../outside.png: not embedded (not a path inside the report folder)" in page


def test_hostile_text_is_escaped(tmp_path: Path) -> None:
    hostile = OutputCheck(
        path=f"figures/{HOSTILE}.png",
        status="differs",
        reason=f"reason {HOSTILE}",
        accepted=False,
        details=(f"detail {HOSTILE}",),
        volatile=(f"volatile {HOSTILE}",),
    )
    sample = replace(
        failed(),
        capsule_name=HOSTILE,
        image=HOSTILE,
        outputs=(hostile,),
        rerun=replace(failed().rerun, failure=HOSTILE, log_tail=(HOSTILE, '"><img src=x>')),
    )
    page = verification_report.write_html(sample, tmp_path).read_text(encoding="utf-8")
    assert HOSTILE not in page
    assert "<img src=x>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 8


def test_problems_come_first(tmp_path: Path) -> None:
    page = verification_report.write_html(differing(tmp_path), tmp_path).read_text(encoding="utf-8")
    assert rows_in_order(page) == [
        "figures/fig2.png",  # differs
        "tables/summary.txt",  # missing
        "debug.log",  # unexpected
        "tables/metrics.csv",  # within-tolerance
        "figures/fig3.pdf",  # metadata-only
        "figures/fig1.png",  # identical, then by path
        "figures/fig4.svg",
    ]


def test_the_local_backend_says_it_ran_unsandboxed(tmp_path: Path) -> None:
    page = verification_report.write_html(failed(), tmp_path).read_text(encoding="utf-8")
    assert "ran directly on this host" in page
    assert "no container, no sandbox" in page
    assert "epoch 41/200 loss=0.3121\nKilled</pre>" in page
    assert "timed out" in page


def test_the_page_shows_the_facts(tmp_path: Path) -> None:
    page = verification_report.write_html(verification(), tmp_path).read_text(encoding="utf-8")
    for fact in (
        'title="5d41402abc4b2a76b9719d911017c592',
        ">5d41402abc4b<",
        "python:3.11.2-slim-bookworm",
        'title="sha256:ffff',
        "41.7 s",
        "2 min 32 s",
        "2025-03-01 12:00:00 UTC",
        "Debian GNU/Linux 12 (bookworm)",
        "AMD EPYC 7B13 (x86_64)",
        "8 logical, 4 physical",
        "16.0 GiB",
        "CPython 3.11.2",
        "none (exact comparison)",
    ):
        assert fact in page, fact
    # A reviewer may be anonymous: the page names no host or user.
    assert "reviewer-laptop" not in page
    assert ">reviewer<" not in page


def test_the_same_verification_gives_the_same_bytes(tmp_path: Path) -> None:
    first = verification_report.write_html(differing(tmp_path), tmp_path).read_bytes()
    second = verification_report.write_html(differing(tmp_path), tmp_path).read_bytes()
    assert first == second
    assert sorted(p.name for p in tmp_path.iterdir()) == ["diffs", "verification.html"]


def test_an_unwritable_report_folder_is_a_capsule_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(CapsuleError, match="cannot write"):
        verification_report.write_html(verification(), blocker / "report")


# ── in a real browser ─────────────────────────────────────────────────────────────────────


def _screenshot(page: Path, target: Path, width: int, profile: Path) -> None:
    """Render page in headless Chromium at width CSS pixels into target (a PNG)."""
    run_chromium(
        profile,
        "--virtual-time-budget=2000",
        f"--screenshot={target}",
        f"--window-size={width},1600",
        page.as_uri(),
        check=True,
    )


@pytest.mark.browser
def test_the_page_in_headless_chromium(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    samples = {"differs": differing(tmp_path / "differs"), "failed": failed()}
    for kind, sample in samples.items():
        page = verification_report.write_html(sample, tmp_path / kind)
        for width in (1280, 390):
            target = ARTIFACTS / f"verification-{kind}-{width}.png"
            target.unlink(missing_ok=True)
            _screenshot(page, target, width, tmp_path / f"profile-{kind}-{width}")
            assert target.stat().st_size > 0
            with Image.open(target) as shot:
                assert shot.size[0] == width
                colours = shot.convert("RGB").getcolors(maxcolors=1 << 16)
                assert colours is None or len(colours) > 1, f"{target} is blank"

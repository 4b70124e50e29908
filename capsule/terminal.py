"""What the command line prints for people: summaries, tables, errors.

Rich markup and styles belong to capsule's own fixed labels only. Everything that comes from the
user, the analysis or an error (paths, messages, step names) is printed as plain `Text`, so that
`[analysis]` in a message stays `[analysis]` instead of being read as a style.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from capsule.audit import AuditResult
from capsule.build import BuildSummary
from capsule.model import Finding, Severity, Verification
from capsule.observe import Observation
from capsule.plan import PLAN_FILE, Proposal
from capsule.report.lineage import TABLE_COLUMNS, Lineage, render_one, render_table
from capsule.report.verification import verdict_line
from capsule.verify import VERIFICATION_HTML, VerifyResult
from capsule.wording import plural, size_text

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
STATUS_STYLE = {
    "identical": "green",
    "metadata-only": "cyan",
    "within-tolerance": "cyan",
    "differs": "bold red",
    "missing": "bold red",
    "unexpected": "bold red",
}
OUTCOME_STYLE = {"reproduced": "bold green", "differs": "bold red", "failed": "bold yellow"}
LOG_TAIL_LINES = 12  # of a failed rerun's log, shown under the table

NO_FINDINGS = "No findings: nothing threatens this analysis' reproducibility."
NO_OUTPUTS = "{folder}: this capsule records no outputs"
ONE_OUTPUT_HINT = "One output in full: capsule show {folder} OUTPUT"
MORE_INFOS = "{count} of severity info: in the report, and with `capsule audit`"
EMULATED_LINE = (
    "The rerun ran emulated: the capsule was made for {platform}, the Docker engine runs {engine}."
)
NOT_MADE_SHOWN = 8  # outputs on disk that no step made, named by `capsule init`
HOST_DIFFERS_LINE = "This machine differs from the one the capsule was built on:"


def stdout_console() -> Console:
    """The console for results: no highlighting, no emoji codes, long lines left unwrapped."""
    return Console(highlight=False, soft_wrap=True, emoji=False)


def stderr_console() -> Console:
    """The console for errors, as stdout_console but on stderr."""
    return Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def print_error(err: Console, message: str, hint: str) -> None:
    """`error: MESSAGE` and, when there is one, `hint: HINT`; the texts are never read as markup."""
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    if hint:
        err.print(Text.assemble(("hint:", "bold"), " ", hint))


def print_proposal(
    path: Path, proposal: Proposal, observation: Observation | None, out: Console
) -> None:
    """What `capsule init` wrote: the steps, data and outputs (seen or guessed), what it left
    out, and outputs on disk that the run did not make."""
    plan = proposal.plan
    out.print(f"Wrote {path / PLAN_FILE} with {plural(len(plan.steps), 'step')}:", markup=False)
    for index, step in enumerate(plan.steps, start=1):
        what = step.path or " ".join(step.args)
        where = f", run from {step.cwd}/" if step.cwd else ""
        out.print(f"  {index}. {step.name} ({step.kind}: {what}{where})", markup=False)
    if observation is None:
        out.print("  from file and folder names (--no-run):", markup=False)
        out.print(f"  data:    {', '.join(plan.data) or '(none found)'}", markup=False)
        out.print(f"  outputs: {', '.join(plan.outputs) or '(none found)'}", markup=False)
    else:
        out.print("  as the steps' run showed:", markup=False)
        data = plural(len(observation.data), "file")
        made = plural(len(observation.outputs), "file")
        out.print(
            f"  data:    {data} read, never written: {', '.join(plan.data) or '-'}", markup=False
        )
        out.print(f"  outputs: {made} written: {', '.join(plan.outputs) or '-'}", markup=False)
        if observation.not_made:
            shown = ", ".join(observation.not_made[:NOT_MADE_SHOWN])
            more = len(observation.not_made) - NOT_MADE_SHOWN
            shown += f" and {more} more" if more > 0 else ""
            out.print(f"  on disk, but no step made them: {shown}", markup=False)
    if proposal.left_out:
        skipped = ", ".join(
            f"{folder}/ ({why})" for folder, why in sorted(proposal.left_out.items())
        )
        out.print(f"  no steps looked for in: {skipped}", markup=False)
    out.print(f"Review it, then run: capsule build {path}", markup=False)


def print_build_summary(summary: BuildSummary, out: Console) -> None:
    """The closing lines of `capsule build`: the capsule, its id, counts, and findings."""
    counts: dict[str, int] = {}
    for status in summary.on_disk.values():
        counts[status] = counts.get(status, 0) + 1
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    built = (
        f"; built from local source: {', '.join(summary.built_pins)}" if summary.built_pins else ""
    )
    out.print()
    out.print(Text.assemble(("capsule", "bold"), " ", summary.capsule))
    lines = (
        f"  id        sha256:{summary.capsule_id}",
        f"  outputs   {summary.outputs} ({statuses or 'none'}; against the copies on disk)",
        f"  packages  {summary.pins} pinned with hashes, wheels vendored{built}",
        f"  files     {summary.files} packaged, data {size_text(summary.data_bytes)}",
    )
    for line in lines:
        out.print(line, markup=False)
    infos = [f for f in summary.findings if f.severity == "info"]
    for finding in summary.findings:
        if finding.severity != "info":
            out.print(
                Text.assemble(
                    "  ",
                    (finding.severity, SEVERITY_STYLE[finding.severity]),
                    "  ",
                    finding.message,
                )
            )
    if infos:
        more = MORE_INFOS.format(count=plural(len(infos), "more finding"))
        out.print(f"  {more}", markup=False)
    out.print(f"Verify it with: capsule verify {summary.capsule}", markup=False)


def print_findings(result: AuditResult, out: Console) -> None:
    """The findings of `capsule audit`, grouped by severity, and whether the audit fails."""
    if not result.findings:
        out.print()
        out.print(Text(NO_FINDINGS, style="green"))
        return
    for severity in SEVERITIES:
        group = [f for f in result.findings if f.severity == severity]
        if group:
            out.print()
            out.print(Text(f"{severity}s ({len(group)})", style=SEVERITY_STYLE[severity]))
            out.print(_findings_table(group))
    summary = ", ".join(
        plural(
            sum(1 for f in result.findings if f.severity == severity),
            severity,
            "info" if severity == "info" else "",
        )
        for severity in SEVERITIES
    )
    verdict = "fails" if result.failed else "passes"
    out.print(f"\n{summary}; the audit {verdict} at --fail-on {result.fail_on}", markup=False)


def _findings_table(group: Sequence[Finding]) -> Table:
    """Where and what, one row per finding, with its fix dimmed under the message."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column("where", overflow="fold", max_width=40)
    table.add_column("what", overflow="fold")
    for finding in group:
        what = Text(f"{finding.message}  [{finding.check}]")
        if finding.fix:
            what.append(f"\nfix: {finding.fix}", style="dim")
        table.add_row(Text(finding.location or "-"), what)
    return table


def print_verification(result: VerifyResult, out: Console) -> None:
    """The table of `capsule verify`: each output's status, then the verdict and the report."""
    verification = result.verification
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("status")
    table.add_column("output")
    table.add_column("why", overflow="fold")
    for check in verification.outputs:
        table.add_row(
            Text(check.status, style=STATUS_STYLE[check.status]),
            Text(check.path),
            Text("" if check.status == "identical" else check.reason),
        )
    out.print()
    out.print(table)
    if verification.rerun.failure:
        out.print()
        out.print(Text(verification.rerun.failure, style="bold red"))
        for line in verification.rerun.log_tail[-LOG_TAIL_LINES:]:
            out.print(f"  {line}", markup=False)
    _print_rerun_place(verification, out)
    out.print()
    out.print(Text(verdict_line(verification), style=OUTCOME_STYLE[verification.outcome]))
    out.print(
        f"capsule sha256:{verification.capsule_id} · backend {verification.backend}"
        f" · {verification.image}"
        + (f" · {verification.rerun_python}" if verification.backend == "docker" else ""),
        markup=False,
    )
    out.print(f"report: {result.report_dir / VERIFICATION_HTML}", markup=False)


def _print_rerun_place(verification: Verification, out: Console) -> None:
    """Where the rerun differed from the build's machine: emulation, the host's differences."""
    if verification.emulated:
        out.print()
        out.print(
            Text(
                EMULATED_LINE.format(
                    platform=verification.platform, engine=verification.rerun_platform
                ),
                style="yellow",
            )
        )
    if verification.host_differences:
        out.print()
        out.print(Text(HOST_DIFFERS_LINE, style="yellow"))
        for difference in verification.host_differences:
            out.print(
                f"  {difference.what}: capsule {difference.capsule}, this machine "
                f"{difference.host}",
                markup=False,
            )


def print_lineages(folder: Path, lineages: Sequence[Lineage], one: bool, out: Console) -> None:
    """`capsule show`: one output in full when `one`, else a table with a line per output."""
    if one:
        out.print(render_one(lineages[0]).rstrip("\n"), markup=False)
        return
    if not lineages:
        out.print(NO_OUTPUTS.format(folder=folder), markup=False)
        return
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    for column in TABLE_COLUMNS:
        table.add_column(column, overflow="fold")
    for row in render_table(lineages):
        table.add_row(*(Text(cell) for cell in row))
    out.print(table)
    out.print()
    out.print(ONE_OUTPUT_HINT.format(folder=folder), markup=False)

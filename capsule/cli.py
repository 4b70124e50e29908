"""The command line: parse arguments, make one call into the core, map the result to output.

Exit codes (as diff(1)): 0 success; 1 outputs differ, or audit findings at the failing level;
2 bad input or usage; 3 the machine lacks something (no Docker engine, no base image).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from capsule import __version__
from capsule.audit import AuditOptions, AuditResult, audit
from capsule.build import BuildOptions, BuildSummary, build
from capsule.errors import EXIT_DIFFERS, EXIT_OK, CapsuleError
from capsule.manifest import MANIFEST_FILE
from capsule.manifest import read as read_manifest
from capsule.model import RunLimits, Tolerances
from capsule.plan import PLAN_FILE, propose
from capsule.progress import Progress
from capsule.report.lineage import (
    TABLE_COLUMNS,
    Lineage,
    all_lineages,
    lineage,
    render_one,
    render_table,
    to_json,
)
from capsule.report.methods_report import render_report, write_report
from capsule.report.verification import verdict_line
from capsule.verify import VERIFICATION_HTML, VERIFICATION_JSON, VerifyOptions, VerifyResult, verify

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  outputs differ (verify), or findings at the failing level (audit)
  2  bad input or usage, or a damaged capsule
  3  the machine lacks something: no Docker engine, no base image
"""

VERIFY_EXIT_CODES_HELP = """\
exit codes:
  0  every output is identical (or accepted under --accept)
  1  outputs differ, are missing, or are unexpected
  2  could not check: a damaged or tampered capsule, a limit exceeded, bad input
  3  the machine lacks something: no Docker engine, a missing base image
"""

AUDIT_EXIT_CODES_HELP = """\
exit codes:
  0  no finding reaches --fail-on (default: error)
  1  a finding reaches --fail-on
  2  bad input: not a folder, a bad capsule.toml, a step that fails
"""

Handler = Callable[[argparse.Namespace, Console], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the capsule command line with argv (default: sys.argv[1:]); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    handler: Handler = args.handler
    try:
        return handler(args, out)
    except CapsuleError as error:
        if args.debug:
            traceback.print_exc()
        err.print(f"[bold red]error:[/bold red] {error.message}", markup=True)
        if error.hint:
            err.print(f"[bold]hint:[/bold] {error.hint}", markup=True)
        return error.exit_code
    except KeyboardInterrupt:
        err.print("interrupted: nothing was written")
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capsule",
        description="Turn a finished analysis into a research capsule that rebuilds and "
        "verifies bit-for-bit.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"capsule {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    init = commands.add_parser(
        "init",
        parents=[common],
        help=f"propose a {PLAN_FILE} for an analysis folder",
        description=f"Detect the steps, data and outputs of an analysis and write {PLAN_FILE} "
        "into it for the author to review.",
    )
    init.add_argument("path", type=Path, help="the analysis folder")
    init.add_argument("--force", action="store_true", help=f"replace an existing {PLAN_FILE}")
    init.add_argument(
        "--stdout", action="store_true", help=f"print the proposal instead of writing {PLAN_FILE}"
    )
    init.set_defaults(handler=_init)

    build_ = commands.add_parser(
        "build",
        parents=[common],
        help="run the analysis and package it as a capsule",
        description="Run the analysis in a scratch copy, pin what ran, and write the capsule.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build_.add_argument("path", type=Path, help="the analysis folder")
    build_.add_argument(
        "-o", "--output", type=Path, help="the capsule folder to write (default: ./NAME.capsule)"
    )
    build_.add_argument("--force", action="store_true", help="replace an existing capsule")
    build_.add_argument(
        "--python", default="", help="the interpreter the steps run with (default: this one)"
    )
    build_.add_argument(
        "--base-image",
        default="",
        help="the image the Dockerfile starts from (default: python:X.Y.Z-slim-bookworm)",
    )
    build_.add_argument("--json", action="store_true", help="print the summary as JSON")
    build_.set_defaults(handler=_build)

    verify_ = commands.add_parser(
        "verify",
        parents=[common],
        help="rebuild a capsule, rerun it and compare every output bit-for-bit",
        description="Check every file of a capsule against its manifest, rebuild it with no "
        "network (in a container, or a local virtual environment), rerun the analysis and "
        "compare each output with expected/. Exit 0 only if every output is identical (or "
        "accepted under --accept).",
        epilog=VERIFY_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verify_.add_argument("capsule", type=Path, help="the capsule folder (NAME.capsule)")
    verify_.add_argument(
        "--backend",
        choices=("docker", "local"),
        help="docker (default when an engine answers) or local: a virtual environment on this "
        "machine, no sandbox",
    )
    verify_.add_argument("--base-image", default="", help="build FROM this image instead")
    verify_.add_argument(
        "--report-dir",
        type=Path,
        help="where to write verification.json and .html "
        "(default: NAME.verification beside the capsule)",
    )
    verify_.add_argument(
        "--keep", action="store_true", help="keep the rerun's outputs and logs in the report folder"
    )
    verify_.add_argument(
        "--accept",
        choices=("metadata", "tolerance"),
        help="also count outputs that differ only in volatile metadata (metadata), or also "
        "within the tolerances (tolerance), as reproduced",
    )
    verify_.add_argument("--rtol", type=float, default=0.0, help="relative tolerance for numbers")
    verify_.add_argument(
        "--atol",
        type=float,
        default=0.0,
        help="absolute tolerance for numbers (and per pixel channel, 0-255)",
    )
    verify_.add_argument("--pixels", type=int, default=0, help="how many pixels may differ")
    verify_.add_argument("--memory", default="4g", help="memory limit of the container (4g)")
    verify_.add_argument("--pids", type=int, default=512, help="process limit of the container")
    verify_.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before the rerun is stopped (1800)"
    )
    verify_.add_argument("--json", action="store_true", help="print verification.json instead")
    verify_.set_defaults(handler=_verify)

    show = commands.add_parser(
        "show",
        parents=[common],
        help="show which code, data and process made each output of a capsule",
        description="Read a capsule's manifest and show the lineage of its outputs: the step, "
        "process and line of code that wrote each one, the files it had read, and the original "
        "data it derives from. With no OUTPUT, one line per output.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("capsule", type=Path, help="the capsule folder (NAME.capsule)")
    show.add_argument(
        "output", nargs="?", default="", help="an output, as its path in expected/ (default: all)"
    )
    show.add_argument("--json", action="store_true", help="print the lineage as JSON")
    show.set_defaults(handler=_show)

    report_ = commands.add_parser(
        "report",
        parents=[common],
        help="render a capsule's methods report again (HTML, Markdown or LaTeX)",
        description="Render the methods report from the capsule alone (capsule.json, expected/, "
        "logs/), including verification.json from NAME.verification/ beside it when present.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report_.add_argument("capsule", type=Path, help="the capsule folder (NAME.capsule)")
    report_.add_argument("--format", dest="fmt", choices=("html", "md", "tex"), default="html")
    report_.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="file to write, '-' for stdout (default: report.html, methods.md or methods.tex "
        "in the capsule)",
    )
    report_.add_argument(
        "--verification",
        type=Path,
        default=None,
        help="a verification.json or its folder (default: NAME.verification/ beside the capsule)",
    )
    report_.set_defaults(handler=_report)

    audit_ = commands.add_parser(
        "audit",
        parents=[common],
        help="find what threatens an analysis' reproducibility, and say how to fix it",
        description="Check an analysis for unpinned or undeclared packages, unseeded randomness, "
        "absolute paths, network access, time in outputs, unordered iteration, hidden notebook "
        "state, the git state and secrets; then run it several times, varying one thing at a "
        "time, and report which outputs change. The analysis folder is never modified.",
        epilog=AUDIT_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    audit_.add_argument("path", type=Path, help="the analysis folder")
    audit_.add_argument(
        "--runs",
        type=int,
        default=2,
        help="identical runs the determinism probe compares (default 2; 0: static checks only, "
        "nothing is run)",
    )
    audit_.add_argument(
        "--vary",
        action="append",
        metavar="VARIATION",
        help="vary only this (repeatable): hash-seed, time-zone, locale, folder-path, "
        "thread-count, source-date (default: all)",
    )
    audit_.add_argument(
        "--fail-on",
        choices=("error", "warning", "info", "never"),
        default="error",
        help="exit 1 when a finding reaches this severity (default: error)",
    )
    audit_.add_argument("--python", default="", help="the interpreter the steps run with")
    audit_.add_argument("--json", action="store_true", help="print the findings as JSON")
    audit_.set_defaults(handler=_audit)
    return parser


def _init(args: argparse.Namespace, out: Console) -> int:
    plan, text = propose(args.path, force=args.force, write=not args.stdout)
    if args.stdout:
        sys.stdout.write(text)
        return EXIT_OK
    out.print(f"Wrote {args.path / PLAN_FILE} with {len(plan.steps)} step(s):")
    for index, step in enumerate(plan.steps, start=1):
        what = step.path or " ".join(step.args)
        out.print(f"  {index}. {step.name} ({step.kind}: {what})")
    out.print(f"  data:    {', '.join(plan.data) or '(none found)'}")
    out.print(f"  outputs: {', '.join(plan.outputs) or '(none found)'}")
    out.print(f"Review it, then run: capsule build {args.path}")
    return EXIT_OK


def _build(args: argparse.Namespace, out: Console) -> int:
    source: Path = args.path
    output: Path = args.output or Path(f"{source.resolve().name}.capsule")
    options = BuildOptions(
        source=source,
        output=output,
        force=args.force,
        python=args.python,
        base_image=args.base_image,
    )
    summary = build(options, Progress(enabled=not args.json))
    if args.json:
        sys.stdout.write(json.dumps(dataclasses.asdict(summary), indent=2, sort_keys=True) + "\n")
    else:
        _print_summary(summary, out)
    return EXIT_OK


def _verify(args: argparse.Namespace, out: Console) -> int:
    options = VerifyOptions(
        capsule=args.capsule,
        backend=args.backend,
        base_image=args.base_image,
        report_dir=args.report_dir,
        keep=args.keep,
        accept=args.accept or "identical",
        tolerances=Tolerances(rtol=args.rtol, atol=args.atol, pixels=args.pixels),
        limits=RunLimits(memory=args.memory, pids=args.pids, timeout_s=args.timeout),
    )
    result = verify(options, Progress(enabled=not args.json))
    if args.json:
        sys.stdout.write((result.report_dir / VERIFICATION_JSON).read_text(encoding="utf-8"))
    else:
        _print_verification(result, out)
    return result.exit_code


def _show(args: argparse.Namespace, out: Console) -> int:
    folder: Path = args.capsule
    if folder.name == MANIFEST_FILE:  # `capsule show NAME.capsule/capsule.json` means the folder
        folder = folder.parent
    the_manifest = read_manifest(folder)  # ManifestError (exit 2) unless a capsule folder
    # an unknown OUTPUT raises LineageError (exit 2), its hint naming the closest outputs
    lineages: tuple[Lineage, ...] = (
        (lineage(the_manifest, args.output),) if args.output else all_lineages(the_manifest)
    )
    if args.json:
        sys.stdout.write(to_json(lineages))
    elif args.output:
        out.print(render_one(lineages[0]).rstrip("\n"), markup=False)
    elif not lineages:
        out.print(f"{folder}: this capsule records no outputs", markup=False)
    else:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in TABLE_COLUMNS:
            table.add_column(column, overflow="fold")
        for row in render_table(lineages):
            table.add_row(*(Text(cell) for cell in row))
        out.print(table)
        out.print(f"\nOne output in full: capsule show {folder} OUTPUT", markup=False)
    return EXIT_OK


def _report(args: argparse.Namespace, out: Console) -> int:
    if args.output == Path("-"):
        sys.stdout.write(render_report(args.capsule, fmt=args.fmt, verification=args.verification))
        return EXIT_OK
    written = write_report(args.capsule, args.output, fmt=args.fmt, verification=args.verification)
    out.print(f"Wrote {written}", markup=False)
    return EXIT_OK


SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _audit(args: argparse.Namespace, out: Console) -> int:
    options = AuditOptions(
        source=args.path,
        runs=args.runs,
        variations=tuple(args.vary) if args.vary else None,
        fail_on=args.fail_on,
        python=args.python,
    )
    result = audit(options, Progress(enabled=not args.json))
    if args.json:
        data = {
            "fail_on": result.fail_on,
            "failed": result.failed,
            "findings": [dataclasses.asdict(f) for f in result.findings],
        }
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    else:
        _print_findings(result, out)
    return EXIT_DIFFERS if result.failed else EXIT_OK


def _print_findings(result: AuditResult, out: Console) -> None:
    if not result.findings:
        out.print("\n[green]No findings: nothing threatens this analysis' reproducibility.[/green]")
        return
    for severity in ("error", "warning", "info"):
        group = [f for f in result.findings if f.severity == severity]
        if not group:
            continue
        style = SEVERITY_STYLE[severity]
        out.print(f"\n[{style}]{severity}s ({len(group)})[/{style}]")
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column("where", overflow="fold", max_width=40)
        table.add_column("what", overflow="fold")
        for finding in group:
            what = Text(f"{finding.message}  [{finding.check}]")
            if finding.fix:
                what.append(f"\nfix: {finding.fix}", style="dim")
            table.add_row(Text(finding.location or "-"), what)
        out.print(table)
    counts = {
        s: sum(1 for f in result.findings if f.severity == s) for s in ("error", "warning", "info")
    }
    summary = ", ".join(
        f"{n} {s}" + ("s" if n != 1 and s != "info" else "") for s, n in counts.items()
    )
    verdict = "fails" if result.failed else "passes"
    out.print(f"\n{summary}; the audit {verdict} at --fail-on {result.fail_on}")


STATUS_STYLE = {
    "identical": "green",
    "metadata-only": "cyan",
    "within-tolerance": "cyan",
    "differs": "bold red",
    "missing": "bold red",
    "unexpected": "bold red",
}


def _print_verification(result: VerifyResult, out: Console) -> None:
    verification = result.verification
    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("status")
    table.add_column("output")
    table.add_column("why", overflow="fold")
    for check in verification.outputs:
        style = STATUS_STYLE[check.status]
        table.add_row(
            f"[{style}]{check.status}[/{style}]",
            check.path,
            "" if check.status == "identical" else check.reason,
        )
    out.print()
    out.print(table)
    if verification.rerun.failure:
        out.print(f"\n[bold red]{verification.rerun.failure}[/bold red]")
        for line in verification.rerun.log_tail[-12:]:
            out.print(f"  {line}", markup=False)
    colour = {"reproduced": "green", "differs": "red", "failed": "yellow"}[verification.outcome]
    out.print(f"\n[bold {colour}]{verdict_line(verification)}[/bold {colour}]")
    out.print(
        f"capsule sha256:{verification.capsule_id} · backend {verification.backend}"
        f" · {verification.image}"
    )
    out.print(f"report: {result.report_dir / VERIFICATION_HTML}")


def _print_summary(summary: BuildSummary, out: Console) -> None:
    counts: dict[str, int] = {}
    for status in summary.on_disk.values():
        counts[status] = counts.get(status, 0) + 1
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    built = (
        f"; built from local source: {', '.join(summary.built_pins)}" if summary.built_pins else ""
    )
    out.print(f"\n[bold]capsule[/bold] {summary.capsule}")
    out.print(f"  id        sha256:{summary.capsule_id}")
    out.print(f"  outputs   {summary.outputs} ({statuses or 'none'}; against the copies on disk)")
    out.print(f"  packages  {summary.pins} pinned with hashes, wheels vendored{built}")
    out.print(f"  files     {summary.files} packaged, data {_size(summary.data_bytes)}")
    infos = [f for f in summary.findings if f.severity == "info"]
    for finding in summary.findings:
        if finding.severity != "info":
            style = SEVERITY_STYLE[finding.severity]
            out.print(f"  [{style}]{finding.severity}[/{style}]  ", end="")
            out.print(finding.message, markup=False)
    if infos:
        out.print(
            f"  {len(infos)} more finding(s) of severity info: in the report, and with "
            "`capsule audit`",
            markup=False,
        )
    out.print(f"Verify it with: capsule verify {summary.capsule}")


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


if __name__ == "__main__":
    sys.exit(main())

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

from capsule import __version__
from capsule.build import BuildOptions, BuildSummary, build
from capsule.errors import EXIT_OK, CapsuleError
from capsule.plan import PLAN_FILE, propose
from capsule.progress import Progress

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  outputs differ (verify), or findings at the failing level (audit)
  2  bad input or usage, or a damaged capsule
  3  the machine lacks something: no Docker engine, no base image
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
    for finding in summary.findings:
        out.print(f"  [yellow]{finding.severity}[/yellow]  {finding.message}")
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

"""The command line: parse arguments, make one call into the core, map the result to output.

One `_add_VERB` function per command adds its subparser; its handler `_VERB` makes one call into
the core and maps the result to output (capsule/terminal.py for people, capsule/json_output.py
for --json) and an exit code.

Exit codes (as diff(1)): 0 success; 1 outputs differ, or audit findings at the failing level;
2 bad input or usage, or an internal error (a bug in capsule); 3 the machine lacks something
(no Docker engine, no base image). A bug never exits 1, which is a verdict.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeAlias

from rich.console import Console

from capsule import __version__, json_output, observe, terminal
from capsule.audit import AuditOptions, audit
from capsule.backends import BACKENDS
from capsule.build import BuildOptions, build
from capsule.errors import EXIT_DIFFERS, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, CapsuleError
from capsule.manifest import MANIFEST_FILE
from capsule.manifest import read as read_manifest
from capsule.model import RunLimits, Tolerances
from capsule.naming import default_capsule_path
from capsule.plan import PLAN_FILE, propose
from capsule.progress import Progress
from capsule.report.lineage import Lineage, all_lineages, lineage, to_json
from capsule.report.methods_report import render_report, write_report
from capsule.verify import VERIFICATION_JSON, VerifyOptions, verify

EXIT_CODES_HELP = """\
exit codes:
  0  success
  1  outputs differ (verify), or findings at the failing level (audit)
  2  bad input or usage, a damaged capsule, or an internal error (rerun with --debug)
  3  the machine lacks something: no Docker engine, no base image
"""

VERIFY_EXIT_CODES_HELP = """\
exit codes:
  0  every output is identical (or accepted under --accept)
  1  outputs differ, are missing, or are unexpected
  2  could not check: a damaged or tampered capsule, a limit exceeded, bad input,
     or an internal error (rerun with --debug)
  3  the machine lacks something: no Docker engine, a missing base image
"""

AUDIT_EXIT_CODES_HELP = """\
exit codes:
  0  no finding reaches --fail-on (default: error)
  1  a finding reaches --fail-on
  2  bad input: not a folder, a bad capsule.toml, a step that fails;
     or an internal error (rerun with --debug)
"""

DEBUG_HELP = "show tracebacks of errors"
INTERNAL_ERROR = "internal error: {kind}"
INTERNAL_ERROR_WITH_MESSAGE = "internal error: {kind}: {message}"
INTERNAL_HINT = "rerun with --debug to see the traceback, and report it to capsule's developers"
INTERNAL_HINT_DEBUG = "report it to capsule's developers, with the traceback above"
INTERRUPTED = "interrupted: nothing was written"

Handler = Callable[[argparse.Namespace, Console], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the capsule command line with argv (default: sys.argv[1:]); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    out = terminal.stdout_console()
    err = terminal.stderr_console()
    handler: Handler = args.handler
    try:
        return handler(args, out)
    except CapsuleError as error:
        return _fail(args, err, error, error.message, error.hint, error.exit_code)
    except KeyboardInterrupt:
        err.print(INTERRUPTED, markup=False)
        return EXIT_INTERRUPTED
    # Anything else is a bug in capsule: say so, rather than let Python exit 1, the verdict
    # "outputs differ".
    except Exception as error:
        hint = INTERNAL_HINT_DEBUG if args.debug else INTERNAL_HINT
        return _fail(args, err, error, internal_error_message(error), hint, EXIT_INTERNAL)


def internal_error_message(error: BaseException) -> str:
    """`internal error: TYPE: MESSAGE` for an exception that is not a CapsuleError."""
    kind = type(error).__name__
    if str(error):
        return INTERNAL_ERROR_WITH_MESSAGE.format(kind=kind, message=error)
    return INTERNAL_ERROR.format(kind=kind)


def _fail(
    args: argparse.Namespace,
    err: Console,
    error: BaseException,
    message: str,
    hint: str,
    exit_code: int,
) -> int:
    """Report an error on stderr (and as a JSON object on stdout under --json); return the code."""
    if args.debug:
        traceback.print_exception(error)
    terminal.print_error(err, message, hint)
    if getattr(args, "json", False):
        sys.stdout.write(json_output.error_json(message, hint, exit_code))
    return exit_code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capsule",
        description="Turn a finished analysis into a research capsule that rebuilds and "
        "verifies bit-for-bit.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"capsule {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    # --debug after the verb too; SUPPRESS so that leaving it out there keeps `capsule --debug`
    # (a subparser's defaults would overwrite the value the main parser set).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in (_add_init, _add_build, _add_verify, _add_show, _add_report, _add_audit):
        add(commands, common)
    return parser


def _command(
    commands: Commands,
    common: argparse.ArgumentParser,
    name: str,
    handler: Handler,
    *,
    help_: str,
    description: str,
    epilog: str | None = EXIT_CODES_HELP,
) -> argparse.ArgumentParser:
    """Add the subparser of one verb, with --debug and the handler it runs."""
    sub = commands.add_parser(
        name,
        parents=[common],
        help=help_,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(handler=handler)
    return sub


# ── init ──────────────────────────────────────────────────────────────────────────────────


def _add_init(commands: Commands, common: argparse.ArgumentParser) -> None:
    init = _command(
        commands,
        common,
        "init",
        _init,
        help_=f"propose a {PLAN_FILE} for an analysis folder",
        description=f"Find the steps of an analysis, run them once in a scratch copy to see "
        f"which files they read (data) and write (outputs), and write {PLAN_FILE} into it for "
        "the author to review.",
        epilog=None,
    )
    init.add_argument("path", type=Path, help="the analysis folder")
    init.add_argument("--force", action="store_true", help=f"replace an existing {PLAN_FILE}")
    init.add_argument(
        "--stdout", action="store_true", help=f"print the proposal instead of writing {PLAN_FILE}"
    )
    init.add_argument(
        "--no-run",
        action="store_true",
        help="do not run the steps: guess data and outputs from folder and file names",
    )
    init.add_argument(
        "--python", default="", help="the interpreter the steps run with (default: this one)"
    )


def _init(args: argparse.Namespace, out: Console) -> int:
    write = not args.stdout
    if args.no_run:
        proposal, observation = propose(args.path, force=args.force, write=write), None
    else:
        progress = Progress(enabled=not args.stdout)
        with progress.stage("Running the steps once to see what they read and write"):
            proposal, observation = observe.propose(
                args.path,
                force=args.force,
                write=write,
                python=args.python,
                on_step=lambda i, step: progress.say(f"{i} {step.name}"),
            )
    if args.stdout:
        sys.stdout.write(proposal.text)
    else:
        terminal.print_proposal(args.path, proposal, observation, out)
    return EXIT_OK


# ── build ─────────────────────────────────────────────────────────────────────────────────


def _add_build(commands: Commands, common: argparse.ArgumentParser) -> None:
    build_ = _command(
        commands,
        common,
        "build",
        _build,
        help_="run the analysis and package it as a capsule",
        description="Run the analysis in a scratch copy, pin what ran, and write the capsule.",
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
    build_.add_argument(
        "--embed-base-image",
        action="store_true",
        help="save the base image into the capsule (base-image.tar, from the Docker engine), so "
        "verify rebuilds it with no registry",
    )
    build_.add_argument("--json", action="store_true", help="print the summary as JSON")


def _build(args: argparse.Namespace, out: Console) -> int:
    options = BuildOptions(
        source=args.path,
        output=args.output or default_capsule_path(args.path),
        force=args.force,
        python=args.python,
        base_image=args.base_image,
        embed_base_image=args.embed_base_image,
    )
    summary = build(options, Progress(enabled=not args.json))
    if args.json:
        sys.stdout.write(json_output.build_json(summary))
    else:
        terminal.print_build_summary(summary, out)
    return EXIT_OK


# ── verify ────────────────────────────────────────────────────────────────────────────────


def _add_verify(commands: Commands, common: argparse.ArgumentParser) -> None:
    verify_ = _command(
        commands,
        common,
        "verify",
        _verify,
        help_="rebuild a capsule, rerun it and compare every output bit-for-bit",
        description="Check every file of a capsule against its manifest, rebuild it with no "
        "network (in a container, or a local virtual environment), rerun the analysis and "
        "compare each output with expected/. Exit 0 only if every output is identical (or "
        "accepted under --accept).",
        epilog=VERIFY_EXIT_CODES_HELP,
    )
    verify_.add_argument("capsule", type=Path, help="the capsule folder (NAME.capsule)")
    verify_.add_argument(
        "--backend",
        choices=sorted(BACKENDS),
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
    _add_verify_comparison(verify_)
    _add_verify_limits(verify_)
    verify_.add_argument("--json", action="store_true", help="print verification.json instead")


def _add_verify_comparison(verify_: argparse.ArgumentParser) -> None:
    """--accept and the tolerances it uses."""
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


def _add_verify_limits(verify_: argparse.ArgumentParser) -> None:
    """The sandbox's limits on the rerun."""
    verify_.add_argument("--memory", default="4g", help="memory limit of the container (4g)")
    verify_.add_argument("--pids", type=int, default=512, help="process limit of the container")
    verify_.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds before the rerun is stopped (1800)"
    )


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
        terminal.print_verification(result, out)
    return result.exit_code


# ── show ──────────────────────────────────────────────────────────────────────────────────


def _add_show(commands: Commands, common: argparse.ArgumentParser) -> None:
    show = _command(
        commands,
        common,
        "show",
        _show,
        help_="show which code, data and process made each output of a capsule",
        description="Read a capsule's manifest and show the lineage of its outputs: the step, "
        "process and line of code that wrote each one, the files it had read, and the original "
        "data it derives from. With no OUTPUT, one line per output.",
    )
    show.add_argument("capsule", type=Path, help="the capsule folder (NAME.capsule)")
    show.add_argument(
        "output", nargs="?", default="", help="an output, as its path in expected/ (default: all)"
    )
    show.add_argument("--json", action="store_true", help="print the lineage as JSON")


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
    else:
        terminal.print_lineages(folder, lineages, bool(args.output), out)
    return EXIT_OK


# ── report ────────────────────────────────────────────────────────────────────────────────


def _add_report(commands: Commands, common: argparse.ArgumentParser) -> None:
    report_ = _command(
        commands,
        common,
        "report",
        _report,
        help_="render a capsule's methods report again (HTML, Markdown or LaTeX)",
        description="Render the methods report from the capsule alone (capsule.json, expected/, "
        "logs/), including verification.json from NAME.verification/ beside it when present.",
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


def _report(args: argparse.Namespace, out: Console) -> int:
    if args.output == Path("-"):
        sys.stdout.write(render_report(args.capsule, fmt=args.fmt, verification=args.verification))
        return EXIT_OK
    written = write_report(args.capsule, args.output, fmt=args.fmt, verification=args.verification)
    out.print(f"Wrote {written}", markup=False)
    return EXIT_OK


# ── audit ─────────────────────────────────────────────────────────────────────────────────


def _add_audit(commands: Commands, common: argparse.ArgumentParser) -> None:
    audit_ = _command(
        commands,
        common,
        "audit",
        _audit,
        help_="find what threatens an analysis' reproducibility, and say how to fix it",
        description="Check an analysis for unpinned or undeclared packages, unseeded randomness, "
        "absolute paths, network access, time in outputs, unordered iteration, hidden notebook "
        "state, the git state and secrets; then run it several times, varying one thing at a "
        "time, and report which outputs change. The analysis folder is never modified.",
        epilog=AUDIT_EXIT_CODES_HELP,
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
        sys.stdout.write(json_output.audit_json(result))
    else:
        terminal.print_findings(result, out)
    return EXIT_DIFFERS if result.failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

"""Checks on what a build's run used of the operating system: programs, libraries and fonts
that the rerun's image may lack."""

from __future__ import annotations

from collections.abc import Iterator

from capsule import system as systems
from capsule.checks.context import AuditContext, Check
from capsule.model import Finding, SystemEnvironment

UNOWNED_FIX = (
    "install it from a system package (fonts: a fonts-* package), or copy the file into the "
    "analysis and use it from there"
)
NOT_OBSERVED_FIX = "install strace (Debian: apt-get install strace) and build again"
NOT_DEBIAN_FIX = "build on Debian or Ubuntu, or install the programs in the base image yourself"
RERUN_PYTHON_FIX = (
    "build where a Docker engine has the base image (docker pull it, or --base-image an image "
    "made by scripts/make-base-image.sh)"
)
UNVENDORED_FIX = (
    "check that apt can download these versions (apt-get download NAME=VERSION), or upgrade "
    "the packages on this machine and build again"
)


def _system(ctx: AuditContext) -> SystemEnvironment | None:
    """The build's system section, if this is a build."""
    if ctx.run is None or ctx.run.build is None:
        return None
    return ctx.run.build.system


def system_file_unowned(ctx: AuditContext) -> Iterator[Finding]:
    """A file outside the analysis that no system package owns: the rerun will not have it."""
    section = _system(ctx)
    if section is None:
        return
    for unowned in systems.reported(section.unowned):
        who = unowned.used_by[0] if unowned.used_by else None
        by = f" by {who.program} in step {who.step!r}" if who else ""
        yield Finding(
            check="system-file-unowned",
            severity="warning",
            message=f"{unowned.path} was used{by} and belongs to no system package: "
            "the rerun's image will not have it",
            location=who.step if who else "",
            fix=UNOWNED_FIX,
        )


def system_not_observed(ctx: AuditContext) -> Iterator[Finding]:
    """The build could not see the programs outside Python that the steps ran."""
    section = _system(ctx)
    if section is not None and not section.observer:
        yield Finding(
            check="system-not-observed",
            severity="warning",
            message="the programs, libraries and fonts the steps used outside Python were not "
            f"observed: {section.note}",
            fix=NOT_OBSERVED_FIX,
        )


def system_not_debian(ctx: AuditContext) -> Iterator[Finding]:
    """The machine has no dpkg database: what the run used cannot be resolved to packages."""
    section = _system(ctx)
    if section and section.observer and section.base_packages == "none" and section.unowned:
        yield Finding(
            check="system-not-debian",
            severity="warning",
            message=section.note,
            fix=NOT_DEBIAN_FIX,
        )


def system_package_not_vendored(ctx: AuditContext) -> Iterator[Finding]:
    """A system package the image lacks could not be fetched: the rerun will miss it."""
    if ctx.run is None or ctx.run.build is None or not ctx.run.build.unvendored:
        return
    missing = ctx.run.build.unvendored
    yield Finding(
        check="system-package-not-vendored",
        severity="error",
        message=f"no .deb could be had for {len(missing)} system package(s) the base image "
        f"lacks: {', '.join(missing[:8])}{' …' if len(missing) > 8 else ''}",
        fix=UNVENDORED_FIX,
    )


def rerun_python_unchecked(ctx: AuditContext) -> Iterator[Finding]:
    """No engine had the base image: build could not check that it runs the analysis' Python."""
    build = ctx.run.build if ctx.run else None
    if build is None or build.rerun_python or build.system is None:
        return
    yield Finding(
        check="rerun-python-unchecked",
        severity="info",
        message="no Docker engine here had the base image, so build could not check that its "
        "python3 is the one the analysis ran with; verify will use whatever the image has",
        fix=RERUN_PYTHON_FIX,
    )


CHECKS: dict[str, Check] = {
    "system-not-observed": system_not_observed,
    "system-not-debian": system_not_debian,
    "system-file-unowned": system_file_unowned,
    "system-package-not-vendored": system_package_not_vendored,
    "rerun-python-unchecked": rerun_python_unchecked,
}

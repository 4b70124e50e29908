"""Checks on the git state: uncommitted changes, untracked files a step read."""

from __future__ import annotations

from collections.abc import Iterator

from capsule.checks.context import AuditContext, Check
from capsule.environment import git_state
from capsule.hashing import matches
from capsule.model import Finding, GitState

SHOWN = 5  # modified files named in the message of uncommitted-changes

NOT_IN_GIT = "the analysis is not in a git repository (or the repository has no commit yet)"
NOT_IN_GIT_FIX = (
    "put it under version control (`git init`, `git add`, `git commit`) so that the capsule "
    "records which commit of the code made the results"
)
UNCOMMITTED = "{count} file{s} changed since the last commit: {names}"
UNCOMMITTED_FIX = (
    "commit them so that the capsule's commit describes the code that ran (`git status` lists them)"
)
UNTRACKED_READ = "{path} is not in git, and step {step!r} read it"
UNTRACKED_DATA = "{path} is data of the analysis, and it is not in git"
UNTRACKED_FIX = (
    "commit it (or, if it is too large, record where it comes from and its checksum in the "
    "README) so that others can get the same file"
)


def _state(ctx: AuditContext) -> GitState | None:
    """The analysis' git state, read once per audit (the checks of this family share it)."""
    if "git_state" not in ctx.extra:
        ctx.extra["git_state"] = git_state(ctx.root)
    state = ctx.extra["git_state"]
    return state if isinstance(state, GitState) else None


def check_not_in_git(ctx: AuditContext) -> Iterator[Finding]:
    """The analysis is not in a git repository with a commit: nothing records its version."""
    if _state(ctx) is None:
        yield Finding(
            check="not-in-git",
            severity="info",
            message=NOT_IN_GIT,
            location=".",
            fix=NOT_IN_GIT_FIX,
        )


def check_uncommitted_changes(ctx: AuditContext) -> Iterator[Finding]:
    """Files of the analysis modified (or deleted) since the last commit; outputs do not count.

    A regenerated figure or table differs from its committed copy as a matter of course; the
    code and the data are what the commit must describe. Excluded files are never packaged.
    """
    state = _state(ctx)
    if state is None:
        return
    changed = [
        path
        for path in state.modified
        if not matches(path, ctx.plan.outputs) and not matches(path, ctx.plan.exclude)
    ]
    if not changed:
        return
    names = ", ".join(changed[:SHOWN]) + (
        f" and {len(changed) - SHOWN} more" if len(changed) > SHOWN else ""
    )
    yield Finding(
        check="uncommitted-changes",
        severity="warning",
        message=UNCOMMITTED.format(
            count=len(changed), s="" if len(changed) == 1 else "s", names=names
        ),
        location=changed[0],
        fix=UNCOMMITTED_FIX,
    )


def check_untracked_input(ctx: AuditContext) -> Iterator[Finding]:
    """An untracked file a step read (after a run), or untracked data (in a static audit)."""
    state = _state(ctx)
    if state is None or not state.untracked:
        return
    untracked = set(state.untracked)
    if ctx.run is not None:
        steps = {activity.id: activity.step for activity in ctx.run.provenance.activities}
        reported: set[str] = set()
        for usage in ctx.run.provenance.used:
            if usage.external or usage.entity not in untracked or usage.entity in reported:
                continue
            reported.add(usage.entity)
            step = steps.get(usage.activity, usage.activity)
            yield Finding(
                check="untracked-input",
                severity="warning",
                message=UNTRACKED_READ.format(path=usage.entity, step=step),
                location=usage.entity,
                fix=UNTRACKED_FIX,
            )
        return
    for path in sorted(untracked):
        if matches(path, ctx.plan.data) and not matches(path, ctx.plan.exclude):
            yield Finding(
                check="untracked-input",
                severity="warning",
                message=UNTRACKED_DATA.format(path=path),
                location=path,
                fix=UNTRACKED_FIX,
            )


CHECKS: dict[str, Check] = {
    "uncommitted-changes": check_uncommitted_changes,
    "untracked-input": check_untracked_input,
    "not-in-git": check_not_in_git,
}

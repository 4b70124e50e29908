"""Checks on what the determinism probe saw (capsule/probe.py): outputs that change between
identical runs, with one thing of the environment varied, or without capsule's settings.

One check per finding id: `varies-with-<variation>` and `fails-with-<variation>` are registered
once per variation the probe knows, so every id a finding can carry is a key of CHECKS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from capsule.checks.context import AuditContext, Check
from capsule.model import Finding, ProbeResult

UNPROTECTED = "unprotected"  # the probe's run without capsule's determinism settings
SOURCE_DATE = "source-date"

# What to change when an output varies with each variation (the probe's VARIATIONS, by name).
FIXES: dict[str, str] = {
    "hash-seed": "sort sets (and dict keys built from them) before writing; "
    "don't rely on hash order",
    "time-zone": "use UTC explicitly (datetime.now(timezone.utc), time.gmtime), "
    "or better, no clock at all",
    "locale": "format numbers and dates explicitly instead of through the locale",
    "folder-path": "don't write absolute paths into outputs; write paths relative to the "
    "analysis folder",
    "thread-count": "fix the thread count or use deterministic reductions",
    SOURCE_DATE: "nothing to do: capsule pins SOURCE_DATE_EPOCH, so these dates are stable",
}
OUTSIDE_FIX = "nothing to do inside capsule; outside it, set the same variables capsule sets"
NONDETERMINISTIC_FIX = (
    "find what the file embeds that changes on every run (time, random numbers without a seed, "
    "object addresses, temporary paths) and make it fixed"
)
PROTECTED_MESSAGE = (
    "{path} would change between runs without capsule's determinism settings (SOURCE_DATE_EPOCH, "
    "PYTHONHASHSEED=0, TZ=UTC, C.UTF-8, one thread, svg.hashsalt); capsule's runs keep it stable"
)


def _probe(ctx: AuditContext) -> ProbeResult | None:
    """The probe's result, when the audit ran it."""
    return ctx.run.probe if ctx.run is not None else None


def nondeterministic_output(ctx: AuditContext) -> Iterator[Finding]:
    """An output that differs between two identical runs cannot be verified at all."""
    result = _probe(ctx)
    for rel in result.baseline_repeat if result else ():
        yield Finding(
            check="nondeterministic-output",
            severity="error",
            message=f"{rel} differs between two identical runs: it cannot be verified",
            location=rel,
            fix=NONDETERMINISTIC_FIX,
        )


def _varies_with(name: str) -> Check:
    """The check for outputs that change when the probe varies `name` alone."""

    def check(ctx: AuditContext) -> Iterator[Finding]:
        result = _probe(ctx)
        if result is None:
            return
        what = result.descriptions.get(name, name)
        for rel in result.by_variation.get(name, ()):
            if name == SOURCE_DATE:
                yield Finding(
                    check=f"varies-with-{name}",
                    severity="info",
                    message=f"{rel} embeds the date of SOURCE_DATE_EPOCH ({what}); capsule "
                    "pins it, so the file is stable",
                    location=rel,
                    fix=FIXES[name],
                )
                continue
            yield Finding(
                check=f"varies-with-{name}",
                severity="warning",
                message=f"{rel} changes with the {name} ({what}): capsule fixes this setting, "
                "but a rerun outside capsule gives another file",
                location=rel,
                fix=FIXES[name],
            )

    check.__doc__ = f"Outputs that change with the {name} alone."
    return check


def _fails_with(name: str) -> Check:
    """The check for a step that fails only when the probe varies `name`."""

    def check(ctx: AuditContext) -> Iterator[Finding]:
        result = _probe(ctx)
        reason = result.failed.get(name) if result else None
        if reason is None:
            return
        if name == UNPROTECTED:
            yield Finding(
                check="fails-unprotected",
                severity="info",
                message="a step fails without capsule's determinism settings: " + reason,
                fix=OUTSIDE_FIX,
            )
            return
        yield Finding(
            check=f"fails-with-{name}",
            severity="warning",
            message=f"a step fails with the {name} varied: " + reason,
            fix=FIXES.get(name, OUTSIDE_FIX),
        )

    check.__doc__ = f"A step that fails only with the {name} varied."
    return check


def protected_by_capsule(ctx: AuditContext) -> Iterator[Finding]:
    """Outputs stable only thanks to capsule's settings, no single variation explaining them."""
    result = _probe(ctx)
    if result is None:
        return
    said = {rel for changed in result.by_variation.values() for rel in changed}
    said.update(result.baseline_repeat)
    for rel in result.unprotected.get(UNPROTECTED, ()):
        if rel in said:
            continue  # said already, with the variation that causes it
        yield Finding(
            check="protected-by-capsule",
            severity="info",
            message=PROTECTED_MESSAGE.format(path=rel),
            location=rel,
            fix="nothing to do inside capsule; outside it, set the same variables",
        )


def _per_variation(kind: str, make: Callable[[str], Check]) -> dict[str, Check]:
    """One check per variation the probe knows, registered as `<kind>-<variation>`."""
    return {f"{kind}-{name}": make(name) for name in FIXES}


CHECKS: dict[str, Check] = {
    "nondeterministic-output": nondeterministic_output,
    **_per_variation("varies-with", _varies_with),
    **_per_variation("fails-with", _fails_with),
    "fails-unprotected": _fails_with(UNPROTECTED),
    "protected-by-capsule": protected_by_capsule,
}

"""What `--json` prints for programs: versioned shapes, documented in docs/json-output.md.

Every object printed carries a top-level `format` integer, raised when a field changes meaning or
goes away. `show --json` is `lineage.to_json` (LINEAGE_FORMAT) and `verify --json` prints
verification.json (its own `format`); the shapes of build, audit and errors live here.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from capsule.audit import AuditResult
from capsule.build import BuildSummary

BUILD_FORMAT = 1  # of `capsule build --json`
AUDIT_FORMAT = 1  # of `capsule audit --json`
ERROR_FORMAT = 1  # of the error object any --json command prints when it fails


def build_json(summary: BuildSummary) -> str:
    """`capsule build --json`: the build summary, field by field, with its format."""
    return _dumps({"format": BUILD_FORMAT, **dataclasses.asdict(summary)})


def audit_json(result: AuditResult) -> str:
    """`capsule audit --json`: the findings, the --fail-on level, and whether the audit fails."""
    return _dumps(
        {
            "format": AUDIT_FORMAT,
            "fail_on": result.fail_on,
            "failed": result.failed,
            "findings": [dataclasses.asdict(finding) for finding in result.findings],
        }
    )


def error_json(message: str, hint: str, exit_code: int) -> str:
    """The error object a --json command prints on stdout instead of its result."""
    return _dumps(
        {
            "format": ERROR_FORMAT,
            "error": {"message": message, "hint": hint, "exit_code": exit_code},
        }
    )


def _dumps(data: dict[str, Any]) -> str:
    """Sorted keys, two-space indent, a final newline: stable for diffs and tests."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"

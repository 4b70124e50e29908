"""Helpers of the analysis: a local module, imported as `helpers`."""


def clean(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Drop rows without a label."""
    return [row for row in rows if row.get("label")]

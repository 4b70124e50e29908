"""A fixture package that needs Python 3.11.5 or newer (see its pyproject.toml)."""

import platform


def describe() -> str:
    """Which Python runs this."""
    return f"capfix-recent 1.0.0 on {platform.python_implementation()} {platform.python_version()}"

"""The one place that knows jinja2: every file a person or Docker reads is rendered here."""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from capsule.errors import EnvironmentProblem
from capsule.wording import short_hash


def templates_dir() -> Path:
    """The templates folder: inside the installed wheel, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / "Dockerfile.j2").is_file():
            return candidate
    raise EnvironmentProblem(
        "capsule's templates folder is missing from this installation",
        hint="reinstall capsule (pip install --force-reinstall capsule)",
    )


class ShellVariable(str):
    """A word of an argv that a shell script reads from its variable of this name."""

    __slots__ = ()


def _shell_word(value: object) -> str:
    """One word for a POSIX shell: quoted, or "$NAME" for a ShellVariable."""
    if isinstance(value, ShellVariable):
        return f'"${value}"'
    return shlex.quote(str(value))


def _shell_quote(value: object) -> str:
    """Quote one word for a POSIX shell."""
    return shlex.quote(str(value))


def _shell_argv(argv: object) -> str:
    """Quote an argv list for a POSIX shell."""
    return " ".join(_shell_word(part) for part in argv)  # type: ignore[attr-defined]


@cache
def environment() -> jinja2.Environment:
    """The jinja2 environment: strict about undefined names, escaping HTML, keeping newlines."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(["html.j2", "htm.j2", "xml.j2", "svg.j2"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["shell_quote"] = _shell_quote
    env.filters["shell_argv"] = _shell_argv
    env.filters["short_hash"] = short_hash
    return env


def render(template: str, **context: Any) -> str:
    """Render one template (by file name, e.g. "Dockerfile.j2") with the given values."""
    return environment().get_template(template).render(**context)

"""Progress on the terminal: one line per stage with its time, a spinner while it runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console


class Progress:
    """Shows what a long command is doing; silent when disabled (--json, tests)."""

    def __init__(self, enabled: bool = True, console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(stderr=True, highlight=False)
        self._status: object | None = None
        self._stage = ""

    @contextmanager
    def stage(self, title: str) -> Iterator[None]:
        """Show a spinner while the block runs, then a line with how long it took."""
        if not self.enabled:
            yield
            return
        start = time.monotonic()
        self._stage = title
        with self.console.status(title) as status:
            self._status = status
            try:
                yield
            finally:
                self._status = None
        self.console.print(
            f"[green]✓[/green] {title} [dim]({time.monotonic() - start:.1f} s)[/dim]"
        )

    def say(self, message: str) -> None:
        """Update the running stage with a detail (a step's name, a download)."""
        if self.enabled and self._status is not None:
            self._status.update(f"{self._stage}: {message}")  # type: ignore[attr-defined]

    def note(self, message: str) -> None:
        """Print a line that stays (a warning, a fact the user should see)."""
        if self.enabled:
            self.console.print(message)

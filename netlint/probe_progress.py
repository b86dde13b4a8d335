"""Progress of a long probe on the terminal: a rich bar on stderr, or plain lines under NO_COLOR.

Shown only when asked (the rich format on a terminal; the command line decides) and only once the
probe has run for more than a second, so that quick probes print nothing extra.
"""

from __future__ import annotations

import sys
import time
from typing import Any

DELAY = 1.0  # seconds before anything is shown


class PassProgress:
    """Called as ``progress(done, total)`` after each forward pass of the probe."""

    def __init__(self, label: str, mode: str | None) -> None:
        self.label, self.mode = label, mode  # mode: "bar", "plain" or None (nothing)
        self.start = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.mode is None or time.perf_counter() - self.start < DELAY:
            return
        if self.mode == "plain":
            sys.stderr.write(f"netlint: probing {self.label}: pass {done}/{total}\n")
            sys.stderr.flush()
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("probe {task.description}"), BarColumn(), TextColumn("{task.completed}/"
                                "{task.total} passes"), TimeElapsedColumn(), console=Console(stderr=True),
                                transient=True)  # fmt: skip
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=total)
        self.bar.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def progress_mode(fmt: str, output: str | None, environ: Any = None) -> str | None:
    """``bar`` for the rich report on a terminal, ``plain`` there with NO_COLOR, else None (files, CI formats)."""
    import os

    environ = os.environ if environ is None else environ
    if fmt != "rich" or output or not sys.stderr.isatty():
        return None
    return "plain" if environ.get("NO_COLOR") else "bar"

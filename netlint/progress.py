"""Progress of long work on the terminal: a rich bar on stderr, or plain lines under NO_COLOR.

Shown only when asked (the rich format on a terminal; the command line decides) and only once the
work has run for more than a second, so that quick runs print nothing extra. Used for the probe's
passes over one model and for a run over many files.
"""

from __future__ import annotations

import sys
import time
from typing import Any

DELAY = 1.0  # seconds before anything is shown


class Progress:
    """Called as ``progress(done, total)`` as the work advances (again with the same figures is fine).

    ``what`` names the work ("probing Net"), ``units`` what is counted ("passes"): plain lines read
    ``netlint: probing Net: 2/4 passes``, one per change.
    """

    def __init__(self, what: str, units: str, mode: str | None) -> None:
        self.what, self.units, self.mode = what, units, mode  # mode: "bar", "plain" or None (nothing)
        self.start = time.perf_counter()
        self.shown: int | None = None
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.mode is None or time.perf_counter() - self.start < DELAY:
            return
        if self.mode == "plain":
            if done != self.shown:
                self.shown = done
                sys.stderr.write(f"netlint: {self.what}: {done}/{total} {self.units}\n")
                sys.stderr.flush()
            return
        if self.bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn(f"{{task.completed}}/{{task.total}} {self.units}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
                # No stand-in sys.stdout/stderr: workers forked meanwhile would inherit them.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=total)
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

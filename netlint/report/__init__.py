"""Reporters: they see findings, analysis notes and rule metadata, never the model or the graph."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from ..engine import Report

FORMATS = ("rich", "json")


def render(
    report: Report,
    fmt: str,
    out: IO[str],
    *,
    color: bool | None = None,
    elapsed: float | None = None,
    timings: bool = False,
) -> None:
    renderer: Callable[..., None]
    if fmt == "json":
        from .json_report import render as renderer
    else:
        from .rich_report import render as renderer
    renderer(report, out, color=color, elapsed=elapsed, timings=timings)

"""Stage 5, report: reporters (rich, text, json, sarif, github, html) and the rule docs; they see findings, probe results and rule metadata, never the model or the graph, and import only the shared top-level modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from ..results import Report

FORMATS = ("rich", "text", "json", "sarif", "github", "html")


def render(
    report: Report,
    fmt: str,
    out: IO[str],
    *,
    color: bool | None = None,
    elapsed: float | None = None,
    timings: bool = False,
) -> None:
    import importlib

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    renderer: Callable[..., None] = importlib.import_module(f"{__name__}.{fmt}_report").render
    renderer(report, out, color=color, elapsed=elapsed, timings=timings)

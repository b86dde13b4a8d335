"""One line per finding, stable and greppable: ``path:line: NL001 [warning] message (model: module)``
(in a notebook ``nb.ipynb:cell 4:7: ...``).

Colour only on a terminal or with FORCE_COLOR, and never when NO_COLOR is set.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from .summary import summary_line, use_colour

if TYPE_CHECKING:
    from ..results import Report

_COLOURS = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}
_RESET = "\033[0m"


def finding_line(f, colour: bool = False) -> str:
    where = f.where or "<unknown>"
    short = f.model.rsplit(":", 1)[-1]
    severity = f"[{f.severity.value}]"
    if colour:
        severity = f"{_COLOURS[f.severity.value]}{severity}{_RESET}"
    return f"{where}: {f.code} {severity} {f.message} ({short}: {f.module or '<root>'})"


def render(report: Report, out: IO[str], *, color: bool | None = None, **_: Any) -> None:
    colour = use_colour(out, color)
    for f in report.findings:
        out.write(finding_line(f, colour) + "\n")
    for err in report.errors:
        out.write(f"{err.target}: error: {err.message}{' ' + err.hint if err.hint else ''}\n")
    for note in report.notes:
        out.write(f"note: {note}\n")
    out.write(summary_line(report) + ".\n")

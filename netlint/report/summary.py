"""Counts that every reporter prints the same way."""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..findings import Finding
    from ..graph.ir import AnalysisPart
    from ..results import Report

GROUP_AT = 3  # findings of one rule at one source line (a layer built in a loop) shown as one entry


def counts(report: Report) -> dict[str, Any]:
    findings = report.findings
    severities = Counter(f.severity.value for f in findings)
    return {
        "models": len(report.models),
        "models_with_findings": sum(1 for m in report.models if m.findings),
        "findings": len(findings),
        "by_severity": {s: severities[s] for s in ("error", "warning", "info") if severities[s]},
        "by_rule": dict(sorted(Counter(f.code for f in findings).items())),
        "errors": len(report.errors),
        "suppressed": report.suppressed,
        "baselined": report.baselined,
        "files": report.files,
    }


def use_colour(out: IO[str], color: bool | None = None) -> bool:
    """An explicit choice, else NO_COLOR (any non-empty value: never), else FORCE_COLOR, else a terminal."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR", "").lower() not in ("", "0", "false", "no"):
        return True
    return is_terminal(out)


def is_terminal(out: IO[str]) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


class _NoTrailingSpace:
    """A text stream that drops the blanks rich pads lines with (before any closing style code)."""

    _TRAILING = re.compile(r"[ \t]+((?:\x1b\[[0-9;]*m)*)$")

    def __init__(self, out: IO[str]):
        self.out = out
        self.pending = ""

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            self.out.write(self._TRAILING.sub(r"\1", line) + "\n")
        return len(text)

    def flush(self) -> None:
        self.finish()

    def finish(self) -> None:
        """Write a partial last line as it is (what follows may continue it), so nothing is ever lost."""
        if self.pending:
            self.out.write(self.pending)
            self.pending = ""
        self.out.flush()

    def isatty(self) -> bool:
        return False


def make_console(out: IO[str], color: bool | None = None, width: int | None = None):
    """A rich console for a report: NO_COLOR means no escape sequence at all, FORCE_COLOR colours a pipe,
    and output that is not a terminal is not padded with trailing blanks.

    Text wraps at the terminal's width, at ``width``, or at ``COLUMNS`` when that is set; other output
    that is not a terminal (a pipe, a file) is not wrapped (``wraps`` says which).
    """
    from rich.console import Console

    terminal = is_terminal(out)
    colour = use_colour(out, color)
    file = out if terminal else _NoTrailingSpace(out)
    columns = os.environ.get("COLUMNS", "")
    if width is None and not terminal and columns.isdigit() and int(columns) > 0:
        width = int(columns)
    console = Console(
        file=file, force_terminal=colour or terminal, color_system=("auto" if terminal else "standard") if colour else None,
        no_color=not colour, highlight=False, width=width or (None if terminal else 200), emoji=False,
    )  # fmt: skip
    console._netlint_wraps = terminal or width is not None
    return console


def wraps(console) -> bool:
    """Whether a report's text is wrapped to the console's width (see ``make_console``)."""
    return getattr(console, "_netlint_wraps", True)


def finish(console) -> None:
    """Write what a console has left of its last line (see _NoTrailingSpace)."""
    if isinstance(console.file, _NoTrailingSpace):
        console.file.finish()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(report: Report) -> str:
    c = counts(report)
    parts = []
    if c["findings"]:
        sev = ", ".join(plural(n, s) for s, n in c["by_severity"].items())
        parts.append(f"{plural(c['findings'], 'finding')} ({sev}) in {c['models_with_findings']} of "
                     f"{plural(c['models'], 'model')}")  # fmt: skip
    elif c["models"]:
        parts.append(f"No findings in {plural(c['models'], 'model')}")
    else:
        parts.append("No model checked")
    if c["errors"]:
        parts.append(plural(c["errors"], "error"))
    if c["baselined"]:
        parts.append(f"{plural(c['baselined'], 'finding')} hidden by the baseline")
    return "; ".join(parts)


def analysis_text(parts: list[AnalysisPart]) -> str:
    """``torch.fx`` or ``torch.fx; runtime capture (meta) for blocks.0, blocks.1 (fx: ...)``."""
    whole = [p for p in parts if not p.module]
    pieces = []
    for p in whole:
        pieces.append(p.engine + (f" (fx could not trace the model: {p.reason})" if p.reason else ""))
    grouped: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in parts:
        if p.module:
            grouped[(p.engine, p.reason)].append(p.module)
    for (engine, reason), modules in grouped.items():
        shown = ", ".join(modules[:4]) + (f" and {len(modules) - 4} more" if len(modules) > 4 else "")
        pieces.append(f"{engine} for {shown}" + (f" (fx could not trace them: {reason})" if reason else ""))
    return "; ".join(pieces)


def unused_text(unused: tuple[str, ...]) -> str:
    if not unused:
        return ""
    shown = ", ".join(unused[:5]) + (f" and {len(unused) - 5} more" if len(unused) > 5 else "")
    return f"never called by the analysed forward, so not checked: {shown}"


def group_findings(findings: list[Finding], at: int = GROUP_AT) -> list[list[Finding]]:
    """The findings in order, those of one rule at one source line (``at`` or more) as one group where
    the first of them stands; the others alone."""
    sites: dict[tuple, list[Finding]] = {}
    for f in findings:
        if f.file and f.line:
            sites.setdefault((f.code, f.where), []).append(f)
    out: list[list[Finding]] = []
    for f in findings:
        group = sites.get((f.code, f.where), []) if f.file and f.line else []
        if len(group) < at:
            out.append([f])
        elif group[0] is f:
            out.append(group)
    return out

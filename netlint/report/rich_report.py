"""The terminal report: per model, each finding with where to act and how to fix it."""

from __future__ import annotations

from collections import defaultdict
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from .summary import make_console, plural, summary_line

if TYPE_CHECKING:
    from ..engine import ModelReport, Report
    from ..graph.ir import AnalysisPart

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


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


def render(report: Report, out: IO[str], *, color: bool | None = None, elapsed: float | None = None, **_: Any) -> None:
    console = make_console(out, color)
    for model in report.models:
        _model(console, model)
    if report.errors:
        console.print(Text("errors", style="bold red"))
        for err in report.errors:
            console.print(Text("  ") + Text(err.text), soft_wrap=True)
        console.print()
    if report.notes:
        console.print(Text("notes", style="bold"))
        for note in report.notes:
            console.print(Text("  " + note), soft_wrap=True)
        console.print()
    tail = f" {plural(report.files, 'file')} scanned" if report.files else ""
    if elapsed is not None:
        tail += f" in {elapsed:.1f} s"
    style = "bold red" if report.errors else "bold yellow" if report.findings else "bold green"
    console.print(Text(summary_line(report), style=style) + Text(f" ({tail.strip()})." if tail else "."))


def _model(console: Console, model: ModelReport) -> None:
    head = Text(model.name, style="bold")
    if model.findings:
        head += Text(f"  {plural(len(model.findings), 'finding')}", style="yellow")
    else:
        head += Text("  clean", style="green")
    console.print(head)
    console.print(Text(f"  input {model.inputs} ({model.input_source}); {analysis_text(model.parts)}", style="dim"),
                  soft_wrap=True)  # fmt: skip
    unused = unused_text(model.unused)
    if unused:
        console.print(Text(f"  {unused}", style="dim yellow"), soft_wrap=True)
    for f in model.findings:
        where = f"{f.file}:{f.line}" if f.file else "(no source line)"
        line = Text("  ")
        line += Text(f"{f.severity.value:<7}", style=_STYLE[f.severity.value])
        line += Text(f" {f.code} ", style="bold")
        line += Text(f"{f.name}  ", style="dim")
        line += Text(f.module or "<root>", style="bold")
        line += Text(f"  {where}", style="cyan")
        console.print(line, soft_wrap=True)
        console.print(Text(f"      {f.message}"), soft_wrap=True)
        if f.origin:
            console.print(Text(f"      defined in {f.origin}", style="dim"), soft_wrap=True)
        console.print(Text("      fix: ", style="green") + Text(f.fix), soft_wrap=True)
    console.print()

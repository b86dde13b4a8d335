"""The terminal report: per model, each finding with where to act and how to fix it."""

from __future__ import annotations

from collections import defaultdict
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
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
    if model.probe is not None:
        probe_table(console, model.probe)
    elif model.probe_note:
        console.print(Text(f"  probe: {model.probe_note}", style="dim"), soft_wrap=True)
    console.print()


PROBE_ROWS = 12


def _bar(ratio: float) -> Text:
    """A bar as long as the distance from 1 (0.5x or 1.5x fill it), red outside [0.9, 1.1]."""
    width = min(20, round(abs(1.0 - ratio) * 40))
    style = "red" if not 0.9 <= ratio <= 1.1 else "yellow" if width else "green"
    return Text(("<" if ratio < 1 else ">" if ratio > 1 else "=") + "█" * width, style=style)


def _sources(sources: list[str]) -> str:
    if not sources:
        return "(not found statically)"
    return sources[0] + (f" +{len(sources) - 1}" if len(sources) > 1 else "")


def _running_cells(x) -> list[str]:
    if x.running_ratio_mean is None:
        return ["-", "-"]
    return [
        f"{x.running_ratio_mean:.2f}x ({x.running_ratio_min:.2f}-{x.running_ratio_max:.2f})",
        f"{x.running_mean_gap:.2f} sd",
    ]


def probe_table(console: Console, probe) -> None:
    drift = "not measurable" if probe.output_drift is None else f"{probe.output_drift:.1%}"
    why = f" ({probe.batch_reason})" if probe.batch_reason.startswith(("time", "memory")) else ""
    console.print(
        Text(
            f"  probe: {probe.device}, batch {probe.batch_size}{why}, seed {probe.seed}, {probe.seconds:.1f} s. "
            f"Output drift {drift} (eval output with BatchNorm statistics from training vs inference behaviour)",
            style="bold",
        ),
        soft_wrap=True,
    )
    for note in probe.notes:
        console.print(Text(f"  {note}", style="dim yellow"), soft_wrap=True)
    trained = probe.trained
    moved = [x for x in probe.layers if not (x.ratio_min == x.ratio_max == 1.0) or x.running_ratio_mean is not None]
    exact = len(probe.layers) - len(moved)
    if not moved:
        console.print(
            Text(f"  all {len(probe.layers)} BatchNorm layers measure a ratio of exactly 1.00", style="green")
        )
        return
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1))
    for column, justify in (("BatchNorm", "left"), ("upstream dropout", "left"), ("ratio", "right"), ("", "left"),
                            ("worst channel", "right"), ("mean shift", "right")):  # fmt: skip
        table.add_column(column, justify=justify, no_wrap=True)
    if trained:  # what the checkpoint learned: running_var / var(eval input), running mean gap
        table.add_column("running/eval var", justify="right", no_wrap=True)
        table.add_column("running mean gap", justify="right", no_wrap=True)
    for x in moved[:PROBE_ROWS]:
        ratio = Text(f"{x.ratio_mean:.2f}x", style="red" if x.shifted else "")
        noisy = "" if x.precise else " ~"
        row = [
            x.module, _sources(x.sources), ratio + Text(noisy, style="dim"), _bar(x.ratio_mean),
            f"{x.worst_ratio:.2f}x (ch {x.worst_channel})", f"{x.mean_shift:.2f} sd",
        ]  # fmt: skip
        if trained:
            row += _running_cells(x)
        table.add_row(*row)
    console.print(Padding(table, (0, 0, 0, 2)))
    rest = []
    if len(moved) > PROBE_ROWS:
        rest.append(f"{len(moved) - PROBE_ROWS} more layers with a shift (--format json lists all)")
    if exact:
        rest.append(f"{plural(exact, 'BatchNorm layer')} without dropout upstream: exactly 1.00")
    if rest:
        console.print(Text("  " + "; ".join(rest) + ".", style="dim"), soft_wrap=True)
    noisy = [x for x in probe.layers if not x.precise]
    if noisy:
        fewest = min(x.samples for x in noisy)
        console.print(
            Text(f"  ~ fewer than 1024 values per channel (as few as {fewest}) make these ratios noisy: raise --batch-size.",
                 style="dim yellow"),
            soft_wrap=True,
        )  # fmt: skip

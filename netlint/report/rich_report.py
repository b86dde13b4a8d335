"""The terminal report: per model, each finding with where to act and how to fix it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from .summary import finish, make_console, plural, summary_line

if TYPE_CHECKING:
    from ..findings import Finding
    from ..graph.ir import AnalysisPart
    from ..results import ModelReport, Report

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


# One short line per term, printed where the term first appears in a report.
LEGEND = {
    "capture": "capture: fx could not trace these parts, so netlint ran them on the example input and recorded "
    "each operation.",
    "probe": "ratio: a BatchNorm's input variance in training over that at inference (1.00x: none; outside "
    "0.90-1.10x its running statistics are off); worst channel: the one furthest from 1; mean shift: in "
    "standard deviations; ~: noisy.",
}
GROUP_AT = 3  # findings of one rule at one source line (a layer built in a loop) shown as one entry


def render(report: Report, out: IO[str], *, color: bool | None = None, elapsed: float | None = None, **_: Any) -> None:
    console = make_console(out, color)
    explained: set[str] = set()
    for model in report.models:
        _model(console, model, explained)
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
    finish(console)


def _explain(console: Console, term: str, explained: set[str]) -> None:
    if term not in explained:
        explained.add(term)
        console.print(Text(f"  {LEGEND[term]}", style="dim italic"), soft_wrap=True)


def _model(console: Console, model: ModelReport, explained: set[str]) -> None:
    head = Text(model.name, style="bold")
    if model.findings:
        head += Text(f"  {plural(len(model.findings), 'finding')}", style="yellow")
    else:
        head += Text("  clean", style="green")
    console.print(head)
    built = f"; real weights ({model.build_reason})" if model.build == "real" else ""
    console.print(Text(f"  input {model.inputs} ({model.input_source}); {analysis_text(model.parts)}{built}",
                       style="dim"), soft_wrap=True)  # fmt: skip
    if any(p.engine.startswith("capture") for p in model.parts):
        _explain(console, "capture", explained)
    unused = unused_text(model.unused)
    if unused:
        console.print(Text(f"  {unused}", style="dim yellow"), soft_wrap=True)
    for group in group_findings(model.findings):
        if len(group) >= GROUP_AT:
            _group(console, group)
        else:
            _finding(console, group[0])
    if model.probe is not None and probe_table(console, model.probe):
        _explain(console, "probe", explained)
    elif model.probe is None and model.probe_note:
        console.print(Text(f"  probe: {model.probe_note}", style="dim"), soft_wrap=True)
    console.print()


def group_findings(findings: list[Finding], at: int = GROUP_AT) -> list[list[Finding]]:
    """The findings in order, those of one rule at one source line (``at`` or more) as one group where
    the first of them stands; the others alone."""
    sites: dict[tuple, list[Finding]] = {}
    for f in findings:
        if f.file and f.line:
            sites.setdefault((f.code, f.file, f.line), []).append(f)
    out: list[list[Finding]] = []
    for f in findings:
        group = sites.get((f.code, f.file, f.line), []) if f.file and f.line else []
        if len(group) < at:
            out.append([f])
        elif group[0] is f:
            out.append(group)
    return out


def _where(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.file else "(no source line)"


def _finding(console: Console, f: Finding) -> None:
    line = Text("  ")
    line += Text(f"{f.severity.value:<7}", style=_STYLE[f.severity.value])
    line += Text(f" {f.code} ", style="bold")
    line += Text(f"{f.name}  ", style="dim")
    line += Text(f.module or "<root>", style="bold")
    line += Text(f"  {_where(f)}", style="cyan")
    console.print(line, soft_wrap=True)
    console.print(Text(f"      {f.message}"), soft_wrap=True)
    if f.origin:
        console.print(Text(f"      defined in {f.origin}", style="dim"), soft_wrap=True)
    console.print(Text("      fix: ", style="green") + Text(f.fix), soft_wrap=True)


def _group(console: Console, group: list[Finding]) -> None:
    """``warning NL001 dropout-before-batchnorm x2500 at model.py:8: blocks.0.3, blocks.1.3, ...``"""
    first = group[0]
    modules = [f.module or "<root>" for f in group]
    shown = ", ".join(modules[:GROUP_SHOWN]) + (
        f" and {len(modules) - GROUP_SHOWN} more" if len(modules) > GROUP_SHOWN else ""
    )
    line = Text("  ")
    line += Text(f"{first.severity.value:<7}", style=_STYLE[first.severity.value])
    line += Text(f" {first.code} ", style="bold")
    line += Text(f"{first.name} ", style="dim")
    line += Text(f"x{len(group)}", style="bold")
    line += Text(f" at {_where(first)}", style="cyan")
    line += Text(f": {shown}")
    console.print(line, soft_wrap=True)
    console.print(Text(f"      e.g. {first.message} (--format text or json lists each)"), soft_wrap=True)
    if first.origin:
        console.print(Text(f"      defined in {first.origin}", style="dim"), soft_wrap=True)
    fixes = {f.fix for f in group}
    console.print(Text("      fix: ", style="green") + Text(first.fix if len(fixes) == 1 else f"e.g. {first.fix}"),
                  soft_wrap=True)  # fmt: skip


GROUP_SHOWN = 6


PROBE_ROWS = 12


def _bar(ratio: float, full: int = 20) -> Text:
    """A bar as long as the distance from 1 (0.5x or 1.5x fill its ``full`` cells), red outside [0.9, 1.1]."""
    width = min(full, round(abs(1.0 - ratio) * 2 * full))
    style = "red" if not 0.9 <= ratio <= 1.1 else "yellow" if width else "green"
    return Text(("<" if ratio < 1 else ">" if ratio > 1 else "=") + "█" * width, style=style)


def _sources(sources: list[str]) -> str:
    if not sources:
        return "(not found statically)"
    return sources[0] + (f" +{len(sources) - 1}" if len(sources) > 1 else "")


@dataclass(frozen=True)
class ProbeColumn:
    """One column of the probe table. ``kind`` decides how it behaves on a narrow terminal: "name" columns
    fold (a module path wraps at any character), "number" columns never shrink below their widest cell,
    "bar" columns shrink (``cell`` then gets the width as a second argument) or give way first. Add a
    column by appending to PROBE_COLUMNS."""

    header: str
    cell: Callable[[Any], Text | str]
    kind: str = "number"  # "name" | "number" | "bar"


def _ratio_cell(x) -> Text:
    return Text(f"{x.ratio_mean:.2f}x", style="red" if x.shifted else "") + Text("" if x.precise else " ~", style="dim")


PROBE_COLUMNS: list[ProbeColumn] = [
    ProbeColumn("BatchNorm", lambda x: x.module, "name"),
    ProbeColumn("upstream dropout", lambda x: _sources(x.sources), "name"),
    ProbeColumn("ratio", _ratio_cell),
    ProbeColumn("", lambda x, width=21: _bar(x.ratio_mean, width - 1), "bar"),
    ProbeColumn("worst channel", lambda x: f"{x.worst_ratio:.2f}x (ch {x.worst_channel})"),
    ProbeColumn("mean shift", lambda x: f"{x.mean_shift:.2f} sd"),
]


# With --weights: what the checkpoint learned, running_var / var(eval input) and the running mean gap.
TRAINED_COLUMNS: list[ProbeColumn] = [
    ProbeColumn(
        "running/eval var",
        lambda x: (
            "-"
            if x.running_ratio_mean is None
            else f"{x.running_ratio_mean:.2f}x ({x.running_ratio_min:.2f}-{x.running_ratio_max:.2f})"
        ),
    ),
    ProbeColumn("running mean gap", lambda x: "-" if x.running_mean_gap is None else f"{x.running_mean_gap:.2f} sd"),
]


NAME_MIN = 12  # a module-path column folds, but not narrower than this


def _probe_rows(console: Console, rows: list, columns: list[ProbeColumn]) -> Table | Text:
    """The table at its natural width; on a narrow terminal without the bar, module names folded; on a
    very narrow one, one line per layer. A number is never cut."""
    cells = [[Text(c) if isinstance(c, str) else c for c in (column.cell(x) for column in columns)] for x in rows]
    widest = [max([Text(col.header).cell_len] + [row[i].cell_len for row in cells]) for i, col in enumerate(columns)]
    available = console.width - 2  # the table is indented by two

    bar_width: dict[int, int] = {}

    def needed(keep: list[int], names_at: int | None = None) -> int:
        widths = [min(widest[i], names_at) if names_at and columns[i].kind == "name" else widest[i] for i in keep]
        widths = [bar_width.get(i, w) for i, w in zip(keep, widths)]
        return sum(widths) + 2 * (len(keep) - 1)

    keep = list(range(len(columns)))
    if needed(keep) > available:
        without = [i for i in keep if columns[i].kind != "bar"]
        spare = available - needed(without)
        bars = [i for i in keep if columns[i].kind == "bar"]
        if bars and spare >= 8 * len(bars):  # a shorter bar (cropped) still fits
            bar_width = {i: spare // len(bars) - 2 for i in bars}
        else:
            keep = without
    if needed(keep, NAME_MIN) > available:
        out = Text()
        for row in cells:
            pairs = [(columns[i].header, row[i]) for i in range(1, len(columns)) if columns[i].kind != "bar"]
            line = row[0] + Text(": ") + Text(", ").join(Text(f"{h} ") + v if h else v for h, v in pairs)
            out.append(line + Text("\n"))
        out.rstrip()
        return out
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1))
    for i in keep:
        column = columns[i]
        if column.kind == "name":
            table.add_column(column.header, justify="left", overflow="fold", min_width=min(widest[i], NAME_MIN))
        else:
            width = bar_width.get(i, widest[i])
            justify = "left" if column.kind == "bar" else "right"
            table.add_column(
                column.header, justify=justify, no_wrap=True, overflow="crop", min_width=width, max_width=width
            )
    for x, row in zip(rows, cells):
        table.add_row(*(columns[i].cell(x, bar_width[i]) if i in bar_width else row[i] for i in keep))
    return table


def probe_table(console: Console, probe) -> bool:
    """The probe's header and its table of shifted BatchNorms; True if a table was shown."""
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
    moved = [x for x in probe.layers if not (x.ratio_min == x.ratio_max == 1.0) or x.running_ratio_mean is not None]
    exact = len(probe.layers) - len(moved)
    if not moved:
        console.print(
            Text(f"  all {len(probe.layers)} BatchNorm layers measure a ratio of exactly 1.00", style="green")
        )
        return False
    columns = PROBE_COLUMNS + (TRAINED_COLUMNS if probe.trained else [])
    table = _probe_rows(console, moved[:PROBE_ROWS], columns)
    console.print(Padding(table, (0, 0, 0, 2), expand=False))
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
    return True

"""The terminal report: per model, each finding with where to act and how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..source import shown_path
from .summary import (
    GROUP_AT,
    analysis_text,
    finish,
    group_findings,
    make_console,
    plural,
    summary_line,
    unused_text,
    wraps,
)

if TYPE_CHECKING:
    from ..findings import Finding
    from ..results import ModelReport, Report

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


# One short line per term, printed where the term first appears in a report.
LEGEND = {
    "capture": "capture: fx could not trace these parts, so netlint ran them on the example input and recorded "
    "each operation.",
    "probe": "ratio: a BatchNorm's input variance at inference over that in training, geometric mean over "
    "channels (1.00x: none); 95 % interval: from resampling the batch's samples; a shift when the whole interval "
    "lies outside 0.90-1.10x, ~ when it overlaps an edge (inconclusive at this batch); worst channel: the one "
    "furthest from 1; mean shift: in standard deviations.",
}


def _say(console: Console, text: Text, indent: int = 0, hang: int | None = None) -> None:
    """Print ``text`` indented, wrapped at words where a person would, continuation lines indented by ``hang``.

    A word is never cut (``file.py:12`` and module paths have no blanks: they stay whole) unless it is
    wider than the line. A console that does not wrap (output to a pipe) gets one line, as it is.
    """
    if not wraps(console):
        console.print(Text(" " * indent) + text, soft_wrap=True)
        return
    hang = indent if hang is None else hang
    for i, line in enumerate(text.wrap(console, max(20, console.width - hang), overflow="fold")):
        line.rstrip()
        console.print(Text(" " * (indent if i == 0 else hang)) + line, soft_wrap=True)


def render(
    report: Report, out: IO[str], *, color: bool | None = None, elapsed: float | None = None, width: int | None = None,
    **_: Any,
) -> None:  # fmt: skip
    console = make_console(out, color, width)
    explained: set[str] = set()
    for model in report.models:
        _model(console, model, explained)
    if report.errors:
        console.print(Text("errors", style="bold red"))
        for err in report.errors:
            _say(console, Text(err.text), 2, 4)
        console.print()
    if report.notes:
        console.print(Text("notes", style="bold"))
        for note in report.notes:
            _say(console, Text(note), 2, 4)
        console.print()
    tail = f" {plural(report.files, 'file')} scanned" if report.files else ""
    if elapsed is not None:
        tail += f" in {elapsed:.1f} s"
    style = "bold red" if report.errors else "bold yellow" if report.findings else "bold green"
    _say(console, Text(summary_line(report), style=style) + Text(f" ({tail.strip()})." if tail else "."))
    finish(console)


def _explain(console: Console, term: str, explained: set[str]) -> None:
    if term not in explained:
        explained.add(term)
        _say(console, Text(LEGEND[term], style="dim italic"), 2)


def _model(console: Console, model: ModelReport, explained: set[str]) -> None:
    head = Text(model.name, style="bold")
    if model.findings:
        head += Text(f"  {plural(len(model.findings), 'finding')}", style="yellow")
    else:
        head += Text("  clean", style="green")
    _say(console, head, 0, 2)
    built = f"; real weights ({model.build_reason})" if model.build == "real" else ""
    _say(
        console,
        Text(f"input {model.inputs} ({model.input_source}); {analysis_text(model.parts)}{built}", style="dim"),
        2,
        4,
    )
    if any(p.engine.startswith("capture") for p in model.parts):
        _explain(console, "capture", explained)
    unused = unused_text(model.unused)
    if unused:
        _say(console, Text(unused, style="dim yellow"), 2, 4)
    for group in group_findings(model.findings):
        if len(group) >= GROUP_AT:
            _group(console, group)
        else:
            _finding(console, group[0])
    if model.probe is not None and probe_table(console, model.probe):
        _explain(console, "probe", explained)
    elif model.probe is None and model.probe_note:
        _say(console, Text(f"probe: {model.probe_note}", style="dim"), 2, 4)
    console.print()


def _where(f: Finding) -> str:
    return f.where or "(no source line)"


def _finding(console: Console, f: Finding) -> None:
    line = Text(f"{f.severity.value:<7}", style=_STYLE[f.severity.value])
    line += Text(f" {f.code} ", style="bold")
    line += Text(f"{f.name}  ", style="dim")
    line += Text(shown_path(f.module), style="bold")
    line += Text(f"  {_where(f)}", style="cyan")
    _say(console, line, 2, 4)
    _say(console, Text(f.message), 6)
    if f.origin:
        _say(console, Text(f"defined in {f.origin}", style="dim"), 6)
    _say(console, Text("fix: ", style="green") + Text(f.fix), 6, 11)


def _group(console: Console, group: list[Finding]) -> None:
    """``warning NL001 dropout-before-batchnorm x2500 at model.py:8: blocks.0.3, blocks.1.3, ...``"""
    first = group[0]
    modules = [shown_path(f.module) for f in group]
    shown = ", ".join(modules[:GROUP_SHOWN]) + (
        f" and {len(modules) - GROUP_SHOWN} more" if len(modules) > GROUP_SHOWN else ""
    )
    line = Text(f"{first.severity.value:<7}", style=_STYLE[first.severity.value])
    line += Text(f" {first.code} ", style="bold")
    line += Text(f"{first.name} ", style="dim")
    line += Text(f"x{len(group)}", style="bold")
    line += Text(f" at {_where(first)}", style="cyan")
    line += Text(f": {shown}")
    _say(console, line, 2, 4)
    _say(console, Text(f"e.g. {first.message} (--format text or json lists each)"), 6)
    if first.origin:
        _say(console, Text(f"defined in {first.origin}", style="dim"), 6)
    fixes = {f.fix for f in group}
    _say(console, Text("fix: ", style="green") + Text(first.fix if len(fixes) == 1 else f"e.g. {first.fix}"), 6, 11)


GROUP_SHOWN = 6


PROBE_ROWS = 12


def _bar(ratio: float | None, full: int = 20) -> Text:
    """A bar as long as the distance from 1 (0.5x or 1.5x fill its ``full`` cells), red outside [0.9, 1.1]."""
    if ratio is None:
        return Text("")
    width = min(full, round(abs(1.0 - ratio) * 2 * full))
    style = "red" if not 0.9 <= ratio <= 1.1 else "yellow" if width else "green"
    return Text(("<" if ratio < 1 else ">" if ratio > 1 else "=") + "█" * width, style=style)


def _sources(sources: list[str]) -> str:
    if not sources:
        return "(not found statically)"
    return shown_path(sources[0]) + (f" +{len(sources) - 1}" if len(sources) > 1 else "")


@dataclass(frozen=True)
class ProbeColumn:
    """One column of the probe table. ``kind`` decides how it behaves on a narrow terminal: "name" columns
    fold (a module path wraps at any character), "number" columns never shrink below their widest cell,
    "bar" columns shrink (``cell`` then gets the width as a second argument) or give way first. Add a
    column by appending to PROBE_COLUMNS."""

    header: str
    cell: Callable[[Any], Text | str]
    kind: str = "number"  # "name" | "number" | "bar" | "mark" (a sign for the column before it)


def _ratio_cell(x) -> Text:
    if x.ratio_mean is None:
        return Text("not measurable", style="dim")
    return Text(f"{x.ratio_mean:.2f}x", style="red" if x.shifted else "")


def _interval_cell(x) -> str:
    if x.ratio_low is None or x.ratio_high is None:
        return "-" if x.ratio_mean is None else "(none)"
    return f"{x.ratio_low:.2f}-{x.ratio_high:.2f}"


def _worst_cell(x) -> str:
    return "-" if x.worst_ratio is None else f"{x.worst_ratio:.2f}x (ch {x.worst_channel})"


PROBE_COLUMNS: list[ProbeColumn] = [
    ProbeColumn("BatchNorm", lambda x: shown_path(x.module), "name"),
    ProbeColumn("upstream dropout", lambda x: _sources(x.sources), "name"),
    ProbeColumn("ratio", _ratio_cell),
    # "~" for an inconclusive ratio, in a column of its own: the numbers of the ratio column line up either way.
    ProbeColumn("", lambda x: Text("~" if x.verdict == "inconclusive" else "", style="dim"), "mark"),
    ProbeColumn("95 % interval", _interval_cell),
    ProbeColumn("", lambda x, width=21: _bar(x.ratio_mean, width - 1), "bar"),
    ProbeColumn("worst channel", _worst_cell),
    ProbeColumn("mean shift", lambda x: "-" if x.mean_shift is None else f"{x.mean_shift:.2f} sd"),
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

    keep = [i for i in range(len(columns)) if columns[i].kind != "mark" or widest[i]]  # no "~": no column
    if needed(keep) > available:
        without = [i for i in keep if columns[i].kind != "bar"]
        spare = available - needed(without)
        bars = [i for i in keep if columns[i].kind == "bar"]
        if bars and spare >= 8 * len(bars):  # a shorter bar (cropped) still fits
            bar_width = {i: spare // len(bars) - 2 for i in bars}
        else:
            keep = without
    if needed(keep, NAME_MIN) > available:  # one layer per line, wrapped between its values, never inside one
        out = Text()
        for row in cells:
            pieces = [row[0] + Text(":")]
            for i in range(1, len(columns)):
                if columns[i].kind == "mark":
                    pieces[-1] += (Text(" ") + row[i]) if row[i].plain else Text()
                elif columns[i].kind != "bar":
                    pieces.append(Text(f"{columns[i].header} ") + row[i] if columns[i].header else row[i].copy())
            for piece in pieces:
                piece.rstrip()
            for piece in pieces[1:-1]:
                piece.append(",")
            line, lines = Text(), []
            for piece in pieces:
                if line.cell_len and line.cell_len + 1 + piece.cell_len > available:
                    lines.append(line)
                    line = Text("  ")  # a layer's continuation lines hang under its name
                elif line.cell_len:
                    line.append(" ")
                line.append_text(piece)
            lines.append(line)
            out.append(Text("\n").join(lines) + Text("\n"))
        out.rstrip()
        return out
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1))
    for i in keep:
        column = columns[i]
        if column.kind == "name":
            table.add_column(column.header, justify="left", overflow="fold", min_width=min(widest[i], NAME_MIN))
        else:
            width = bar_width.get(i, widest[i])
            justify = "left" if column.kind in ("bar", "mark") else "right"
            table.add_column(
                column.header, justify=justify, no_wrap=True, overflow="crop", min_width=width, max_width=width
            )
    for x, row in zip(rows, cells):
        table.add_row(*(columns[i].cell(x, bar_width[i]) if i in bar_width else row[i] for i in keep))
    return table


def probe_table(console: Console, probe) -> bool:
    """The probe's header and its table of shifted BatchNorms; True if a table was shown."""
    drift = "not measurable" if probe.output_drift is None else f"{probe.output_drift:.1%}"
    why = {"planned": " (planned from the model's cost)", "memory": " (cut to fit the memory)"}
    _say(
        console,
        Text(
            f"probe: {probe.device}, batch {probe.batch_size}{why.get(probe.batch_reason.split(' ')[0].rstrip(':'), '')}, "
            f"seed {probe.seed}. Output drift {drift} (eval output with BatchNorm statistics from training vs "
            "inference behaviour)",
            style="bold",
        ),
        2,
        4,
    )
    for note in probe.notes:
        _say(console, Text(note, style="dim yellow"), 2, 4)
    moved = [x for x in probe.layers if not x.exact or x.running_ratio_mean is not None]
    exact = len(probe.layers) - len(moved)
    if not moved:
        count = len(probe.layers)
        said = (
            "no BatchNorm layer to measure" if count == 0
            else "its one BatchNorm layer measures a ratio of exactly 1.00" if count == 1
            else f"all {count} BatchNorm layers measure a ratio of exactly 1.00"
        )  # fmt: skip
        _say(console, Text(said, style="green"), 2, 4)
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
        _say(console, Text("; ".join(rest) + ".", style="dim"), 2, 4)
    unsure = [x for x in probe.layers if x.verdict == "inconclusive"]
    if unsure:
        settle, once = probe.settling_batch(), sum(x.drawn_once for x in unsure)
        text = (
            f"~ inconclusive at batch {probe.batch_size}: {plural(len(unsure), 'ratio')} whose 95 % interval overlaps "
            "an edge of 0.90-1.10x, or that have none"
        )
        if settle:
            text += f"; --batch-size {settle} would likely settle them"
        if once:
            text += f"; {once} come from a random decision drawn once for the whole batch, which no batch size settles"
        _say(console, Text(text + ".", style="dim yellow"), 2, 4)
    return True

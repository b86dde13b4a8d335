"""The probe in the HTML report: every BatchNorm's variance-shift ratio as an SVG chart over depth (log
scale, the neutral band, 95 % intervals, one mark per layer shaped by its verdict), and the same
values in a table.

The values are the JSON report's (``LayerShift.to_dict()``), so that a chart can be checked against
``--format json``. A probe that records no forward order (``order``), interval (``ratio_low``,
``ratio_high``) or verdict is drawn in its list's order (largest shift first), without error bars,
with the verdict "shift" or "neutral" from ``LayerShift.shifted``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from .summary import plural

VERDICTS = ("shift", "neutral", "inconclusive", "not measurable")
_CLASS = {"shift": "v-shift", "neutral": "v-neutral", "inconclusive": "v-inconclusive", "not measurable": "v-na"}
WIDTH, HEIGHT = 600, 280  # the viewBox: at phone width the CSS enlarges the text and drops the y-axis title
LEFT, RIGHT, TOP, BOTTOM = 58, 12, 12, 46
NA_STRIP = 22  # a row under the plot for layers without a ratio to draw


@dataclass(frozen=True)
class Point:
    module: str
    order: int
    ratio: float | None  # None: nothing to draw on a log scale (not measured, 0, infinite)
    low: float | None
    high: float | None
    verdict: str
    row: dict[str, Any]  # the layer's JSON


def points(probe: Any) -> tuple[list[Point], bool]:
    """The layers in forward order, and whether the probe recorded that order (else: its list's order)."""
    rows = [layer.to_dict() for layer in probe.layers]
    ordered = bool(rows) and all("order" in row for row in rows)
    out = []
    for i, (layer, row) in enumerate(zip(probe.layers, rows)):
        ratio = _drawable(row.get("ratio_mean"))
        verdict = row.get("verdict") or _verdict(layer, row.get("ratio_mean"))
        order = row["order"] if ordered else i
        out.append(Point(row["module"], order, ratio, _drawable(row.get("ratio_low")),
                         _drawable(row.get("ratio_high")), verdict, row))  # fmt: skip
    out.sort(key=lambda p: (p.order, p.module))
    return out, ordered


def _verdict(layer: Any, ratio: float | None) -> str:
    """For a probe that gives no verdict: outside the neutral band or not (``LayerShift.shifted``)."""
    if ratio is None or not math.isfinite(ratio):
        return "not measurable"
    return "shift" if layer.shifted else "neutral"


def _drawable(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) and x > 0 else None


def ratio_text(x: float | None) -> str:
    """``0.46x``; three significant digits far from 1 (``1.2e+03x``); ``not measurable``."""
    if x is None or not math.isfinite(x):
        return "not measurable"
    return f"{x:.2f}x" if 0.01 <= x < 100 else f"{x:.3g}x"


def worst_ratio(row: dict[str, Any]) -> float | None:
    """The channel ratio furthest from 1 (in log terms) of one layer's JSON."""
    lo, hi = row.get("ratio_min"), row.get("ratio_max")
    if lo is None or hi is None or lo <= 0 or hi <= 0:
        return None
    return lo if abs(math.log(lo)) >= abs(math.log(hi)) else hi


# -- the chart ----------------------------------------------------------------------------------


def _domain(pts: list[Point], band: tuple[float, float]) -> tuple[float, float]:
    values = [v for p in pts for v in (p.ratio, p.low, p.high) if v is not None] + list(band)
    lo, hi = math.log(min(values)), math.log(max(values))
    pad = max((hi - lo) * 0.08, 0.05)
    return math.exp(lo - pad), math.exp(hi + pad)


def ticks(lo: float, hi: float) -> list[float]:
    """Round values for a log axis from ``lo`` to ``hi``: powers of ten over a wide range, 1-2-5 and
    finer steps over narrower ones; 3 to 8 of them where the range allows."""

    def within(mantissas: tuple[float, ...]) -> list[float]:
        first, last = math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1
        found = (float(f"{m * 10.0**k:.6g}") for k in range(first, last + 1) for m in mantissas)
        return sorted({v for v in found if lo <= v <= hi})

    decades = within((1,))
    if len(decades) >= 4:
        return decades[:: math.ceil(len(decades) / 8)]
    found: list[float] = []
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.1, 1.2, 1.3, 1.5, 1.7, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
        found = within(mantissas)
        if len(found) >= 3:
            break
    return found[:: math.ceil(len(found) / 8)] if found else found


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _num_attr(x: Any) -> str:
    return "" if x is None else repr(float(x))


def chart(pts: list[Point], band: tuple[float, float], ordered: bool, chart_id: str, row_id, name: str) -> str:
    """The SVG: one ``.mark`` per layer (a link to its table row) carrying its JSON values as data attributes."""
    n = len(pts)
    missing = any(p.ratio is None for p in pts)
    height = HEIGHT + (NA_STRIP if missing else 0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    lo, hi = _domain(pts, band)
    span = math.log(hi / lo)

    def y(v: float) -> float:
        return TOP + math.log(hi / v) / span * plot_h

    def x(i: int) -> float:
        return LEFT + (i + 0.5) * plot_w / n

    r = min(5.0, max(2.2, plot_w / n * 0.3))
    shifted = sum(p.verdict == "shift" for p in pts)
    across = "in forward order" if ordered else "largest shift first"
    desc = (f"{plural(n, 'BatchNorm layer')} {across}, {shifted} with a variance shift; the ratio of training to "
            f"inference variance on a log scale, the neutral band {band[0]:g} to {band[1]:g} shaded. The values "
            f"are in the table below.")  # fmt: skip
    out = [
        f'<svg class="chart" id="{chart_id}" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" data-marks="{n}" data-band="{band[0]!r} {band[1]!r}" '
        f'data-ordered="{str(ordered).lower()}">',
        f'<title id="{chart_id}-t">Variance-shift ratio at each BatchNorm of {escape(name)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
        f'<rect class="band" x="{LEFT}" y="{_n(y(band[1]))}" width="{plot_w}" height="{_n(y(band[0]) - y(band[1]))}"/>',
    ]
    for t in ticks(lo, hi):
        cls = "one" if t == 1 else "grid"
        out.append(f'<line class="{cls}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_n(y(t))}" y2="{_n(y(t))}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{_n(y(t) + 4)}" text-anchor="end">{t:g}</text>')
    out.append(f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>')
    step = 1 if n <= 16 else next(s for s in (2, 5, 10, 20, 50, 100, 200, 500, 1000, n) if n / s <= 12)
    base = TOP + plot_h + (NA_STRIP if missing else 0)
    for i, p in enumerate(pts):
        if i % step == 0:
            out.append(
                f'<text x="{_n(x(i))}" y="{base + 14}" text-anchor="middle">{p.order + 1 if ordered else i + 1}</text>'
            )
    if missing:
        out.append(f'<text x="{LEFT - 6}" y="{TOP + plot_h + NA_STRIP / 2 + 4:.0f}" text-anchor="end">n/m</text>')
    out.append(
        f'<text class="axis-title" x="{LEFT + plot_w / 2:.0f}" y="{height - 8}" text-anchor="middle">'
        f"BatchNorm layers, {across}</text>"
    )
    out.append(
        f'<text class="axis-title y-title" transform="translate(14 {TOP + plot_h / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">variance ratio, training / inference</text>'
    )
    for i, p in enumerate(pts):
        out.append(_mark(p, x(i), y, r, TOP + plot_h + NA_STRIP / 2, row_id(i)))
    out.append("</svg>")
    return "".join(out)


def _mark(p: Point, cx: float, y, r: float, na_y: float, href: str) -> str:
    row = p.row
    low, high = row.get("ratio_low"), row.get("ratio_high")
    interval = (
        f", 95 % interval {ratio_text(low)} to {ratio_text(high)}" if low is not None and high is not None else ""
    )
    title = f"{p.module}: {ratio_text(row.get('ratio_mean'))}{interval}, {p.verdict}"
    head = (
        f'<a class="mark {_CLASS.get(p.verdict, "v-na")}" href="#{href}" data-module="{escape(p.module)}" '
        f'data-order="{row.get("order", "")}" data-ratio="{_num_attr(row.get("ratio_mean"))}" '
        f'data-low="{_num_attr(row.get("ratio_low"))}" data-high="{_num_attr(row.get("ratio_high"))}" '
        f'data-verdict="{escape(p.verdict)}"><title>{escape(title)}</title>'
    )
    if p.ratio is None:  # a cross in the strip under the plot
        return (
            head
            + f'<path d="M{_n(cx - r)} {_n(na_y - r)}l{_n(2 * r)} {_n(2 * r)}m0 {_n(-2 * r)}l{_n(-2 * r)} {_n(2 * r)}"/></a>'
        )
    body = ""
    if p.low is not None and p.high is not None:
        y1, y2, cap = y(p.high), y(p.low), max(r, 3.0)
        body += f'<path d="M{_n(cx)} {_n(y1)}V{_n(y2)}M{_n(cx - cap)} {_n(y1)}h{_n(2 * cap)}M{_n(cx - cap)} {_n(y2)}h{_n(2 * cap)}"/>'
    cy = y(p.ratio)
    if p.verdict == "inconclusive":  # a diamond
        d = r * 1.3
        body += f'<path class="dot" d="M{_n(cx)} {_n(cy - d)}l{_n(d)} {_n(d)}l{_n(-d)} {_n(d)}l{_n(-d)} {_n(-d)}z"/>'
    else:
        body += f'<circle cx="{_n(cx)}" cy="{_n(cy)}" r="{_n(r)}"/>'
    return head + body + "</a>"


def legend(pts: list[Point], band: tuple[float, float]) -> str:
    """What the marks mean, for the verdicts this chart shows."""
    glyphs = {
        "shift": '<circle cx="7" cy="7" r="4.5"/>',
        "neutral": '<circle cx="7" cy="7" r="4.5"/>',
        "inconclusive": '<path class="dot" d="M7 1.5l5.5 5.5l-5.5 5.5l-5.5-5.5z"/>',
        "not measurable": '<path d="M3 3l8 8m0-8l-8 8"/>',
    }
    meaning = {
        "shift": "shift: the ratio (its whole interval, when there is one) lies outside the band",
        "neutral": "neutral: inside the band",
        "inconclusive": "inconclusive: the interval straddles the band's edge",
        "not measurable": "not measurable (n/m)",
    }
    seen = [v for v in VERDICTS if any(p.verdict == v for p in pts)]
    seen += sorted({p.verdict for p in pts} - set(VERDICTS))
    items = [
        f'<li><svg aria-hidden="true" viewBox="0 0 14 14"><rect class="band" width="14" height="14"/></svg>'
        f"neutral band {band[0]:g} to {band[1]:g}</li>"
    ]
    for v in seen:
        glyph = glyphs.get(v, glyphs["neutral"])
        items.append(f'<li><svg aria-hidden="true" viewBox="0 0 14 14" class="mark {_CLASS.get(v, "v-na")}">{glyph}</svg>'
                     f"{escape(meaning.get(v, v))}</li>")  # fmt: skip
    if any(p.low is not None and p.high is not None for p in pts):
        items.append(
            '<li><svg aria-hidden="true" viewBox="0 0 14 14" class="mark v-na"><path d="M7 1V13M4 1h6M4 13h6"/>'
            "</svg>95 % interval</li>"
        )
    return '<ul class="legend">' + "".join(items) + "</ul>"


# -- the table ----------------------------------------------------------------------------------


def _sources(sources: list[str]) -> str:
    """The first upstream dropout site and how many more (a DenseNet's last layers have dozens)."""
    if not sources:
        return '<span class="muted">none found</span>'
    more = f" and {len(sources) - 1} more" if len(sources) > 1 else ""
    return f'<span class="mono">{escape(sources[0])}</span>{more}'


def table(pts: list[Point], ordered: bool, row_id) -> str:
    """Every layer's values, as the chart shows them (the chart's accessible twin)."""
    intervals = any(p.row.get("ratio_low") is not None for p in pts)
    excluded = any(p.row.get("excluded_channels") for p in pts)
    trained = any(p.row.get("running_ratio_mean") is not None for p in pts)
    head = ["#" if ordered else "rank", "BatchNorm", "ratio"] + (["95 % interval"] if intervals else [])
    head += ["verdict", "worst channel", "mean shift", "channels", "samples", "upstream dropout"]
    head += ["running / eval var", "running mean gap"] if trained else []
    numeric = {"#", "rank", "ratio", "95 % interval", "worst channel", "mean shift", "channels", "samples",
               "running / eval var", "running mean gap"}  # fmt: skip
    out = ["<thead><tr>"]
    out += [f'<th scope="col"{" class=num" if h in numeric else ""}>{escape(h)}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for i, p in enumerate(pts):
        row = p.row
        cells = [str(p.order + 1 if ordered else i + 1), f'<span class="mono">{escape(p.module)}</span>',
                 ratio_text(row.get("ratio_mean"))]  # fmt: skip
        if intervals:
            low, high = row.get("ratio_low"), row.get("ratio_high")
            cells.append(f"{ratio_text(low)} to {ratio_text(high)}" if low is not None and high is not None else "none")
        cells.append(f'<span class="{_CLASS.get(p.verdict, "v-na")}">{escape(p.verdict)}</span>')
        worst = worst_ratio(row)
        channel = row.get("worst_channel")
        cells.append("-" if worst is None or channel is None else f"{ratio_text(worst)} (ch {channel})")
        shift = row.get("mean_shift")
        cells.append("-" if shift is None else f"{shift:.2f} sd")
        cells.append(str(row.get("channels", "")) + (f" ({row['excluded_channels']} excluded)" if excluded
                                                      and row.get("excluded_channels") else ""))  # fmt: skip
        cells.append(str(row.get("samples", "")))
        cells.append(_sources(row.get("sources") or []))
        if trained:
            mean, lo, hi = (row.get(f"running_ratio_{k}") for k in ("mean", "min", "max"))
            cells.append("-" if mean is None else f"{ratio_text(mean)} ({ratio_text(lo)} to {ratio_text(hi)})")
            gap = row.get("running_mean_gap")
            cells.append("-" if gap is None else f"{gap:.2f} sd")
        out.append(f'<tr id="{row_id(i)}">')
        out += [f"<td{' class=num' if h in numeric else ''}>{c}</td>" for h, c in zip(head, cells)]
        out.append("</tr>")
    out.append("</tbody>")
    return '<div class="scroll"><table class="values">' + "".join(out) + "</table></div>"

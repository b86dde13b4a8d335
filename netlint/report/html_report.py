"""``--format html``: one self-contained page (inline CSS, script and SVG; its Content-Security-Policy lets it
fetch nothing) that a CI job can keep as an artifact and a reviewer can open offline.

A summary table links to each model; per model, the findings grouped by rule with the source line in
its context (read from the file when the report is written: a missing file shows none), the path
from source to sink of path rules (``data["path"]``) and the fix; then the probe's chart and table
(html_chart.py). Same report, same bytes: no timestamps, and the probe's seconds only with --timings.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import tokenize
from functools import cache
from html import escape
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .. import __version__
from . import html_chart
from .summary import GROUP_AT, analysis_text, group_findings, plural, summary_line, unused_text

if TYPE_CHECKING:
    from ..findings import Finding, Rule
    from ..results import ModelReport, Report

CONTEXT = 2  # source lines shown before and after a finding's line
PATH_SHOWN = 6  # a longer path shows its first and last steps around a count of the others
MODULES_SHOWN = 8  # of the modules of findings at one line; the others behind a <details>
_SEVERITIES = ("error", "warning", "info")


def render(report: Report, out: IO[str], *, timings: bool = False, elapsed: float | None = None, **_: Any) -> None:
    out.write(page(report, timings=timings, elapsed=elapsed))


@cache
def _asset(suffix: str) -> str:
    return (Path(__file__).parent / f"html_report.{suffix}").read_text(encoding="utf-8")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def page(report: Report, *, timings: bool = False, elapsed: float | None = None) -> str:
    css, js = _asset("css"), _asset("js")
    # Only this page's own style and script run, and nothing can be fetched (images only as data: URIs).
    policy = f"default-src 'none'; style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; img-src data:"
    ids = model_ids(report.models)
    rules = _rules(report)
    sources = _Sources()
    title = "netlint report" + (f": {report.models[0].name}" if len(report.models) == 1 else "")
    tail = [f"netlint {escape(__version__)}"] + ([f"{plural(report.files, 'file')} scanned"] if report.files else [])
    tail += [f"{elapsed:.1f} s"] if timings and elapsed is not None else []
    tail += ["interrupted: the report shows what finished"] if report.interrupted else []
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        '<meta name="color-scheme" content="light dark">\n',
        f"<title>{escape(title)}</title>\n<style>{css}</style>\n<script>{js}</script>\n</head>\n<body>\n",
        f'<header><h1>netlint report</h1><p id="summary-line">{escape(summary_line(report))}.</p>'
        f'<p class="muted">{", ".join(tail)}</p></header>\n<main>\n',
        _summary_table(report, ids),
        _errors(report),
        _notes(report.notes),
    ]
    for model, model_id in zip(report.models, ids):
        parts.append(_model(model, model_id, rules, sources, timings))
    parts.append(f'</main>\n<footer class="muted">Written by netlint {escape(__version__)}. Rule documentation: '
                 "<code>netlint explain NL001</code>.</footer>\n</body>\n</html>\n")  # fmt: skip
    return "".join(parts)


def model_ids(models: list[ModelReport]) -> list[str]:
    """A stable, unique anchor per model: ``m2-examples-vgg_dropout_blocks.py-VGGDropout``."""
    return [f"m{i}-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", m.name).strip("-")[:80] or "model")
            for i, m in enumerate(models, 1)]  # fmt: skip


def _rules(report: Report) -> dict[str, Any]:
    found: dict[str, Any] = {r.code: r for r in report.rules}
    missing = {f.code for f in report.findings} - set(found)
    if missing:  # a report built without its rule list (the API): the registry has their documentation
        from ..rules import lookup

        found.update({code: rule for code in missing if (rule := lookup(code)) is not None})
    return found


# -- the top of the page ------------------------------------------------------------------------


def _badges(by_severity: dict[str, int]) -> str:
    return " ".join(
        f'<span class="sev sev-{s}">{plural(n, s)}</span>' for s in _SEVERITIES if (n := by_severity.get(s))
    )


def _summary_table(report: Report, ids: list[str]) -> str:
    if not report.models:
        return ""
    rows = []
    for model, model_id in zip(report.models, ids):
        severities: dict[str, int] = {}
        for f in model.findings:
            severities[f.severity.value] = severities.get(f.severity.value, 0) + 1
        codes = sorted({f.code for f in model.findings})
        found = _badges(severities) if model.findings else '<span class="muted">clean</span>'
        rows.append(
            f'<tr><td><a href="#{model_id}">{_breakable(model.name)}</a></td><td>{found}</td>'
            f'<td class="hide-narrow">{escape(", ".join(codes))}</td><td>{_probe_summary(model)}</td></tr>'
        )
    return (
        '<section id="models" aria-label="Models"><div class="scroll"><table class="summary"><thead><tr>'
        '<th scope="col">Model</th><th scope="col">Findings</th><th scope="col" class="hide-narrow">Rules</th>'
        '<th scope="col">Probe</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table></div></section>\n"
    )


def _breakable(name: str) -> str:
    """A path with a line-break opportunity after each slash and colon."""
    return re.sub(r"([/:])", r"\1<wbr>", escape(name))


def _probe_summary(model: ModelReport) -> str:
    probe = model.probe
    if probe is None:
        return f'<span class="muted">{escape(model.probe_note or "not run")}</span>'
    pts, _ = html_chart.points(probe)
    measured = [p for p in pts if p.ratio is not None]
    if not pts:
        return "no BatchNorm to measure"
    if not measured:
        return f"{plural(len(pts), 'BatchNorm')}, none measurable"
    worst = max(measured, key=lambda p: (abs(math.log(p.ratio)), p.module))
    shifted = sum(p.verdict == "shift" for p in pts)
    furthest = (f"furthest from 1: {html_chart.ratio_text(worst.ratio)} at "
                f'<span class="mono">{escape(worst.module)}</span>') if worst.ratio != 1 else "every ratio 1.00x"  # fmt: skip
    return (
        f"{shifted} of {plural(len(pts), 'BatchNorm')} shifted; {furthest}; output drift {_drift(probe.output_drift)}"
    )


def _drift(drift: float | None) -> str:
    return "not measurable" if drift is None else f"{drift:.1%}"


def _errors(report: Report) -> str:
    if not report.errors:
        return ""
    items = "".join(f"<li>{escape(e.text)}</li>" for e in report.errors)
    return f'<section id="errors" class="errors"><h2>Errors</h2><ul>{items}</ul></section>\n'


def _notes(notes: list[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{escape(n)}</li>" for n in notes)
    return f'<section id="notes" class="notes"><h2>Notes</h2><ul>{items}</ul></section>\n'


# -- a model ------------------------------------------------------------------------------------


def _model(model: ModelReport, model_id: str, rules: dict[str, Rule], sources: _Sources, timings: bool) -> str:
    facts = f"input {model.inputs} ({model.input_source}); {analysis_text(model.parts)}; {plural(model.nodes, 'node')}"
    out = [
        f'<section class="model" id="{model_id}" aria-labelledby="{model_id}-h">',
        f'<h2 id="{model_id}-h">{escape(model.name)}</h2><p class="muted">{escape(facts)}</p>',
    ]
    if unused := unused_text(model.unused):
        out.append(f'<p class="muted">{escape(unused)}</p>')
    if not model.findings:
        out.append("<p>No findings.</p>")
    by_rule: dict[str, list[tuple[int, Finding]]] = {}
    for i, f in enumerate(model.findings):
        by_rule.setdefault(f.code, []).append((i, f))
    # The most severe rules first, then by code.
    order = sorted(by_rule, key=lambda c: (-max(f.severity.rank for _, f in by_rule[c]), c))
    for code in order:
        out.append(_rule_group(code, by_rule[code], rules.get(code), model_id, sources))
    if model.probe is not None:
        out.append(_probe(model, model_id, timings))
    elif model.probe_note:
        out.append(f'<p class="muted">probe: {escape(model.probe_note)}</p>')
    out.append("</section>\n")
    return "".join(out)


def _rule_group(code: str, items: list[tuple[int, Finding]], rule: Rule | None, model_id: str, sources) -> str:
    findings = [f for _, f in items]
    index = {id(f): i for i, f in items}
    worst = max((f.severity for f in findings), key=lambda s: s.rank).value
    group_id = f"{model_id}-{code}"
    out = [
        f'<details class="rule" id="{group_id}" open><summary><h3><span class="sev sev-{worst}">{worst}</span> '
        f"{escape(code)} {escape(findings[0].name)} "
        f'<span class="muted">({plural(len(findings), "finding")})</span></h3></summary>'
    ]
    if rule is not None:
        out.append(f"<p>{escape(rule.summary)}</p>")
        sections = rule.sections()
        doc = "".join(
            f"<h4>{escape(title)}</h4>{markdown(sections[title])}"
            for title in ("Why is this bad?", "How to fix", "References")
            if sections.get(title)
        )
        if doc:
            out.append(f'<details class="doc"><summary>Why this matters and how to fix it</summary>{doc}</details>')
    for group in group_findings(findings):
        out.append(_finding_group(group, model_id, index, sources) if len(group) >= GROUP_AT else
                   _finding(group[0], f"{model_id}-f{index[id(group[0])]}", sources))  # fmt: skip
    out.append("</details>")
    return "".join(out)


def _severity(f: Finding) -> str:
    return f'<span class="sev sev-{f.severity.value}">{f.severity.value}</span>'


def _finding(f: Finding, anchor: str, sources: _Sources) -> str:
    out = [
        f'<article class="finding" id="{anchor}"><div class="head">{_severity(f)}'
        f'<strong class="mono">{escape(f.module or "<root>")}</strong>'
        f'<span class="mono muted">{escape(f.where or "(no source line)")}</span></div>',
        f"<p>{escape(f.message)}</p>",
    ]
    if f.origin:
        out.append(f'<p class="muted">defined in <span class="mono">{escape(f.origin)}</span></p>')
    out.append(sources.context(f))
    out.append(path_list(f.data.get("path")))
    out.append(f'<p class="fix">{escape(f.fix)}</p></article>')
    return "".join(out)


def _finding_group(group: list[Finding], model_id: str, index: dict[int, int], sources: _Sources) -> str:
    """Findings of one rule at one source line (a layer built in a loop): one context, every module named."""
    first = group[0]
    names = [escape(f.module or "<root>") for f in group]
    modules = f'At <span class="mono">{", ".join(names[:MODULES_SHOWN])}</span>'
    if len(names) > MODULES_SHOWN:
        modules += (f"<details><summary>and {len(names) - MODULES_SHOWN} more</summary>"
                    f'<span class="mono">{", ".join(names[MODULES_SHOWN:])}</span></details>')  # fmt: skip
    fixes = {f.fix for f in group}
    return (
        f'<article class="finding" id="{model_id}-f{index[id(first)]}"><div class="head">{_severity(first)}'
        f"<strong>{plural(len(group), 'finding')}</strong>"
        f'<span class="mono muted">{escape(first.where or "(no source line)")}</span></div>'
        f"<div>{modules}</div><p>For example: {escape(first.message)}</p>"
        + (f'<p class="muted">defined in <span class="mono">{escape(first.origin)}</span></p>' if first.origin else "")
        + sources.context(first)
        + path_list(first.data.get("path"))
        + f'<p class="fix">{escape(first.fix if len(fixes) == 1 else "For example: " + first.fix)}</p></article>'
    )


def path_list(path: Any) -> str:
    """``data["path"]`` as a chain of steps, from source to sink; a long one shows its ends."""
    if not path or not isinstance(path, (list, tuple)):
        return ""
    steps = [f"<li>{escape(str(step))}</li>" for step in path]
    if len(steps) > 2 * PATH_SHOWN:
        hidden = len(steps) - 2 * PATH_SHOWN
        steps = [*steps[:PATH_SHOWN], f'<li class="gap">{plural(hidden, "more step")}</li>', *steps[-PATH_SHOWN:]]
    return f'<ol class="path mono" aria-label="path from source to sink">{"".join(steps)}</ol>'


class _Sources:
    """The lines of each source file, read once per report (a notebook's cells from the notebook)."""

    def __init__(self) -> None:
        self.files: dict[str, list[str] | None] = {}

    def lines(self, file: str) -> list[str] | None:
        if file not in self.files:
            try:
                with tokenize.open(file) as fh:  # its PEP 263 coding
                    text = fh.read()
                from ..cells import split_lines

                self.files[file] = [line.rstrip("\r\n") for line in split_lines(text)]
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                self.files[file] = None
        return self.files[file]

    def cell_lines(self, file: str, cell: int) -> list[str] | None:
        from ..cells import NotebookError, read_notebook, split_lines

        try:
            found = read_notebook(file).cell(cell)
        except (OSError, NotebookError, ValueError):
            return None
        return None if found is None else [line.rstrip("\r\n") for line in split_lines(found.text)]

    def context(self, f: Finding) -> str:
        if not f.file:
            return ""
        if f.cell is not None and f.cell_line:
            lines, at, label = self.cell_lines(f.file, f.cell), f.cell_line, f"cell {f.cell} of {f.file}"
        elif f.line:
            lines, at, label = self.lines(f.file), f.line, f.file
        else:
            return ""
        if not lines or not 1 <= at <= len(lines):
            return ""
        first, last = max(1, at - CONTEXT), min(len(lines), at + CONTEXT)
        shown = "".join(
            f'<span class="l{" hl" if n == at else ""}"><span class="ln">{n}</span>{escape(lines[n - 1])}</span>'
            for n in range(first, last + 1)
        )
        return f'<pre class="ctx" aria-label="{escape(label)}, lines {first} to {last}">{shown}</pre>'


# -- the probe ----------------------------------------------------------------------------------


def _probe(model: ModelReport, model_id: str, timings: bool) -> str:
    probe = model.probe
    band = tuple(probe.to_dict().get("band") or (0.9, 1.1))
    pts, ordered = html_chart.points(probe)
    facts = [f"{escape(probe.device)}, batch {probe.batch_size} ({escape(probe.batch_reason)}), seed {probe.seed}"]
    if timings:
        facts.append(f"{probe.seconds:.1f} s")
    facts.append(f"output drift <strong>{_drift(probe.output_drift)}</strong> (the eval output with BatchNorm "
                 "statistics from training against those from inference)")  # fmt: skip
    worst = _worst_channel(pts)
    if worst:
        facts.append(worst)
    out = [
        f'<section class="probe" id="{model_id}-probe" aria-labelledby="{model_id}-probe-h">',
        f'<h3 id="{model_id}-probe-h">Variance shift'
        + (f" at {plural(len(pts), 'BatchNorm layer')}" if pts else "")
        + "</h3>",
        '<div class="facts">' + "".join(f"<p>{f}</p>" for f in facts) + "</div>",
    ]
    if probe.notes:
        out.append('<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in probe.notes) + "</ul>")
    if not pts:
        out.append("<p>No BatchNorm layer that keeps running statistics: nothing to measure.</p>")
    else:
        row_id = lambda i: f"{model_id}-bn{i}"  # noqa: E731
        out.append(html_chart.chart(pts, band, ordered, f"{model_id}-chart", row_id, model.name))
        out.append(html_chart.legend(pts, band))
        out.append(f"<details><summary>The values ({plural(len(pts), 'layer')})</summary>"
                   f"{html_chart.table(pts, ordered, row_id)}</details>")  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _worst_channel(pts: list[html_chart.Point]) -> str:
    """The single channel furthest from 1 over all layers."""
    best = None
    for p in pts:
        ratio, channel = html_chart.worst_ratio(p.row), p.row.get("worst_channel")
        if ratio is not None and channel is not None:
            key = (abs(math.log(ratio)), p.module)
            if best is None or key > best[0]:
                best = (key, ratio, channel, p.module)
    if best is None:
        return ""
    _, ratio, channel, module = best
    return (f"worst channel: <strong>{html_chart.ratio_text(ratio)}</strong>, channel {channel} of "
            f'<span class="mono">{escape(module)}</span>')  # fmt: skip


# -- rule documentation -------------------------------------------------------------------------

_URL = re.compile(r"https?://[^\s<>\"')]+")


def _inline(text: str) -> str:
    """Escaped text with `code` spans and links."""
    out = []
    for i, piece in enumerate(text.split("`")):
        if i % 2:
            out.append(f"<code>{escape(piece)}</code>")
        else:
            escaped = escape(piece)
            out.append(
                _URL.sub(lambda m: f'<a href="{m.group(0)}" rel="noopener noreferrer">{m.group(0)}</a>', escaped)
            )
    return "".join(out)


def markdown(text: str) -> str:
    """The rules' documentation markdown: paragraphs, ``-`` lists, fenced code and `code`."""
    out: list[str] = []
    paragraph: list[str] = []
    items: list[list[str]] = []
    code: list[str] | None = None

    def flush() -> None:
        if paragraph:
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(' '.join(item))}</li>" for item in items) + "</ul>")
            items.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if code is not None:
            if stripped.startswith("```"):
                out.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
                code = None
            else:
                code.append(line)
        elif stripped.startswith("```"):
            flush()
            code = []
        elif not stripped:
            flush()
        elif stripped.startswith("- "):
            if paragraph:
                flush()
            items.append([stripped[2:]])
        elif items and line.startswith(" "):
            items[-1].append(stripped)
        else:
            if items:
                flush()
            paragraph.append(stripped)
    flush()
    if code is not None:
        out.append(f"<pre><code>{escape(chr(10).join(code))}</code></pre>")
    return "".join(out)

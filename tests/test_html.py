"""The HTML report: one self-contained page, same bytes for the same report, findings with their source
context and path, the probe's chart with the values of the JSON report, before and after the probe
records intervals, verdicts and the forward order. test_html_browser.py opens it in Chromium."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from typing import Any

import pytest
import torch
import torch.nn as nn

import netlint
from netlint.findings import Finding, Severity
from netlint.graph.ir import AnalysisPart
from netlint.probing.shift import ProbeResult
from netlint.report import render
from netlint.report.html_chart import ticks
from netlint.results import ModelReport, Report

from .conftest import ROOT, run_netlint, write
from .test_notebooks import notebook

# -- stand-ins for the probe's layers, as the probe reported them before and after issue 19 --------


@dataclasses.dataclass
class Legacy:
    """A layer as the probe reported it before issue 19: no interval, verdict or forward order; the
    list is sorted by the size of the shift, and ``shifted`` means outside [0.9, 1.1]."""

    module: str
    ratio_mean: float
    ratio_min: float
    ratio_max: float
    worst_channel: int = 0
    mean_shift: float = 0.0
    channels: int = 8
    samples: int = 4096
    sources: list = dataclasses.field(default_factory=list)
    running_ratio_mean: float | None = None

    @property
    def shifted(self) -> bool:
        return not 0.9 <= self.ratio_mean <= 1.1

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module, "ratio_mean": self.ratio_mean, "ratio_min": self.ratio_min,
            "ratio_max": self.ratio_max, "worst_channel": self.worst_channel, "mean_shift": self.mean_shift,
            "channels": self.channels, "samples": self.samples, "sources": list(self.sources),
            "running_ratio_mean": None, "running_ratio_min": None, "running_ratio_max": None, "running_mean_gap": None,
        }  # fmt: skip


@dataclasses.dataclass
class Current(Legacy):
    """A layer as the probe of issue 19 reports it: a 95 % interval, a verdict, the forward order."""

    ratio_low: float | None = None
    ratio_high: float | None = None
    verdict: str = ""
    order: int = 0
    excluded_channels: int = 0

    @property
    def shifted(self) -> bool:
        return self.verdict == "shift"

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {
            "ratio_low": self.ratio_low, "ratio_high": self.ratio_high, "verdict": self.verdict, "order": self.order,
            "excluded_channels": self.excluded_channels,
        }  # fmt: skip


def finding(code: str = "NL001", module: str = "blocks.1.drop", file: str | None = "model.py", line: int | None = 3,
            **data) -> Finding:  # fmt: skip
    return Finding(code, "dropout-before-batchnorm", Severity.WARNING, module, f"Dropout at {module} feeds bn.",
                   "Move the dropout.", file, line, model="model.py:Net", data=data)  # fmt: skip


def model_report(findings: list[Finding], layers: list | None = None, name: str = "model.py:Net") -> ModelReport:
    model = ModelReport(name, "model.py", "2x3x8x8 float32", "inferred", [AnalysisPart("", "torch.fx")], (), 10,
                        findings, 0.1)  # fmt: skip
    if layers is not None:
        model.probe = ProbeResult("cpu", 32, 0, 1.3, 0.2, layers)
    return model


def html(report: Report, **kwargs) -> str:
    out = io.StringIO()
    render(report, "html", out, **kwargs)
    return out.getvalue()


class Page(HTMLParser):
    """Elements by tag with their attributes, ids, and the text of the whole page (a real HTML parser)."""

    def __init__(self, text: str):
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str | None = None, cls: str | None = None) -> list[dict[str, str]]:
        return [
            a
            for t, a in self.elements
            if (tag is None or t == tag) and (cls is None or cls in a.get("class", "").split())
        ]

    @property
    def ids(self) -> set[str]:
        return {a["id"] for _, a in self.elements if "id" in a}


LEGACY = [  # sorted as that probe sorted them: the largest shift first
    Legacy("features.2.bn", 0.46, 0.33, 0.66, 153, 0.03, sources=["features.1.drop"]),
    Legacy("features.1.bn", 0.58, 0.52, 0.70, 93),
    Legacy("features.0.bn", 1.0, 1.0, 1.0),
]
CURRENT = [  # the forward order differs from the list's order
    Current("b.bn3", 0.46, 0.33, 0.66, 153, 0.03, ratio_low=0.44, ratio_high=0.48, verdict="shift", order=2),
    Current("b.bn2", 0.93, 0.8, 1.05, 3, ratio_low=0.85, ratio_high=1.02, verdict="inconclusive", order=1),
    Current("b.bn1", 1.0, 1.0, 1.0, 0, ratio_low=1.0, ratio_high=1.0, verdict="neutral", order=0),
    Current("b.bn4", None, None, None, None, None, excluded_channels=8, verdict="not measurable", order=3),
]


# -- one page, nothing fetched, same bytes --------------------------------------------------------


def test_one_self_contained_page_whose_policy_allows_only_its_own_style_and_script():
    text = html(Report(models=[model_report([finding()], LEGACY)], files=1))
    page = Page(text)
    assert text.startswith("<!DOCTYPE html>") and text.count("<style>") == 1 and text.count("<script>") == 1
    assert not [a for _, a in page.elements if "src" in a] and not page.all("link") and "url(" not in text
    external = [a["href"] for a in page.all("a") if not a["href"].startswith("#")]
    assert all(re.match(r"https?://", h) for h in external)  # references in the rule docs: links, never loaded
    policy = next(a["content"] for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy")
    style = re.search(r"<style>(.*?)</style>", text, re.S).group(1)
    script = re.search(r"<script>(.*?)</script>", text, re.S).group(1)

    def digest(s: str) -> str:
        return "sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()

    assert policy == f"default-src 'none'; style-src '{digest(style)}'; script-src '{digest(script)}'; img-src data:"
    assert "prefers-color-scheme: dark" in style and "max-width: 40rem" in style  # dark theme, phone width
    assert any(a.get("name") == "viewport" for a in page.all("meta"))


def test_same_report_same_bytes_and_seconds_only_with_timings():
    report = Report(models=[model_report([finding()], LEGACY)], files=1)
    first = html(report, elapsed=3.21)
    assert first == html(report, elapsed=9.87)
    assert "1.3 s" not in first and "3.2 s" not in first
    timed = html(report, elapsed=3.21, timings=True)
    assert "1.3 s" in timed and "3.2 s" in timed  # the probe's and the run's seconds


def test_everything_from_the_report_is_escaped():
    hostile = "<script>alert(1)</script>"
    f = dataclasses.replace(finding(module=hostile, path=[hostile, "bn (BatchNorm2d)"]), message=hostile, fix=hostile)
    text = html(Report(models=[model_report([f], [Legacy(hostile, 0.5, 0.4, 0.6)], name=hostile)], notes=[hostile]))
    assert text.count("<script>") == 1 and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = Page(text)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", i) for i in page.ids)  # anchors survive any model name


def test_summary_links_to_every_model_and_every_link_has_its_target():
    models = [model_report([finding()], LEGACY, name="a.py:Net"), model_report([], None, name="a.py:Net")]
    models[1].probe_note = "not needed (no dropout reaches a BatchNorm)"
    page = Page(html(Report(models=models, files=1)))
    links = [a["href"][1:] for a in page.all("a") if a["href"].startswith("#")]
    assert {s["id"] for s in page.all("section", "model")} <= set(links)  # two models of one name: two anchors
    assert len({s["id"] for s in page.all("section", "model")}) == 2
    assert set(links) <= page.ids
    assert "not needed (no dropout reaches a BatchNorm)" in "".join(page.text)


def test_a_report_of_errors_only():
    from netlint.errors import NetlintError

    report = Report(errors=[NetlintError("wrn.py", "no model in wrn.py can be built.", "Add an instance.")],
                    notes=["importing wrn.py runs top-level code at line 3"])  # fmt: skip
    page = Page(html(report))
    text = "".join(page.text)
    assert "wrn.py: no model in wrn.py can be built. Add an instance." in text and "top-level code at line 3" in text
    assert "No model checked; 1 error." in text and not page.all("section", "model") and not page.all("table")


def test_findings_grouped_by_rule_most_severe_first():
    error = dataclasses.replace(finding("NL009", "mix"), severity=Severity.ERROR, name="batch-mixing")
    info = dataclasses.replace(finding("NL005", "sd"), severity=Severity.INFO, name="drop-path-before-batchnorm")
    page = Page(html(Report(models=[model_report([info, finding(), error])])))
    assert [d["id"].rsplit("-", 1)[1] for d in page.all("details", "rule")] == ["NL009", "NL001", "NL005"]
    text = "".join(page.text)
    assert "Why is this bad?" in text and "How to fix" in text  # the rule's documentation, from the registry


def test_findings_at_one_line_are_one_entry_naming_every_module():
    group = [finding(module=f"blocks.{i}.drop") for i in range(10)]
    page = Page(html(Report(models=[model_report([*group, finding(module="head.drop", line=9)])])))
    cards = page.all("article", "finding")
    assert [c["id"].rsplit("-", 1)[1] for c in cards] == ["f0", "f10"]  # the loop's ten, then the other
    text = "".join(page.text)
    assert "10 findings" in text and "and 2 more" in text and "blocks.9.drop" in text


# -- source context and paths -------------------------------------------------------------------


def test_the_source_line_in_its_context_and_none_for_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "model.py", "".join(f"line {n}\n" for n in range(1, 11)))
    page = Page(html(Report(models=[model_report([finding(line=5), finding(file="gone.py", line=5)])])))
    [context] = page.all("pre", "ctx")  # the missing file shows none
    assert context["aria-label"] == "model.py, lines 3 to 7"
    text = html(Report(models=[model_report([finding(line=5)])]))
    assert re.search(r'<span class="l hl"><span class="ln">5</span>line 5</span>', text)
    assert '<span class="ln">3</span>line 3' in text and '<span class="ln">8</span>' not in text


def test_a_notebook_finding_shows_its_cell(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "nb.ipynb", notebook(("markdown", "# Title\n"), ("code", "import torch\n"),
                                          ("code", "a = 1\nb = 2\nc = 3\nd = 4\n")))  # fmt: skip
    f = dataclasses.replace(finding(file="nb.ipynb", line=30), cell=3, cell_line=3)
    text = html(Report(models=[model_report([f])]))
    assert "nb.ipynb:cell 3:3" in text
    assert 'aria-label="cell 3 of nb.ipynb, lines 1 to 4"' in text
    assert '<span class="l hl"><span class="ln">3</span>c = 3</span>' in text


def test_path_from_source_to_sink_and_a_long_one_shortened():
    short = ["drop (Dropout)", "conv (Conv2d)", "bn (BatchNorm2d)"]
    page = Page(html(Report(models=[model_report([finding(path=short)])])))
    [chain] = page.all("ol", "path")
    assert chain["aria-label"] == "path from source to sink"
    assert "drop (Dropout)conv (Conv2d)bn (BatchNorm2d)" in "".join(page.text)
    long = [f"step{i}" for i in range(30)]
    text = html(Report(models=[model_report([finding(path=long)])]))
    assert 'step5</li><li class="gap">18 more steps</li><li>step24' in text and "step6<" not in text


class _Paths(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.3)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.bn(self.conv2(self.drop(torch.relu(self.conv1(x)))))
        return torch.softmax(y.mean((2, 3)), dim=0)  # mixes the batch


def test_path_rules_carry_their_path_from_source_to_sink():
    report = netlint.check(_Paths(), torch.randn(2, 3, 8, 8), select=["NL001", "NL003", "NL009"])
    paths = {f.code: f.data["path"] for f in report.findings}
    assert paths == {
        "NL001": ["drop (Dropout)", "conv2 (Conv2d)", "bn (BatchNorm2d)"],
        "NL003": ["conv1 (Conv2d)", "relu()", "drop (Dropout)", "conv2 (Conv2d)"],
        "NL009": ["input x", "conv1 (Conv2d)", "relu()", "drop (Dropout)", "conv2 (Conv2d)", "bn (BatchNorm2d)",
                  "mean()", "softmax()"],
    }  # fmt: skip


def test_drop_path_findings_carry_their_path():
    from torchvision.ops import StochasticDepth

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
            self.sd = StochasticDepth(0.2, "row")
            self.next = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))

        def forward(self, x):
            return self.next(x + self.sd(self.conv(x)))

    [f] = netlint.check(Net(), torch.randn(2, 8, 8, 8), select=["NL005"]).findings
    assert f.data["path"] == ["sd (StochasticDepth)", "add()", "next.0 (Conv2d)", "next.1 (BatchNorm2d)"]


# -- the probe's chart --------------------------------------------------------------------------


def marks(text: str) -> list[dict[str, str]]:
    return Page(text).all("a", "mark")


def test_chart_before_issue_19_list_order_no_error_bars_verdict_from_shifted():
    text = html(Report(models=[model_report([], LEGACY)]))
    [svg] = Page(text).all("svg", "chart")
    assert svg["data-marks"] == "3" and svg["data-ordered"] == "false" and svg["data-band"] == "0.9 1.1"
    found = [
        (m["data-module"], m["data-order"], m["data-ratio"], m["data-low"], m["data-verdict"]) for m in marks(text)
    ]
    assert found == [("features.2.bn", "", "0.46", "", "shift"), ("features.1.bn", "", "0.58", "", "shift"),
                     ("features.0.bn", "", "1.0", "", "neutral")]  # fmt: skip
    assert "largest shift first" in text and "95 % interval" not in text
    assert re.search(r'class="mark v-shift"[^>]*>(<title>[^<]*</title>)<circle', text)  # a dot, no bar
    assert ">worst channel: <strong>0.33x</strong>, channel 153 of" in text


def test_chart_after_issue_19_forward_order_intervals_and_every_verdict():
    text = html(Report(models=[model_report([], CURRENT)]))
    [svg] = Page(text).all("svg", "chart")
    assert svg["data-ordered"] == "true" and svg["data-marks"] == "4"
    found = [(m["data-module"], m["data-order"], m["data-low"], m["data-high"], m["data-verdict"]) for m in marks(text)]
    assert found == [("b.bn1", "0", "1.0", "1.0", "neutral"), ("b.bn2", "1", "0.85", "1.02", "inconclusive"),
                     ("b.bn3", "2", "0.44", "0.48", "shift"), ("b.bn4", "3", "", "", "not measurable")]  # fmt: skip
    groups = re.findall(r'<a class="mark ([^"]+)"[^>]*>(.*?)</a>', text)
    shapes = {cls: re.findall(r"<(circle|path)( class=\"dot\")?", body) for cls, body in groups}
    assert shapes["v-shift"] == [("path", ""), ("circle", "")]  # error bar, dot
    assert shapes["v-inconclusive"] == [("path", ""), ("path", ' class="dot"')]  # error bar, diamond
    assert shapes["v-na"] == [("path", "")]  # a cross under the plot
    assert ">n/m</text>" in text and "in forward order" in text
    table = Page(text).all("tr")
    assert [r["id"].rsplit("-", 1)[1] for r in table if "id" in r] == ["bn0", "bn1", "bn2", "bn3"]
    assert "0.44x to 0.48x" in text and "8 (8 excluded)" in text and "not measurable" in text


@pytest.mark.parametrize(
    "lo, hi, expected",
    [
        (0.85, 1.17, [0.9, 1, 1.1]),
        (0.3, 1.2, [0.3, 0.5, 0.7, 1]),
        (0.4, 1.2, [0.5, 0.7, 1]),
        (0.9, 45, [1, 2, 5, 10, 20]),
    ],
)
def test_log_axis_ticks_are_round_numbers(lo, hi, expected):
    assert ticks(lo, hi) == expected


def test_log_axis_ticks_over_many_decades_are_powers_of_ten():
    assert ticks(1e-3, 1e11) == [0.001, 0.1, 10, 1000, 1e5, 1e7, 1e9, 1e11]


def test_the_real_probe_drawn_with_the_json_reports_values():
    """The real ProbeResult (whichever version): one mark per BatchNorm carrying the JSON values."""
    from .fixtures.probe_profile import Blocks

    report = netlint.check(Blocks(), Blocks.example_inputs(), probe=True)
    layers = report.models[0].probe.to_dict()["layers"]
    found = marks(html(report))
    assert len(found) == len(layers) == 4
    by_module = {m["data-module"]: m for m in found}
    for layer in layers:
        assert float(by_module[layer["module"]]["data-ratio"]) == layer["ratio_mean"]
        assert by_module[layer["module"]]["data-order"] == str(layer.get("order", ""))


# -- the command line ---------------------------------------------------------------------------


def test_cli_writes_the_page_to_output(tmp_path):
    out = tmp_path / "report.html"
    target = str(ROOT / "tests" / "fixtures" / "probe_profile.py") + ":Head"
    result = run_netlint("check", target, "--format", "html", "--output", str(out), "--no-probe")
    assert result.returncode == 1 and result.stdout == "", result.stderr
    page = Page(out.read_text(encoding="utf-8"))
    assert [s["id"] for s in page.all("section", "model")] == ["m1-tests-fixtures-probe_profile.py-Head"]
    piped = run_netlint("check", target, "--format", "html", "--no-probe")  # stdout is a file: allowed
    assert piped.stdout == out.read_text(encoding="utf-8")


def test_cli_refuses_html_on_a_terminal():
    import pty

    primary, secondary = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "netlint", "check", "model.py", "--format", "html"],
                                stdout=secondary, stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT,
                                env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    finally:
        os.close(secondary)
        os.close(primary)
    assert result.returncode == 2
    assert result.stderr == (
        "netlint: --format html writes a web page: add --output report.html (or redirect the output to a file)\n"
    )


def test_json_names_the_neutral_band(tmp_path):
    from netlint.report.json_report import to_dict

    report = netlint.check(nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.BatchNorm1d(4)), torch.randn(64, 4),
                           probe=True)  # fmt: skip
    assert to_dict(report)["models"][0]["probe"]["band"] == [0.9, 1.1]
    assert json.loads(json.dumps(to_dict(report))) == to_dict(report)


def test_size_stays_small_for_many_layers():
    layers = [Current(f"stage{i // 10}.block{i % 10}.bn", 0.5 + i / 200, 0.4, 0.9, i, 0.01, 64, 4096,
                      ratio_low=0.45 + i / 200, ratio_high=0.55 + i / 200, verdict="shift", order=i) for i in range(120)]  # fmt: skip
    text = html(Report(models=[model_report([finding()], layers)]))
    assert len(marks(text)) == 120 and len(text.encode()) < 120_000

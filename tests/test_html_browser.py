"""The HTML report in a real browser: headless Chromium (Debian's ``chromium`` package, which ``.ci/run``
installs when missing; these tests fail, never skip, without it), driven through the DevTools protocol
(tests/browser.py). The page must open without a console error or a network request, its charts must
carry one mark per BatchNorm with the JSON report's values, every link must reach its target, and it
must fit a phone's width. Screenshots go to a temporary folder, or to $NETLINT_SCREENSHOTS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from netlint.report import render
from netlint.results import Report

from .browser import Browser, chromium
from .conftest import FIXTURES, run_netlint
from .test_html import CURRENT, LEGACY, finding, model_report

# Per chart: its marks' data attributes, in document order.
CHARTS = """[...document.querySelectorAll("svg.chart")].map(svg => ({
  id: svg.id, marks: Number(svg.dataset.marks),
  points: [...svg.querySelectorAll(".mark")].map(m => ({...m.dataset}))
}))"""
BROKEN_LINKS = """[...document.querySelectorAll("a[href^='#']")].map(a => a.getAttribute("href"))
  .filter(h => !document.getElementById(decodeURIComponent(h.slice(1))))"""
WIDTHS = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"


@pytest.fixture(scope="module")
def browser():
    if chromium() is None:
        pytest.fail("the HTML report's browser tests need Chromium: apt-get install -y chromium (.ci/run installs it)")
    with Browser() as b:
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("NETLINT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> tuple[Path, dict]:
    """One probed check of three models, as HTML and as JSON."""
    page = tmp_path_factory.mktemp("html") / "report.html"
    args = ("check", str(FIXTURES / "probe_profile.py"), "--probe", "--probe-budget", "0")
    result = run_netlint(*args, "--format", "html", "--output", str(page))
    assert result.returncode == 1, result.stderr
    data = json.loads(run_netlint(*args, "--format", "json").stdout)
    return page, data


def test_the_report_opens_cleanly_and_its_charts_hold_the_measured_ratios(browser, checked, shots):
    page, data = checked
    browser.emulate(1280, 900)
    browser.open(page.as_uri())
    assert browser.problems() == []
    assert browser.requests() == [page.as_uri()]  # nothing else fetched
    assert browser.evaluate("document.body.dataset.ok") == "true", browser.evaluate("document.body.dataset.problems")
    assert browser.evaluate(BROKEN_LINKS) == []
    charts = browser.evaluate(CHARTS)
    probed = [m for m in data["models"] if m["probe"] and m["probe"].get("layers")]
    assert len(charts) == len(probed) == 3
    for chart, model in zip(charts, probed):
        layers = model["probe"]["layers"]
        assert chart["marks"] == len(chart["points"]) == len(layers)
        shown = sorted((p["module"], float(p["ratio"])) for p in chart["points"])
        assert shown == sorted((x["module"], x["ratio_mean"]) for x in layers)
    ratios = {p["module"]: float(p["ratio"]) for p in charts[0]["points"]}
    assert ratios["features.1.1"] < 0.9 and ratios["features.2.1"] < 0.9 and ratios["features.0.1"] == 1.0
    browser.screenshot(str(shots / "report-desktop-light.png"))


def test_links_reach_their_targets_and_open_what_hides_them(browser, checked):
    page, _ = checked
    browser.emulate(1280, 900)
    browser.open(page.as_uri())
    last = browser.evaluate("document.querySelectorAll('#models a')[2].getAttribute('href')")
    browser.evaluate(f"document.querySelector('#models a[href=\"{last}\"]').click()")
    where = browser.evaluate(f"[location.hash, window.scrollY, document.getElementById('{last[1:]}')"
                             ".getBoundingClientRect().top, innerHeight]")  # fmt: skip
    assert where[0] == last and where[1] > 0 and 0 <= where[2] < where[3]
    # A chart's mark links to its row in the table, inside a closed <details>: the click opens it.
    row = browser.evaluate("document.querySelector('svg.chart .mark').getAttribute('href')")
    assert browser.evaluate(f"document.getElementById('{row[1:]}').closest('details').open") is False
    browser.evaluate(
        "document.querySelector('svg.chart .mark').dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    assert browser.evaluate(f"[location.hash, document.getElementById('{row[1:]}').closest('details').open]") == [
        row,
        True,
    ]
    assert browser.problems() == []


def test_the_report_fits_a_phone_in_the_dark(browser, checked, shots):
    page, _ = checked
    browser.emulate(390, 844, mobile=True, dark=True)
    browser.open(page.as_uri())
    assert browser.problems() == [] and browser.evaluate("document.body.dataset.ok") == "true"
    scroll, client = browser.evaluate(WIDTHS)
    assert scroll <= client  # no horizontal scrolling of the page (wide tables and code scroll in their box)
    background = browser.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(13, 17, 23)"  # the dark theme
    font = browser.evaluate("getComputedStyle(document.querySelector('svg.chart text')).fontSize")
    assert font == "18px"  # the chart's text enlarged for the scaled-down chart
    browser.screenshot(str(shots / "report-phone-dark.png"))


def test_both_probe_versions_draw_without_errors(browser, tmp_path, shots):
    """Layers with intervals, verdicts and the forward order, and layers without (tests/test_html.py)."""
    report = Report(models=[model_report([finding(path=["drop (Dropout)", "bn (BatchNorm2d)"])], CURRENT, "new.py:Net"),
                            model_report([], LEGACY, "old.py:Net")], files=2)  # fmt: skip
    page = tmp_path / "versions.html"
    with open(page, "w", encoding="utf-8") as fh:
        render(report, "html", fh)
    browser.emulate(1280, 900)
    browser.open(page.as_uri())
    assert browser.problems() == [] and browser.evaluate("document.body.dataset.ok") == "true"
    charts = browser.evaluate(CHARTS)
    assert [c["marks"] for c in charts] == [4, 3]
    assert [p["verdict"] for p in charts[0]["points"]] == ["neutral", "inconclusive", "shift", "not measurable"]
    bars = browser.evaluate(
        "[...document.querySelectorAll('svg.chart')].map(s => s.querySelectorAll('.mark path:not(.dot)').length)"
    )
    assert bars == [4, 0]  # three error bars and a cross; none without intervals
    browser.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    browser.screenshot(str(shots / "report-probe-versions.png"))


def test_a_broken_page_is_caught(browser, tmp_path):
    """What the checks above assert can fail: a missing link target, a fetch, a script error."""
    out = tmp_path / "broken.html"
    with open(out, "w", encoding="utf-8") as fh:
        render(Report(models=[model_report([], LEGACY)]), "html", fh)
    text = out.read_text(encoding="utf-8").replace(
        "</main>", '<a href="#nowhere">x</a><img src="https://example.com/x.png" alt=""></main>'
    )
    out.write_text(text, encoding="utf-8")
    browser.open(out.as_uri())
    problems = browser.evaluate("document.body.dataset.problems")
    assert browser.evaluate("document.body.dataset.ok") == "false"
    assert "a link to a missing target: #nowhere" in problems and "https://example.com/x.png" in problems
    assert any("example.com" in p for p in browser.problems())  # the policy's refusal, on the console
    assert browser.evaluate(BROKEN_LINKS) == ["#nowhere"]

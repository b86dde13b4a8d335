"""Every rule runs over its own good and bad example models (rules/examples/<code>_{good,bad}.py).

A good example yields no finding of that rule. A bad example yields exactly the findings its
EXPECTED dictionary lists (model -> module paths), and each finding points at a line that carries
an ``# expect: <code>`` marker, every marker being hit.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from netlint.options import Options
from netlint.rules import ALL_RULES
from netlint.run.targets import check_targets

from .conftest import RULE_EXAMPLES


def example(rule, kind: str) -> Path:
    return RULE_EXAMPLES / f"{rule.code.lower()}_{kind}.py"


def expected_of(path: Path) -> dict[str, list[str]]:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXPECTED" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} has no EXPECTED dictionary")


def markers_of(path: Path, code: str) -> set[int]:
    marker = re.compile(r"#\s*expect:\s*((?:NL\d{3}[\s,]*)+)$")
    found = set()
    for i, line in enumerate(path.read_text().splitlines(), 1):
        match = marker.search(line)
        if match and code in match.group(1).replace(",", " ").split():
            found.add(i)
    return found


def run(path: Path, rule):
    # The default rules and this one (NL900 judges the codes that ran), without the probe.
    report = check_targets([str(path)], Options(extend_select=[rule.code], probe=False))
    assert not report.errors, [e.text for e in report.errors]
    assert report.models, f"{path} yielded no model"
    return report


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_good_examples_yield_nothing(rule):
    report = run(example(rule, "good"), rule)
    assert [f"{f.model} {f.module}: {f.message}" for f in report.findings if f.code == rule.code] == []


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_bad_examples_yield_exactly_the_expected_findings(rule):
    path = example(rule, "bad")
    report = run(path, rule)
    expected = expected_of(path)
    mine = [f for f in report.findings if f.code == rule.code]
    got = {m.name.rsplit(":", 1)[1]: sorted(f.module for f in m.findings if f.code == rule.code) for m in report.models}
    assert got == {name: sorted(modules) for name, modules in expected.items()}
    lines = {f.line for f in mine}
    assert {f.file for f in mine} == {str(path.relative_to(Path.cwd()))}
    assert lines == markers_of(path, rule.code), "findings must point at the lines marked '# expect:'"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_every_bad_example_model_has_a_finding(rule):
    """EXPECTED may not hide a model that yields nothing: every entry lists at least one module."""
    assert all(expected_of(example(rule, "bad")).values())

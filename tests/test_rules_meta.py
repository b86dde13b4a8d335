"""Rule metadata, documentation and the generated reference page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import netlint.rules as rules_pkg
from netlint.findings import DOC_HEADINGS, Severity
from netlint.report.docs import rules_markdown
from netlint.rules import ALL_RULES, lookup

from .conftest import ROOT


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_identity(rule):
    assert re.fullmatch(r"NL\d{3}", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    assert isinstance(rule.severity, Severity)
    assert rule.summary.endswith(".") and len(rule.summary) < 100
    module_file = Path(rules_pkg.__file__).parent / f"{rule.code.lower()}_{rule.name.replace('-', '_')}.py"
    assert module_file.exists(), "one rule per file, named after its code and name"
    assert lookup(rule.code) is rule and lookup(rule.name) is rule and lookup(rule.code.lower()) is rule


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rule_documentation_has_the_fixed_sections(rule):
    sections = rule.sections()
    assert list(sections) == list(DOC_HEADINGS)
    assert all(len(body) > 40 for body in sections.values())
    assert "```python" in sections["Example"]
    assert "http" in sections["References"]


def test_codes_and_names_are_unique():
    assert len({r.code for r in ALL_RULES}) == len(ALL_RULES)
    assert len({r.name for r in ALL_RULES}) == len(ALL_RULES)


def test_nl001_cites_li_et_al():
    assert "Li et al" in lookup("NL001").documentation() or "X. Li" in lookup("NL001").documentation()
    assert "CVPR 2019" in lookup("NL001").documentation()


def test_rules_page_is_up_to_date():
    page = ROOT / "docs" / "rules.md"
    assert page.read_text() == rules_markdown(), (
        "docs/rules.md is stale: run `netlint rules --markdown > docs/rules.md`"
    )

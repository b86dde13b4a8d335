"""Output formats for terminals, greps and CI: text, SARIF, GitHub annotations, --output, --exit-zero."""

from __future__ import annotations

import json
import re

from netlint.report.github_report import escape_data, escape_property

from .conftest import EXAMPLES, ROOT, run_netlint

TARGETS = [str(EXAMPLES / "residual_bias.py"), str(EXAMPLES / "mnist_fc_head.py"), "--no-probe"]


def test_text_format_is_one_line_per_finding():
    result = run_netlint("check", *TARGETS, "--format", "text")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    pattern = re.compile(r"^examples/\S+\.py:\d+: NL\d{3} \[(info|warning|error)\] .+ \(\w+: [\w.<>]+\)$")
    findings = [line for line in lines if pattern.match(line)]
    assert len(findings) == 5 and lines[-1].startswith("5 findings")
    assert findings[0].startswith("examples/residual_bias.py:16: NL002 [warning] Conv2d at layer1.0.conv1")
    assert findings[0].endswith("(ResidualNet: layer1.0.conv1)")
    assert "\x1b[" not in result.stdout  # not a terminal: no colour


def test_text_format_errors(tmp_path):
    result = run_netlint("check", "missing.py", "--format", "text", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.splitlines()[0].startswith("missing.py: error: no such file or directory.")


def test_sarif_structure():
    result = run_netlint("check", *TARGETS, "--format", "sarif")
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    [run] = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "netlint" and driver["version"] == __import__("netlint").__version__
    assert driver["informationUri"].startswith("https://")
    rules = {r["id"]: r for r in driver["rules"]}
    assert {"NL001", "NL002", "NL003", "NL004", "NL900"} <= set(rules)
    nl002 = rules["NL002"]
    assert nl002["name"] == "bias-before-batchnorm"
    assert nl002["shortDescription"]["text"].startswith("A conv/linear bias")
    assert nl002["fullDescription"]["text"].startswith("Finds a convolution")
    assert nl002["helpUri"].endswith("docs/rules.md#nl002-bias-before-batchnorm")
    assert nl002["defaultConfiguration"]["level"] == "warning"
    assert rules["NL900"]["defaultConfiguration"]["level"] == "note"
    results = run["results"]
    assert len(results) == 5
    first = results[0]
    assert first["ruleId"] == "NL002" and first["level"] == "warning"
    assert driver["rules"][first["ruleIndex"]]["id"] == "NL002"
    assert (
        first["message"]["text"].startswith("Conv2d at layer1.0.conv1")
        and "Fix: Create the layer" in first["message"]["text"]
    )
    [location] = first["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "examples/residual_bias.py", "uriBaseId": "%SRCROOT%"}
    assert physical["region"] == {"startLine": 16}
    assert location["logicalLocations"] == [
        {"fullyQualifiedName": "examples/residual_bias.py:ResidualNet/layer1.0.conv1", "kind": "module"}
    ]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"
    assert run["invocations"] == [{"executionSuccessful": True, "toolExecutionNotifications": []}]


def test_json_is_byte_identical_across_runs(examples_json_pair):
    first, second = examples_json_pair
    assert first.returncode == second.returncode == 1, first.stderr
    assert first.stdout == second.stdout
    assert '"seconds": null' in first.stdout


def test_sarif_is_byte_identical_across_runs():
    # No time budget: it may cut the probe's batch on a loaded machine. A small batch: identity, not precision.
    targets = [str(EXAMPLES), "--probe", "--probe-budget", "0", "--batch-size", "4", "--format", "sarif"]
    first, second = run_netlint("check", *targets), run_netlint("check", *targets)
    assert first.stdout == second.stdout and '"results"' in first.stdout


def test_github_annotations():
    result = run_netlint("check", *TARGETS, "--format", "github")
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "::warning file=examples/residual_bias.py,line=16,title=NL002 bias-before-batchnorm::Conv2d at layer1.0.conv1"
    )
    assert sum(line.startswith("::warning ") for line in lines) == 5
    assert escape_data("50% a\nb") == "50%25 a%0Ab" and escape_property("a:b,c") == "a%3Ab%2Cc"


def test_output_file_and_exit_zero(tmp_path):
    out = tmp_path / "report.sarif"
    result = run_netlint("check", *TARGETS, "--format", "sarif", "--output", str(out), "--exit-zero")
    assert result.returncode == 0 and result.stdout == ""
    assert len(json.loads(out.read_text())["runs"][0]["results"]) == 5
    still_bad_input = run_netlint("check", "missing.py", "--exit-zero", cwd=tmp_path)
    assert still_bad_input.returncode == 2

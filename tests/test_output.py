"""Output that reads well everywhere: colour switches, no padding, narrow terminals, grouping, legend, help."""

from __future__ import annotations

import io
import json
import re
import warnings

import pytest
from rich.console import Console

from netlint.findings import Finding, Severity
from netlint.graph.ir import AnalysisPart
from netlint.report import render
from netlint.report.rich_report import probe_table
from netlint.results import ModelReport, Report

from .conftest import run_netlint, write

ESC = "\x1b["


def finding(i: int, line: int = 8) -> Finding:
    return Finding(
        "NL001", "dropout-before-batchnorm", Severity.WARNING, f"blocks.{i}.3", f"Dropout at blocks.{i}.3 feeds ...",
        "Move the dropout.", "model.py", line, model="model.py:Net",
    )  # fmt: skip


def probe(long_names: bool = False):
    from netlint.probing.shift import LayerShift, ProbeResult

    name = "encoder.stages.{i}.blocks.{i}.residual_branch.norm_after_dropout" if long_names else "bn{i}"
    layers = [
        LayerShift(name.format(i=i), 0.4567 + i / 10, 0.3, 0.71, 153, 0.0312, 64, 4096, [f"drop{i}"],
                   ratio_low=0.4321 + i / 10, ratio_high=0.4789 + i / 10, order=i)
        for i in range(3)
    ]  # fmt: skip
    return ProbeResult("cpu", 32, 0, 1.2, 0.558, layers)


def report(findings: list[Finding], with_probe: bool = False, capture: bool = False) -> Report:
    parts = [AnalysisPart("", "torch.fx")] + (
        [AnalysisPart("blocks.0", "capture (cpu)", "TraceError")] if capture else []
    )
    model = ModelReport("model.py:Net", "model.py", "2x3x8x8 float32", "inferred", parts, (), 10, findings, 0.1)
    model.probe = probe() if with_probe else None
    return Report(models=[model, ModelReport(**{**model.__dict__, "name": "model.py:Other"})], files=1)


def rendered(fmt: str, rep: Report, **kwargs) -> str:
    out = io.StringIO()
    render(rep, fmt, out, **kwargs)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["rich", "text", "json", "sarif", "github"])
def test_no_color_means_no_escape_sequence_and_force_color_colours_a_pipe(fmt, monkeypatch):
    rep = report([finding(0), finding(1, 9)], with_probe=True)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")  # NO_COLOR wins
    assert ESC not in rendered(fmt, rep)
    monkeypatch.delenv("NO_COLOR")
    forced = rendered(fmt, rep)
    assert (ESC in forced) == (fmt in ("rich", "text"))  # machine formats never carry colour
    monkeypatch.delenv("FORCE_COLOR")
    assert ESC not in rendered(fmt, rep)  # a StringIO is not a terminal


def test_no_trailing_blanks_off_a_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    for env in ({}, {"FORCE_COLOR": "1"}):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        text = rendered("rich", report([finding(0)], with_probe=True))
        stripped = re.sub(r"\x1b\[[0-9;]*m", "", text)
        assert "BatchNorm" in stripped and "0.46x" in stripped
        assert [line for line in stripped.splitlines() if line != line.rstrip()] == []


@pytest.mark.parametrize("width", [80, 100, 60])
def test_probe_table_folds_names_and_never_cuts_a_number(width):
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, force_terminal=True)
    result = probe(long_names=True)
    probe_table(console, result)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines[1:]), out.getvalue()  # the header line is soft-wrapped
    body = " ".join(lines[1:])
    for x in result.layers:
        assert f"{x.ratio_mean:.2f}x" in body and f"{x.worst_ratio:.2f}x (ch {x.worst_channel})" in body
        assert f"{x.ratio_low:.2f}-{x.ratio_high:.2f}" in body and x.verdict == "shift"
        assert re.search(rf"{x.mean_shift:.2f}\s+sd", body)
    joined = "".join(line.split()[0] for line in lines[1:] if line.strip())  # the first column, line by line
    for x in result.layers:  # every module name is there, folded but whole
        assert x.module in joined


def test_many_findings_at_one_line_are_grouped_in_rich_only():
    many = [finding(i) for i in range(2500)] + [finding(9000, line=20)]
    rep = report(many)
    rich = rendered("rich", rep)
    assert "NL001 dropout-before-batchnorm x2500 at model.py:8: blocks.0.3, blocks.1.3, blocks.2.3" in rich
    assert "and 2494 more" in rich and "blocks.9000.3  model.py:20" in rich  # a single finding stays as it was
    assert rich.count("Dropout at blocks.") == 4  # one example per group, per model
    text = rendered("text", rep)
    assert sum(1 for line in text.splitlines() if " NL001 " in line) == 2 * 2501
    assert len(json.loads(rendered("json", rep))["models"][0]["findings"]) == 2501
    assert len(json.loads(rendered("sarif", rep))["runs"][0]["results"]) == 2 * 2501


def test_rich_report_explains_its_terms_once():
    rich = rendered("rich", report([finding(0)], with_probe=True, capture=True))
    assert rich.count("capture: fx could not trace these parts") == 1  # two models capture; explained once
    assert rich.count("ratio: a BatchNorm's input variance at inference over that in training") == 1
    assert "Output drift 55.8% (eval output with BatchNorm statistics" in rich


def test_check_help_shows_clean_metavars():
    result = run_netlint("check", "--help", env={"COLUMNS": "120"})
    assert result.returncode == 0
    for expected in ("[TARGET]...", "--input-shape SHAPE", "--output FILE", "--batch-size N", "--seed N",
                     "--config FILE", "--input FILE", "--baseline FILE", "--write-baseline FILE",
                     "--timeout SECONDS", "--jobs N", "--probe-budget SECONDS", "--weights FILE"):  # fmt: skip
        assert expected in result.stdout, expected
    assert not re.search(r"<(str|int|float|list\[str\]|int range|float range)>", result.stdout), result.stdout


WARNS = """
import warnings

import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        warnings.warn("this block is deprecated, use Block2")
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""


def test_warnings_become_notes_not_stderr(tmp_path):
    write(tmp_path / "net.py", WARNS)
    result = run_netlint("check", "net.py", "--format", "text", cwd=tmp_path, env={"PYTHONWARNINGS": "always"})
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr
    assert "note: net.py:10 warned during the check: UserWarning: this block is deprecated, use Block2" in result.stdout


def test_warning_notes_keep_the_users_drop_library_deprecations():
    import torch.fx

    from netlint.messages import safe_torch_message, warnings_as_notes

    fx, tensor = torch.fx.__file__, torch._tensor.__file__
    notes: list[str] = []
    with warnings_as_notes(notes):
        warnings.warn_explicit("old API", DeprecationWarning, fx, 3)
        warnings.warn_explicit("NumPy is missing", UserWarning, tensor, 5)
        warnings.warn_explicit("NumPy is missing", UserWarning, tensor, 5)
    assert notes == ["torch warned during the check: UserWarning: NumPy is missing"]
    advice = (
        "Weights only load failed. Re-running `torch.load` with `weights_only` set to `False` will likely succeed, "
        "but it can result in arbitrary code execution.\n\tWeightsUnpickler error: Unsupported global: GLOBAL x.Foo "
        "was not an allowed global by default. Please use `torch.serialization.add_safe_globals([x.Foo])`"
    )
    for text in (advice, "Loading failed. Re-run torch.load with weights_only=False to load it. Bad magic."):
        safe = safe_torch_message(text)
        assert "False" not in safe and safe, safe
    assert "Unsupported global: GLOBAL x.Foo" in safe_torch_message(advice)


LOCATION = re.compile(r"[\w./-]+\.py:\d+")


def test_rich_report_wraps_where_a_person_would_at_80_columns():
    """Between words, continuation lines indented under their entry; never inside ``file:line``, a module
    path or a word, and no trailing blanks: at Console width 80 and with COLUMNS=80 on a pipe."""
    long_path = "src/models/backbones/efficient_residual_network/blocks.py"
    f = Finding(
        "NL002", "bias-before-batchnorm", Severity.WARNING, "encoder.stages.3.blocks.11.conv_pointwise",
        "Conv2d at encoder.stages.3.blocks.11.conv_pointwise adds a bias that BatchNorm2d "
        "encoder.stages.3.blocks.11.bn cancels by subtracting the per-channel mean: 1.2 k parameters that never "
        "affect the output.", "Create the layer with bias=False.", long_path, 1234, model="model.py:Net",
    )  # fmt: skip
    out = io.StringIO()
    from netlint.report.rich_report import render as rich_render

    rich_render(report([f]), out, width=80)
    text = out.getvalue()
    lines = text.splitlines()
    assert all(len(line) <= 80 and line == line.rstrip() for line in lines), text
    assert f"{long_path}:1234" in LOCATION.findall(text)  # whole, on one line
    assert all(f.module in line for line in lines if "NL002" in line) or any(f.module in line for line in lines)
    message = " ".join(line.strip() for line in lines if line.startswith("      ") and "fix:" not in line)
    assert " ".join(f.message.split()) in message  # every word, in order, nothing cut
    continuation = [line for line in lines if line.startswith(" ") and not line.startswith("  warning")]
    assert continuation and all(line.startswith(("  ", "    ")) for line in continuation)
    # The real command on a pipe, with COLUMNS=80.
    result = run_netlint("check", "examples/residual_bias.py", "--no-probe", env={"COLUMNS": "80"})
    assert result.returncode == 1 and all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    assert "examples/residual_bias.py:16" in LOCATION.findall(result.stdout)
    unwrapped = run_netlint("check", "examples/residual_bias.py", "--no-probe")  # a pipe without COLUMNS: one line each
    assert any(len(line) > 100 for line in unwrapped.stdout.splitlines())


def test_explain_wraps_prose_keeps_code_examples_whole_and_ends_no_line_in_blanks():
    from netlint.report.docs import explain_rule
    from netlint.rules import ALL_RULES

    for rule in ALL_RULES:
        out = io.StringIO()
        explain_rule(rule, out)
        lines = out.getvalue().splitlines()
        assert [line for line in lines if line != line.rstrip()] == [], rule.code
        code = re.search(r"```python\n(.*?)```", rule.documentation(), re.S)
        example = code.group(1).rstrip("\n").splitlines() if code else []
        for line in example:  # each line of the example as written, on one line
            assert ("    " + line).rstrip() in lines, (rule.code, line)
        prose = [line for line in lines if line not in {("    " + x).rstrip() for x in example}]
        assert all(len(line) <= 80 or " " not in line.strip() for line in prose), rule.code
        assert "`" not in "\n".join(prose) and "**" not in "\n".join(prose)


def test_probe_wording_counts_and_columns_line_up():
    from netlint.probing.shift import LayerShift, ProbeResult

    def shown(layers, width=120):
        out = io.StringIO()
        probe_table(Console(file=out, width=width, color_system=None), ProbeResult("cpu", 32, 0, 1.0, 0.0, layers))
        return out.getvalue()

    exact = LayerShift("bn", 1.0, 1.0, 1.0, 0, 0.0, 4, 4096)
    assert "no BatchNorm layer to measure" in shown([])
    assert "its one BatchNorm layer measures a ratio of exactly 1.00" in shown([exact])
    assert "all 2 BatchNorm layers measure a ratio of exactly 1.00" in shown([exact, exact])
    rows = [LayerShift("0.bn", 0.5, 0.4, 0.6, 1, 0.1, 8, 4096, ["0.drop"]),  # precise, a long bar
            LayerShift("3", 0.999, 0.99, 1.01, 2, 0.0, 8, 100, ["1"])]  # noisy (~), an empty bar  # fmt: skip
    table = [line for line in shown(rows).splitlines() if "x (ch" in line]
    assert len(table) == 2 and len({line.index("x (ch") for line in table}) == 1  # the worst-channel column
    assert len({line.index(f"{r.ratio_mean:.2f}x") for line, r in zip(table, rows)}) == 1  # the ratios
    assert table[0].lstrip().startswith("[0].bn ") and table[1].lstrip().startswith("[3] ")  # bare Sequential paths


def test_a_bare_sequential_names_its_layers_by_index_in_messages():
    import torch.nn as nn

    import netlint

    model = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Dropout(0.5), nn.BatchNorm1d(16), nn.Linear(16, 4))
    (f,) = netlint.check(model, select=["NL001"]).findings
    assert f.module == "2" and f.message.startswith("Dropout(p=0.5) at [2] feeds BatchNorm [3]:")

"""The probe's budget: time, memory, and what a skipped or failed probe does to the report."""

from __future__ import annotations

import json
import time

import pytest
import torch
import torch.nn as nn

import netlint
import netlint.probe_budget as budget_module
from netlint import engine
from netlint.engine import Options, check_targets
from netlint.probe_budget import estimate_memory

from .conftest import run_netlint, write

SLOW = """
import time

import torch
import torch.nn as nn

SECONDS_PER_SAMPLE = {seconds}

class Slow(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.drop = nn.Dropout(0.5)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        if x.device.type != "meta":
            time.sleep(SECONDS_PER_SAMPLE * x.shape[0])  # made slow on purpose: linear in the batch
        return self.bn(self.conv2(self.drop(self.conv(x))))
"""


def timed_probe(monkeypatch) -> list[float]:
    """Record the wall time of every probe (model build, timing forward and passes)."""
    seconds: list[float] = []
    original = engine._probe

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    monkeypatch.setattr(engine, "_probe", wrapper)
    return seconds


def test_a_slow_model_gets_a_smaller_batch_within_the_budget(tmp_path, monkeypatch):
    target = str(write(tmp_path / "slow.py", SLOW.format(seconds=0.02))) + ":Slow"
    budget = 2.0
    seconds = timed_probe(monkeypatch)
    report = check_targets([target], Options(device="cpu", probe_budget=budget))
    [probe_seconds] = seconds
    [model] = report.models
    assert not report.errors and model.probe is not None
    # 4 passes x 32 x 0.02 s = 2.6 s at the default batch: cut to what fits.
    assert 2 <= model.probe.batch_size < 32
    assert model.probe.batch_reason.startswith("time: 4 passes at batch")
    assert model.to_dict()["probe"]["batch_size"] == model.probe.batch_size
    assert probe_seconds < 2 * budget


def test_a_model_too_slow_even_at_the_smallest_batch_is_skipped_with_a_note(tmp_path, monkeypatch):
    path = write(tmp_path / "slow.py", SLOW.format(seconds=0.3))
    seconds = timed_probe(monkeypatch)
    report = check_targets([f"{path}:Slow"], Options(device="cpu", probe_budget=0.5))
    assert seconds[0] < 2 * 0.5 + 0.3  # one timing forward at batch 2 sleeps 0.6 s: the least it can cost
    [model] = report.models
    assert model.probe is None and not report.errors and report.exit_code() == 1  # a note: findings only
    assert model.probe_note.startswith("skipped: it would take about ")
    assert "over the --probe-budget of 0.5 s" in model.probe_note and "--probe-budget 0 runs it" in model.probe_note
    assert model.to_dict()["probe"] == {"skipped": model.probe_note}
    assert model.findings  # the static findings stand

    result = run_netlint("check", f"{path}:Slow", "--probe", "--probe-budget", "0.5", "--format", "json")
    assert result.returncode == 2  # asked for with --probe: the skip is an error
    out = json.loads(result.stdout)
    assert out["models"][0]["probe"]["skipped"].startswith("skipped: it would take about")
    assert out["models"][0]["findings"] and "the probe was skipped" in out["errors"][0]["message"]


class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1000, 1000)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(1000, 1000)
        self.bn = nn.BatchNorm1d(1000)

    def forward(self, x):
        return self.bn(self.fc2(self.drop(self.fc1(x))))


def test_memory_estimate_from_the_meta_build():
    from netlint.engine import static_graph

    graph, _ = static_graph(Wide(), torch.empty(4, 1000, device="meta"))
    with torch.device("meta"):
        meta = Wide()
    estimate = estimate_memory(graph, meta, traced_batch=4)
    params = sum(p.numel() for p in meta.parameters()) * 4
    buffers = sum(b.numel() * b.element_size() for b in meta.buffers())
    assert estimate.fixed == params + 2 * buffers
    # No more than two 1000-wide float32 activations are alive at once under no_grad.
    assert estimate.per_sample == 2 * 1000 * 4


def test_memory_cuts_the_batch_or_skips(monkeypatch):
    x = torch.empty(2, 1000, device="meta")
    estimate = None

    def capture(*args, **kwargs):
        nonlocal estimate
        estimate = original(*args, **kwargs)
        return estimate

    original = budget_module.estimate_memory
    monkeypatch.setattr(budget_module, "estimate_memory", capture)
    plenty = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=100)
    assert plenty.probe.batch_size == 256 and plenty.probe.batch_reason == "the default"

    room = 2 * estimate.at(100)  # half of it holds a batch of 100: cut to a power of two
    monkeypatch.setattr(budget_module, "available_memory", lambda device: (room, "available RAM"))
    cut = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=100)
    assert cut.probe.batch_size == 64 and cut.probe.batch_reason.startswith("memory: about")

    monkeypatch.setattr(budget_module, "available_memory", lambda device: (estimate.fixed, "the cgroup memory limit"))
    skipped = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=100)
    [model] = skipped.models
    assert model.probe is None and "the probe was skipped: it needs about" in skipped.errors[0].text
    assert "that the cgroup memory limit leaves" in model.probe_note
    unlimited = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=0)  # 0: no limit at all
    assert unlimited.probe.batch_size == 256


def test_overflow_only_in_the_transplanted_passes_is_a_note():
    """Passes A and B renormalise at every BatchNorm and stay finite; running statistics from A
    applied in eval mode let the eval-only scaling grow to inf: drift not measurable, ratios kept."""

    class Overflows(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)
            self.bn1, self.bn2, self.bn3 = nn.BatchNorm1d(8), nn.BatchNorm1d(8), nn.BatchNorm1d(8)

        def forward(self, x):
            scale = 1.0 if self.training else 1e15
            x = self.bn1(self.drop(x) * scale)
            x = self.bn2(x * scale)
            return self.bn3(x * scale)

    result = netlint.probe(Overflows(), torch.randn(64, 8), device="cpu")
    assert result.output_drift is None and "output drift not measurable" in result.notes[0]
    assert len(result.layers) == 3 and all(x.ratio_mean > 0 for x in result.layers)
    assert result.to_dict()["output_drift"] is None


def test_a_failed_probe_is_a_note_unless_it_was_asked_for(tmp_path):
    path = write(
        tmp_path / "fails.py",
        """
import torch.nn as nn

class EvalFails(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.drop = nn.Dropout(0.5)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        assert self.training or x.shape[0] <= 2, "cannot run in eval mode"
        return self.bn(self.drop(self.conv(x)))
""",
    )
    default = check_targets([str(path)], Options(device="cpu", probe_budget=0))
    [model] = default.models
    assert not default.errors and model.findings
    assert model.probe_note.startswith("failed: the forward pass failed: AssertionError: cannot run in eval mode")
    forced = check_targets([str(path)], Options(device="cpu", probe=True, probe_budget=0))
    assert forced.exit_code() == 2


def test_probe_budget_setting(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.netlint]\nprobe-budget = 2.5\n")
    shown = run_netlint("check", "--show-settings", cwd=tmp_path)
    assert "probe-budget = 2.5" in shown.stdout
    write(tmp_path / "pyproject.toml", "[tool.netlint]\nprobe-budget = -1\n")
    bad = run_netlint("check", "x.py", cwd=tmp_path)
    assert bad.returncode == 2 and "probe-budget must be a number of seconds" in bad.stderr


@pytest.mark.parametrize("value", ["-1", "ten"])
def test_bad_probe_budget_flag(value):
    result = run_netlint("check", "examples/clean_resnet.py", "--probe-budget", value)
    assert result.returncode == 2

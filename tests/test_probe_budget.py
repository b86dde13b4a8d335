"""The probe's budget: time, memory, and what a skipped or failed probe does to the report."""

from __future__ import annotations

import time

import pytest
import torch
import torch.nn as nn

import netlint
import netlint.probing.budget as budget_module
from netlint.graph.inputs import parse_shape
from netlint.options import Options
from netlint.probing import plan as probe_plan
from netlint.probing.budget import estimate_memory
from netlint.run.targets import check_targets

from .conftest import FIXTURES, run_netlint, write

SMALL = [parse_shape("2,3,12,12")]  # little compute: the sleep dominates
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
    original = probe_plan.probe_model

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - start)

    monkeypatch.setattr(probe_plan, "probe_model", wrapper)
    return seconds


def measured_forward(monkeypatch, seconds: float) -> None:
    """The timing forward reports ``seconds`` (as a slow model on a quiet machine would): the plan is deterministic."""
    monkeypatch.setattr(budget_module, "time_forward", lambda *args, **kwargs: seconds)


def test_a_slow_model_gets_a_smaller_batch_within_the_budget(tmp_path, monkeypatch):
    target = str(write(tmp_path / "slow.py", SLOW.format(seconds=0.02))) + ":Slow"
    budget = 4.0
    measured_forward(monkeypatch, 0.1)  # 0.05 s per sample, 4 passes: 6.4 s at the default batch of 32
    seconds = timed_probe(monkeypatch)
    report = check_targets([target], Options(device="cpu", probe_budget=budget, input_shapes=SMALL, isolate=False))
    [probe_seconds] = seconds
    [model] = report.models
    assert not report.errors and model.probe is not None, model.probe_note
    assert model.probe.batch_size in (4, 8, 16)  # what is left of 4 s after the build, cut to a power of two
    assert model.probe.batch_reason == f"time: 4 passes at batch {model.probe.batch_size} fit the 4 s budget"
    assert model.to_dict()["probe"]["batch_size"] == model.probe.batch_size
    # The deadline stops any pass that would go past twice the budget, at the next module call
    # (at most one sleep of 0.02 s x 16 here).
    assert probe_seconds < 2 * budget + 0.5


def test_time_plan_expects_a_large_batch_to_cost_more_per_sample():
    """From a forward timed at 2 rows, a CPU forward at 32 rows costs 1.3x to 1.75x more per sample
    (measured on torchvision models): the plan assumes growth with the batch, so that a probe the
    linear scaling would fit exactly is cut instead of overshooting the budget."""
    from netlint.probing.budget import probe_seconds, time_plan

    assert probe_seconds(0.01, 4, 2, 2) == pytest.approx(4 * 0.01 * 2 * budget_module.PASS_OVERHEAD)
    linear = 4 * 0.01 * 32 * budget_module.PASS_OVERHEAD
    assert probe_seconds(0.01, 4, 32, 2) == pytest.approx(linear * (1 + 4 * budget_module.GROWTH_PER_DOUBLING))
    # Linear scaling says 32 fits in 1.6 s; with the growth it does not, and 16 is the batch.
    assert time_plan(0.01, 4, 32, 2, False, left=1.6, budget=2.0) == (
        16,
        "time: 4 passes at batch 16 fit the 2 s budget",
    )
    assert time_plan(0.01, 4, 32, 2, False, left=10.0, budget=10.0) == (32, "")
    assert time_plan(0.01, 4, 24, 2, False, left=1.2, budget=2.0)[0] == 16  # not a power of two: cut to one
    with pytest.raises(budget_module.ProbeSkipped, match="at batch 2"):
        time_plan(1.0, 4, 32, 2, False, left=1.0, budget=1.0)


def test_a_model_too_slow_even_at_the_smallest_batch_is_skipped_with_a_note(tmp_path, monkeypatch):
    path = write(tmp_path / "slow.py", SLOW.format(seconds=0.5))
    measured_forward(monkeypatch, 1.0)  # 4 passes at batch 2: 4 s, over a budget of 1 s
    report = check_targets([f"{path}:Slow"], Options(device="cpu", probe_budget=1.0, input_shapes=SMALL))
    [model] = report.models
    assert model.probe is None and not report.errors and report.exit_code() == 1  # a note: findings only
    assert model.probe_note.startswith("skipped: it would take about ")
    assert "at batch 2 (4 forward passes of 1 s), over the --probe-budget of 1 s" in model.probe_note
    assert "--probe-budget 0 runs it" in model.probe_note
    assert model.to_dict()["probe"] == {"skipped": model.probe_note}
    assert model.findings  # the static findings stand

    forced = check_targets([f"{path}:Slow"], Options(device="cpu", probe_budget=1.0, probe=True, input_shapes=SMALL))
    assert forced.exit_code() == 2  # asked for with --probe: the skip is an error
    assert "the probe was skipped: it would take about" in forced.errors[0].text and forced.models[0].findings


def test_a_forward_slower_than_the_whole_budget_is_stopped(tmp_path, monkeypatch):
    """One forward at batch 2 sleeps 3 s, the budget is 0.5 s: stopped at the next module call, and
    no pass runs (each would sleep as long again)."""
    path = write(tmp_path / "slow.py", SLOW.format(seconds=1.5))
    seconds = timed_probe(monkeypatch)
    report = check_targets([f"{path}:Slow"], Options(device="cpu", probe_budget=0.5, input_shapes=SMALL, isolate=False))
    assert seconds[0] < 2 * 0.5 + 3.0 + 2.0  # the sleep cannot be interrupted; the passes would add 12 s
    [model] = report.models
    assert model.probe_note.startswith("skipped: one forward at batch 2 did not finish within the --probe-budget")
    assert not report.errors and model.findings


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
    from netlint.graph.static import static_graph

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


def test_a_failed_probe_is_a_note_unless_it_was_asked_for():
    path = f"{FIXTURES / 'probe_failures.py'}:EvalFails"
    default = check_targets([path], Options(device="cpu", probe_budget=0))
    [model] = default.models
    assert not default.errors and model.findings
    assert model.probe_note.startswith("failed: the forward pass failed: AssertionError: cannot run in eval mode")
    forced = check_targets([path], Options(device="cpu", probe=True, probe_budget=0))
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

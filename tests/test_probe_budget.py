"""The probe's budget: time, memory, and what a skipped or failed probe does to the report."""

from __future__ import annotations

import json
import subprocess
import sys
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

SMALL = [parse_shape("2,3,12,12")]
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
DROP_BN = """
import torch.nn as nn

class DropBN(nn.Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.drop = nn.Dropout(p)
        self.bn = nn.BatchNorm1d(256)

    def forward(self, x):
        return self.bn(self.drop(x))
"""


class Convs(nn.Module):
    """Two 3x3 convolutions with a dropout between them: 2*H*W*width*(3*9 + width*9) FLOPs per sample."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.drop = nn.Dropout(0.3)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)

    def forward(self, x):
        return self.bn2(self.conv2(self.drop(self.bn1(self.conv1(x)))))


def planned(model: nn.Module, shape: tuple[int, ...], budget: float = 10.0, n_passes: int = 4):
    from netlint.graph.static import static_graph

    graph, spec = static_graph(model, torch.empty(*shape, device="meta"))
    cost = budget_module.estimate_cost(graph, shape[0])
    memory = estimate_memory(graph, model, shape[0])
    return cost, budget_module.default_batch(cost, memory, spec.shapes, n_passes, budget, torch.device("cpu"))


def test_the_default_batch_follows_the_model_s_cost():
    """FLOPs from the graph's shapes; the largest power of two whose passes fit half the budget at the
    assumed speed; a bigger budget, a bigger batch; a flat model as cheap as a dropout gets the cap."""
    cost, (batch, why) = planned(Convs(), (2, 3, 128, 128))
    assert cost.flops == pytest.approx(2 * 128 * 128 * 16 * (3 * 9 + 16 * 9), rel=0.05)  # convolutions dominate
    speed = budget_module.ASSUMED_SPEED["cpu"]
    assert cost.seconds(batch, 4, speed) <= 5.0 < cost.seconds(2 * batch, 4, speed)
    assert why.startswith("planned from the model's cost") and f"batch {2 * batch} would take over half" in why
    assert planned(Convs(), (2, 3, 128, 128), budget=2.5)[1][0] == batch // 4  # the cost is linear in the batch
    assert planned(Convs(width=32), (2, 3, 128, 128))[1][0] < batch  # a heavier model, a smaller batch
    _, (cap, why) = planned(nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(256)), (2, 256))
    assert cap == budget_module.MAX_BATCH and why.endswith("4096 is the largest default batch")
    with pytest.raises(budget_module.ProbeSkipped, match=r"at batch 2 on an assumed 2-core CPU"):
        planned(Convs(width=64), (2, 3, 256, 256), budget=0.05)  # over the whole budget even at batch 2


def test_activations_cap_the_default_batch():
    memory = budget_module.MemoryEstimate(fixed=0, per_sample=budget_module.ACTIVATION_CAP / 100)
    free = budget_module.Cost(flops=1.0, written=1.0, calls=1)
    batch, why = budget_module.default_batch(free, memory, [(2, 3, 8, 8)], 4, 10.0, torch.device("cpu"))
    assert batch == 64 and why.endswith("batch 128 would hold over 1.1 GB of activations")


def test_no_clock_decides_the_batch_or_the_numbers(tmp_path, monkeypatch):
    """The same JSON whatever time.perf_counter says (a fast, a slow, a jumping clock), as long as the
    deadline (the clock's only role) is not reached."""
    path = write(tmp_path / "drop_bn.py", DROP_BN)
    options = Options(device="cpu", input_shapes=[parse_shape("2,256")], isolate=False)
    outputs = []
    real = time.perf_counter
    for scale, offset in ((1.0, 0.0), (0.001, 1e6), (1.9, -5e4)):
        monkeypatch.setattr(time, "perf_counter", lambda s=scale, o=offset: o + s * real())
        report = check_targets([f"{path}:DropBN"], options)
        outputs.append(json.dumps(report.models[0].to_dict()))
    monkeypatch.setattr(time, "perf_counter", real)
    assert outputs[0] == outputs[1] == outputs[2]
    probe = json.loads(outputs[0])["probe"]
    assert probe["batch_size"] == 4096 and probe["batch_reason"].startswith("planned from the model's cost")
    [layer] = probe["layers"]
    assert layer["verdict"] == "shift" and layer["ratio_low"] <= 0.5 <= layer["ratio_high"]


def test_three_cli_runs_on_a_busy_machine_give_the_same_bytes(tmp_path):
    """Two processes burn both cores while the default command runs three times: identical JSON."""
    path = write(tmp_path / "drop_bn.py", DROP_BN)
    burn = "import time\nend = time.time() + 600\nwhile time.time() < end: pass\n"
    busy = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(2)]
    try:
        runs = [run_netlint("check", f"{path}:DropBN", "-i", "2,256", "--format", "json") for _ in range(3)]
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert runs[0].returncode == 1, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout
    assert json.loads(runs[0].stdout)["models"][0]["probe"]["batch_size"] == 4096


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_default_settings_match_the_closed_form(tmp_path, p):
    """Dropout(p) -> BatchNorm1d at the default (planned) batch: within 3 % of 1-p (zero-mean inputs)."""
    path = write(tmp_path / "drop_bn.py", DROP_BN)
    report = check_targets([f"{path}:DropBN(p={p})"], Options(device="cpu", input_shapes=[parse_shape("2,256")]))
    [layer] = report.models[0].probe.layers
    assert layer.ratio_mean == pytest.approx(1 - p, rel=0.03)
    assert layer.ratio_low <= 1 - p <= layer.ratio_high


def test_an_explicit_batch_size_is_used_as_given(tmp_path):
    path = write(tmp_path / "drop_bn.py", DROP_BN)
    result = run_netlint("check", f"{path}:DropBN", "-i", "2,256", "--batch-size", "4096", "--format", "json")
    probe = json.loads(result.stdout)["models"][0]["probe"]
    assert (probe["batch_size"], probe["batch_reason"]) == (4096, "--batch-size")


def test_a_probe_past_twice_the_budget_is_stopped_with_a_note(tmp_path, monkeypatch):
    """One forward at batch 8 sleeps 2 s, the budget is 0.5 s: stopped at the next module call after the
    deadline (the model restored), skipped with a note; the static findings stand."""
    path = write(tmp_path / "slow.py", SLOW.format(seconds=0.25))
    seconds = timed_probe(monkeypatch)
    options = Options(device="cpu", probe_budget=0.5, batch_size=8, input_shapes=SMALL, isolate=False)
    report = check_targets([f"{path}:Slow"], options)
    assert seconds[0] < 2 * 0.5 + 2.0 + 2.0  # the sleep cannot be interrupted; three more passes would add 6 s
    [model] = report.models
    assert model.probe_note.startswith("skipped: it ran past twice the --probe-budget of 0.5 s at batch 8")
    assert "--probe-budget 0 runs it without a limit" in model.probe_note
    assert not report.errors and model.findings


def test_a_model_too_costly_even_at_the_smallest_batch_is_skipped_with_a_note(tmp_path):
    path = write(tmp_path / "slow.py", SLOW.format(seconds=0.0))
    shapes = [parse_shape("2,3,512,512")]
    report = check_targets([f"{path}:Slow"], Options(device="cpu", probe_budget=0.001, input_shapes=shapes))
    [model] = report.models
    assert model.probe is None and not report.errors and report.exit_code() == 1  # a note: findings only
    assert model.probe_note.startswith("skipped: it would take about ")
    assert "at batch 2 on an assumed 2-core CPU" in model.probe_note and "--probe-budget 0 runs it" in model.probe_note
    assert model.to_dict()["probe"] == {"skipped": model.probe_note}

    forced = check_targets([f"{path}:Slow"], Options(device="cpu", probe_budget=0.001, probe=True, input_shapes=shapes))
    assert forced.exit_code() == 2  # asked for with --probe: the skip is an error
    assert "the probe was skipped: it would take about" in forced.errors[0].text and forced.models[0].findings


def timed_probe(monkeypatch) -> list[float]:
    """Record the wall time of every probe (model build and passes)."""
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
    plenty = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=100, batch_size=256)
    assert plenty.probe.batch_size == 256 and plenty.probe.batch_reason == "--batch-size"

    room = 2 * estimate.at(100)  # half of it holds a batch of 100: cut to a power of two, with a note
    monkeypatch.setattr(budget_module, "available_memory", lambda device: (room, "available RAM"))
    cut = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=100, batch_size=256)
    assert cut.probe.batch_size == 64 and cut.probe.batch_reason.startswith("memory: --batch-size (256) needs about")
    assert cut.probe.notes[0] == cut.probe.batch_reason and "measured at batch 64 instead" in cut.probe.notes[0]

    monkeypatch.setattr(budget_module, "available_memory", lambda device: (estimate.fixed, "the cgroup memory limit"))
    skipped = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=100)
    [model] = skipped.models
    assert model.probe is None and "the probe was skipped: it needs about" in skipped.errors[0].text
    assert "that the cgroup memory limit leaves" in model.probe_note
    unlimited = netlint.check(Wide(), x, probe=True, device="cpu", probe_budget=0, batch_size=256)  # 0: no guard
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

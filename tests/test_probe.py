"""The dynamic probe: exact where it must be, faithful to theory, and harmless to the model."""

from __future__ import annotations

import inspect
import json
import math
import random
import re

import pytest
import torch
import torch.nn as nn

import netlint
from netlint.graph.inputs import parse_shape
from netlint.options import Options
from netlint.probing.shift import measure
from netlint.run.targets import check_targets

from .conftest import EXAMPLES, FIXTURES, RULE_EXAMPLES, run_netlint, write

# The worst channel of a BatchNorm that a dropout of rate p >= 0.1 reaches must move by at least
# this much. A directly fed zero-mean channel moves to about 1-p <= 0.9 (further with a non-zero
# mean); sums with clean branches and convolutions dilute it, and the weakest case of the rule
# examples (Dropout2d(0.1) on a residual branch) measures 0.95. Sampling noise is far smaller:
# a BatchNorm with no dropout upstream is compared with exactly 1.0.
CLEARLY_SHIFTED = 0.97


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
@pytest.mark.parametrize("m", [0.0, 1.0])
def test_ratio_matches_the_variance_shift_formula(p, m):
    """Dropout(p) -> BatchNorm1d on N(m, v): ratio = v / ((v + m^2)/(1-p) - m^2) within 3 %.

    200,000 samples per channel and 8 channels: the ratio's sampling error is below 0.5 %.
    """
    v, n, c = 1.5, 200_000, 8
    model = nn.Sequential(nn.Dropout(p), nn.BatchNorm1d(c))
    x = m + math.sqrt(v) * torch.randn(n, c, generator=torch.Generator().manual_seed(1))
    result = netlint.probe(model, x, device="cpu")
    [layer] = result.layers
    expected = v / ((v + m * m) / (1 - p) - m * m)
    assert layer.ratio_mean == pytest.approx(expected, rel=0.03)
    assert layer.samples == n and layer.channels == c
    assert layer.sources == ["0"]


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)  # nothing upstream drops: exactly 1.0
        self.drop = nn.Dropout(0.3)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)  # reached through conv2
        self.fc = nn.Linear(16, 32)
        self.drop_fc = nn.Dropout(0.5)
        self.fc2 = nn.Linear(32, 32, bias=False)
        self.bn3 = nn.BatchNorm1d(32)  # reached through a Linear

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(self.drop(x))))
        x = self.drop_fc(torch.relu(self.fc(x.mean(dim=(2, 3)))))
        return self.bn3(self.fc2(x))


def test_exactly_one_without_dropout_and_shifted_through_conv_and_linear():
    result = netlint.probe(ConvNet(), torch.empty(64, 3, 16, 16, device="meta"), device="cpu")
    bn1, bn2, bn3 = (result.layer(n) for n in ("bn1", "bn2", "bn3"))
    assert bn1.ratio_mean == bn1.ratio_min == bn1.ratio_max == 1.0 and bn1.mean_shift == 0.0 and bn1.sources == []
    assert bn2.ratio_max < 0.9 and bn2.sources == ["drop"]
    assert bn3.ratio_max < 0.9 and bn3.sources == ["drop", "drop_fc"]
    assert result.batch_size == 64 and result.output_drift > 0.01
    assert [x.module for x in result.layers][-1] == "bn1"  # sorted by magnitude


def _agreement(report):
    from netlint.graph.ir import DROPOUT_OPS
    from netlint.graph.queries import active_at_inference, random_decisions

    for model in report.models:
        # A dropout that also drops at inference (NL006) drops in both of the probe's passes: no
        # train/inference shift to measure, as NL001's message for it says.
        always = {n.module for n in model.graph.ops(*DROPOUT_OPS) if active_at_inference(n)}
        named = {
            bn
            for f in model.findings
            if f.code == "NL001" and not f.data.get("active_at_inference")
            for bn in f.related
        }
        probe = model.probe
        assert probe is not None, model.name
        # A whole-batch random decision (skip this block in this step) may keep the block in the
        # probe's one draw: no shift this time. Every other source shifts every batch.
        per_step = {n.module for n in random_decisions(model.graph)} | always
        for layer in probe.layers:
            if layer.module in named:
                assert layer.ratio_min < CLEARLY_SHIFTED, (model.name, layer)
            if not layer.sources:
                assert layer.ratio_min == layer.ratio_max == 1.0, (model.name, layer)
            elif not set(layer.sources) <= per_step:
                assert layer.ratio_min != 1.0 or layer.ratio_max != 1.0, (model.name, layer)
        assert named <= {x.module for x in probe.layers}


AGREEMENT_TARGETS = [*sorted(RULE_EXAMPLES.glob("*.py")), EXAMPLES]


@pytest.mark.parametrize("target", AGREEMENT_TARGETS, ids=lambda p: p.name)
def test_static_and_dynamic_agree_on_the_rule_examples(target):
    """One item per file, so that parallel test workers share the probes."""
    # In this process (isolate=False): the agreement reads each model's graph, which workers keep.
    # Batch 8 is enough for every assertion below: a smaller batch only widens the spread of the ratios.
    options = Options(probe=True, device="cpu", probe_budget=0, batch_size=8, isolate=False)
    report = check_targets([str(target)], options)
    assert not report.errors, [e.text for e in report.errors]
    _agreement(report)
    if target.name == "nl001_bad.py":
        assert sum(1 for f in report.findings if f.code == "NL001") >= 10


def test_hand_written_stochastic_depth_is_measured_and_explained():
    """A random draw that skips residual branches in training shifts the variance the next blocks'
    BatchNorms see: the probe measures it, and NL005's gating sites explain it. The draw is taken once
    for the whole batch, so one probe sees one draw: no interval, no verdict, NL005 stays info."""
    report = check_targets([str(EXAMPLES / "stochastic_depth.py")], Options(probe=True, device="cpu", probe_budget=0))
    probe = report.models[0].probe
    moved = [x for x in probe.layers if not x.exact]
    assert moved and all(x.module.startswith("blocks.") and x.sources for x in moved)
    assert all(x.drawn_once and x.verdict == "inconclusive" and x.ratio_low is None for x in moved)
    assert probe.settling_batch() is None  # no batch size resamples a decision drawn once per batch
    assert all(f.severity.value == "info" and "one random decision for the whole batch" in f.message
               for f in report.findings if f.code == "NL005")  # fmt: skip
    assert probe.layer("blocks.3.bn1").sources == ["blocks.0", "blocks.1", "blocks.2"]
    assert probe.layer("stem.1").ratio_min == probe.layer("blocks.0.bn1").ratio_max == 1.0


def test_static_and_dynamic_agree_on_densenet():
    densenet = pytest.importorskip("torchvision.models").densenet121(drop_rate=0.2)
    report = netlint.check(densenet, torch.empty(2, 3, 96, 96, device="meta"), probe=True, batch_size=16,
                           device="cpu", select=["NL001"])  # fmt: skip
    assert not report.errors
    _agreement(report)
    probe = report.models[0].probe
    exact = sorted(x.module for x in probe.layers if x.ratio_min == x.ratio_max == 1.0)
    assert exact == [
        "features.denseblock1.denselayer1.norm1",
        "features.denseblock1.denselayer1.norm2",
        "features.norm0",
    ]
    assert all("Measured variance shift" in f.message for f in report.findings[:6])


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_probe_leaves_the_model_and_generators_as_they_were(mode):
    torch.manual_seed(3)
    model = ConvNet().train(mode == "train")
    model.bn2.running_var.fill_(3.0)
    model.bn1.num_batches_tracked.fill_(11)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    x = torch.randn(8, 3, 8, 8)
    rng = torch.get_rng_state().clone(), random.getstate()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    result = netlint.probe(model, x, device="auto")
    assert result.layers
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert flags == [m.training for m in model.modules()]
    assert all("forward" not in vars(m) for m in model.modules())
    assert torch.equal(rng[0], torch.get_rng_state()) and rng[1] == random.getstate()
    if cuda is not None:
        assert all(torch.equal(a, b) for a, b in zip(cuda, torch.cuda.get_rng_state_all()))


def test_same_seed_same_figures_other_seed_other_masks():
    x = torch.randn(32, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    model = ConvNet()
    a, b = netlint.probe(model, x, seed=0), netlint.probe(model, x, seed=0)
    c = netlint.probe(model, x, seed=1)
    assert a.to_dict() == b.to_dict()
    assert a.layer("bn2").ratio_mean != c.layer("bn2").ratio_mean
    assert a.layer("bn1").ratio_mean == c.layer("bn1").ratio_mean == 1.0


def test_measure_never_keeps_patched_forwards_after_a_failure():
    class FailsInEval(nn.Module):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)
            self.bn = nn.BatchNorm1d(4)

        def forward(self, x):
            if not self.training:
                raise RuntimeError("eval mode is broken")
            return self.bn(self.drop(x))

    model = FailsInEval()
    with pytest.raises(Exception, match="eval mode is broken"):
        measure(model, [torch.randn(8, 4)])
    assert "forward" not in vars(model.bn) and model.training


def test_probe_failures_are_the_models_error_and_the_rest_goes_on():
    f = FIXTURES / "probe_failures.py"
    report = check_targets(
        [str(f), str(EXAMPLES / "vgg_dropout_blocks.py")], Options(probe=True, device="cpu", probe_budget=0)
    )
    names = [m.name.rsplit(":", 1)[1] for m in report.models]
    assert names == ["NaNs", "EvalFails", "VGGDropout"]
    assert [m.probe is None for m in report.models] == [True, True, False]
    assert all(m.findings for m in report.models)  # the static findings still stand
    messages = [e.text for e in report.errors]
    assert (
        "non-finite values (NaN or Inf) reach BatchNorm bn in the model's own forward in training mode" in messages[0]
    )
    assert "the probe failed: the forward pass failed: AssertionError: cannot run in eval mode" in messages[1]
    assert report.exit_code() == 2


def test_unavailable_device_is_reported():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    report = netlint.check(ConvNet(), torch.randn(4, 3, 8, 8), probe=True, device="cuda")
    assert "CUDA is not available" in report.errors[0].text


def test_cli_probe_options(tmp_path):
    batch = tmp_path / "batch.pt"
    torch.save(torch.randn(24, 3, 32, 32), batch)
    target = str(EXAMPLES / "vgg_dropout_blocks.py")
    # Budget 0: these measurements must not depend on how loaded the machine is.
    auto = json.loads(run_netlint("check", target, "--probe-budget", "0", "--format", "json").stdout)
    probe = auto["models"][0]["probe"]
    assert probe["device"] == "cpu" and probe["batch_size"] == 16 and probe["seconds"] is None
    assert set(probe) == {"device", "batch_size", "seed", "seconds", "output_drift", "layers", "eval_difference",
                          "batch_reason", "notes", "band"}  # fmt: skip
    assert probe["batch_reason"] == "a real batch, used whole"  # example_inputs() of the file
    assert set(probe["layers"][0]) >= {"module", "ratio_mean", "ratio_min", "ratio_max", "mean_shift", "sources"}
    args = ("--input", str(batch), "--seed", "3", "--timings", "--probe-budget", "0", "--format", "json")
    real = json.loads(run_netlint("check", target, *args).stdout)
    assert real["models"][0]["input_source"] == f"--input {batch}"
    assert real["models"][0]["probe"]["batch_size"] == 24 and real["models"][0]["probe"]["seed"] == 3
    assert real["models"][0]["probe"]["seconds"] > 0
    off = json.loads(run_netlint("check", target, "--no-probe", "--format", "json").stdout)
    assert off["models"][0]["probe"] is None
    no_dropout = json.loads(run_netlint("check", str(EXAMPLES / "residual_bias.py"), "--format", "json").stdout)
    assert no_dropout["models"][0]["probe"] == {"skipped": "not needed (no dropout reaches a BatchNorm)"}
    shown = run_netlint("check", target, "--probe-budget", "0")
    assert "probe: cpu, batch 16" in shown.stdout and "upstream dropout" in shown.stdout
    bad = run_netlint("check", target, "--device", "tpu")
    assert bad.returncode == 2 and "--device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'" in bad.stderr


def test_batchnorm_subclass_keeps_its_own_forward():
    """A BatchNorm subclass with a forward of its own (timm's BatchNormAct2d) must still run it.

    This one zeroes its output, so everything after it is constant and bn2 measures exactly 1.0;
    a probe that replaced the subclass's forward would see the dropout shift bn2 instead.
    """

    class BatchNormZero(nn.BatchNorm2d):
        def forward(self, x):
            return super().forward(x) * 0.0

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, bias=False), BatchNormZero(8), nn.Dropout(0.5), nn.Conv2d(8, 8, 3, bias=False),
        nn.BatchNorm2d(8),
    )  # fmt: skip
    result = netlint.probe(model, torch.randn(8, 3, 12, 12), device="cpu")
    assert result.layer("4").ratio_min == result.layer("4").ratio_max == 1.0 and result.layer("4").sources == ["2"]
    assert result.layer("1").ratio_mean == 1.0
    assert all("forward" not in vars(m) for m in model.modules())


def test_dropout_active_at_inference_is_confirmed_by_the_probe(tmp_path):
    f = write(
        tmp_path / "random_eval.py",
        """
import torch.nn as nn
import torch.nn.functional as F

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        return self.bn(F.dropout(self.fc(x), 0.5))
""",
    )
    report = check_targets([str(f)], Options(probe=True, device="cpu", probe_budget=0, select=["NL006"]))
    [finding] = report.findings
    assert finding.severity.value == "error" and "Confirmed by the probe" in finding.message
    assert finding.data["eval_difference"] > 0


DROP_PATH = """
import torch.nn as nn
from torchvision.ops import StochasticDepth


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.drop_path = StochasticDepth(0.5, "row")  # one draw per sample
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)

    def forward(self, x):
        x = self.bn1(self.conv1(x))
        return self.bn2(self.conv2(x + self.drop_path(x)))
"""


@pytest.mark.parametrize("batch", [4, 256])
def test_nl005_becomes_a_warning_only_when_the_interval_clears_the_band(tmp_path, batch):
    """Per-sample drop-path (ratio 0.8 in theory): at batch 256 the shift's interval lies below 0.9 (a warning); at batch 4 there is no
    interval (fewer than 8 samples), so the finding stays info and says which batch would settle it."""
    pytest.importorskip("torchvision")
    path = write(tmp_path / "drop_path.py", DROP_PATH)
    options = Options(
        probe=True, device="cpu", select=["NL005"], batch_size=batch, input_shapes=[parse_shape("2,3,8,8")]
    )
    [finding] = check_targets([f"{path}:Net"], options).findings
    layer = finding.data["measured_verdict"]
    if batch == 256:
        assert layer == {"bn2": "shift"} and finding.severity.value == "warning"
        assert "Measured variance shift" in finding.message and "95 % interval" in finding.message
    else:
        assert layer == {"bn2": "inconclusive"} and finding.severity.value == "info"
        assert (
            "inconclusive at batch 4" in finding.message and "--batch-size 8 would likely settle it" in finding.message
        )


class ChannelDrop(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.drop = nn.Dropout2d(0.5)
        self.bn1 = nn.BatchNorm2d(16)  # fed the dropout directly: a channel dropped in every sample is all zeros
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)

    def forward(self, x):
        return self.bn2(self.conv2(torch.relu(self.bn1(self.drop(self.conv1(x))))))


@pytest.mark.parametrize("batch", [2, 4, 8])
def test_channel_dropout_at_tiny_batches_gives_sane_marked_numbers(batch):
    """Dropout2d(0.5) -> BatchNorm2d at batch 2-8: channels dropped in every sample are excluded and counted
    (never divided by), every ratio and the drift stay finite and sane, and what cannot be judged is marked."""
    model = ChannelDrop()
    x = torch.randn(batch, 3, 12, 12, generator=torch.Generator().manual_seed(batch))
    result = measure(model, [x], seed=0)
    torch.manual_seed(0)  # the probe's training pass draws the same masks: which channels are all zero?
    with torch.no_grad():
        fed = model.drop.train()(model.conv1(x))
    empty = int((fed.abs().amax(dim=(0, 2, 3)) == 0).sum())
    bn1 = result.layer("bn1")
    assert bn1.excluded_channels == empty and bn1.channels == 16
    if empty:
        assert f"{empty} of 16 at bn1" in result.notes[-1] and "never divided" in result.notes[-1]
    for layer in result.layers:
        values = [layer.ratio_mean, layer.ratio_min, layer.ratio_max, layer.ratio_low, layer.ratio_high]
        assert all(v is None or 0.05 < v < 20 for v in values), layer
        assert (layer.ratio_low is None) == (batch < 8)  # fewer than 8 samples: no interval, so inconclusive
        assert layer.verdict in (("inconclusive",) if batch < 8 else ("inconclusive", "shift"))
    assert result.output_drift is not None and result.output_drift < 2
    data = json.dumps(result.to_dict())
    assert "Infinity" not in data and "NaN" not in data


def test_numbers_in_the_cli_report_stay_sane_at_batch_2(tmp_path):
    path = write(
        tmp_path / "channel_drop.py", "import torch\nimport torch.nn as nn\n\n" + inspect.getsource(ChannelDrop)
    )
    result = run_netlint("check", f"{path}:ChannelDrop", "-i", "2,3,12,12", "--batch-size", "2")
    numbers = [float(n) for n in re.findall(r"(\d+(?:\.\d+)?)x", result.stdout)]
    assert numbers and max(numbers) < 20, result.stdout
    assert "inconclusive at batch 2" in result.stdout and "--batch-size 8 would likely settle it" in result.stdout


NOT_FINITE = """
import torch.nn as nn

class NaNOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.5)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        return self.bn(self.drop(self.fc(x))) / 0.0 * 0.0  # NaN everywhere, after the last BatchNorm

class NoTensor(NaNOut):
    def forward(self, x):
        self.bn(self.drop(self.fc(x)))
        return None
"""


def test_nan_in_the_model_s_own_output_is_an_error_and_no_tensor_is_no_drift(tmp_path):
    path = write(tmp_path / "not_finite.py", NOT_FINITE)
    report = check_targets([str(path)], Options(device="cpu", input_shapes=[parse_shape("2,8")]))
    nan, none = report.models
    assert nan.probe is None and report.exit_code() == 2 and nan.findings  # the default probe: still an error
    [error] = report.errors
    assert "the model's own forward in training mode returns non-finite values (NaN or Inf) in its output" in error.text
    assert none.probe is not None and none.probe.output_drift is None
    assert "output drift not measurable: the forward returns no floating-point tensor" in none.probe.notes
    assert none.to_dict()["probe"]["output_drift"] is None


def test_a_missing_device_is_bad_input_said_once_with_the_static_findings(tmp_path):
    two = [str(EXAMPLES / "vgg_dropout_blocks.py"), str(EXAMPLES / "stochastic_depth.py")]
    devices = ["mps"] + ([] if torch.cuda.is_available() else ["cuda", "cuda:1"])
    for device in devices:
        result = run_netlint("check", *two, "--device", device, "--format", "json")
        data = json.loads(result.stdout)
        assert result.returncode == 2 and len(data["errors"]) == 1, data["errors"]
        assert (
            data["errors"][0]["target"] == f"--device {device}"
            and "is not available on this machine" in (data["errors"][0]["message"])
        )
        assert sum(len(m["findings"]) for m in data["models"]) == 7  # the static findings stand

"""A check never changes the model it inspects, nor the global random-number generators."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import netlint
from netlint.run.targets import check_targets

from .conftest import EXAMPLES, FIXTURES


class DataDependent(nn.Module):
    """Forces the real-tensor (CPU) fallback, the path that could touch running statistics."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = self.bn(self.conv(x))
        if x.sum() > -1e9:
            x = self.drop(x)
        return F.relu(x)


def snapshot(model: nn.Module):
    tensors = {k: v.detach().clone() for k, v in model.state_dict(keep_vars=True).items()}
    flags = {name: m.training for name, m in model.named_modules()}
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    return tensors, flags, hooks, set(vars(model))


def rng_state():
    return torch.get_rng_state().clone(), random.getstate(), np.random.get_state()[1].copy()


def assert_same_rng(before, after):
    assert torch.equal(before[0], after[0])
    assert before[1] == after[1]
    assert (before[2] == after[2]).all()


@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
@pytest.mark.parametrize("make", [DataDependent, lambda: __import__("torchvision").models.densenet121(drop_rate=0.2)])
def test_model_is_bit_identical_afterwards(make, mode):
    torch.manual_seed(1)
    model = make()
    for m in model.modules():  # non-default running statistics, to see any reset or update
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_()
            m.running_var.uniform_(1, 2)
            m.num_batches_tracked.fill_(7)
    if mode == "eval":
        model.eval()
    elif mode == "mixed":
        model.eval()
        next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d)).train()
    inputs = torch.randn(2, 3, 32, 32) if make is DataDependent else None
    before, rng = snapshot(model), rng_state()
    report = netlint.check(model, inputs)
    assert not report.errors and report.models
    after = snapshot(model)
    assert before[0].keys() == after[0].keys()
    for key, value in before[0].items():
        assert torch.equal(value, after[0][key]), key
        assert value.dtype == after[0][key].dtype and value.device == after[0][key].device
    assert before[1:] == after[1:]
    assert_same_rng(rng, rng_state())


def test_real_tensor_fallback_was_used_for_the_data_dependent_model():
    report = netlint.check(DataDependent(), torch.randn(2, 3, 16, 16))
    assert report.models[0].parts[0].engine == "capture (cpu)"


def test_checking_files_leaves_the_generators_alone():
    before = rng_state()
    check_targets([str(EXAMPLES), str(FIXTURES / "data_dependent.py")])
    assert_same_rng(before, rng_state())


def test_results_are_deterministic(examples_json_pair):
    """Two runs of the same check give the same report, probe figures and random blocks included."""
    first, second = (json.loads(run.stdout) for run in examples_json_pair)
    assert first == second
    assert any(m["probe"] for m in first["models"])
    assert any(m["name"].endswith("active_blocks.py:Net") for m in first["models"])

"""Custom torch.autograd.Functions: differentiable as their backward says (netlint/graph/functions.py)."""

from __future__ import annotations

import torch
import torch.nn as nn

import netlint
from netlint.graph.functions import calls_to, no_gradient_inputs


class Scaled(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, note):
        return x * scale

    @staticmethod
    def backward(ctx, grad):
        if grad is None:
            return None, None, None
        return grad, None, None


class Computed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        grads = (grad, None)
        return grads


class Single(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        def helper():
            return None

        helper()
        return grad


def test_backward_source_decides_which_inputs_get_no_gradient():
    assert no_gradient_inputs(Scaled) == {1, 2}  # None in every return at positions 1 and 2
    assert no_gradient_inputs(Computed) == set()  # a computed tuple: assume differentiable
    assert no_gradient_inputs(Single) == set()  # a nested function's return is not backward's


def test_apply_is_routed_while_recording_and_restored_after():
    seen = []
    before = torch.autograd.Function.__dict__["apply"]
    with calls_to(lambda cls, args, kwargs: seen.append(cls) or args[0]):
        assert Single.apply(torch.ones(2)).shape == (2,)
    assert seen == [Single] and torch.autograd.Function.__dict__["apply"] is before
    x = torch.ones(2, requires_grad=True)
    assert Single.apply(x).requires_grad


def test_function_inside_a_captured_module_keeps_its_gradient():
    """The capture engine (a forward that fx cannot trace) sees the same Function the same way."""

    class Swish(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * torch.sigmoid(x)

        @staticmethod
        def backward(ctx, grad):
            return grad

    class DataDependent(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)
            self.out = nn.Linear(8, 4)

        def forward(self, x):
            h = Swish.apply(self.fc(x))
            if h.sum() > 0:
                h = h * 2
            return self.out(h)

    report = netlint.check(DataDependent(), torch.randn(2, 8))
    assert report.models[0].parts[0].engine.startswith("capture")
    assert [f.code for f in report.findings if f.code == "NL012"] == []

"""Batch tracking (netlint/graph/batch.py): the batch is told from other factors by layout, not by size."""

from __future__ import annotations

import torch
import torch.nn as nn

import netlint


class HeadsFirst(nn.Module):
    """heads*B order (heads major), then split back: the batch lands in dimension 1, not 0.

    Batch size and head count are both 2, so the sizes cannot say which factor is which.
    """

    def __init__(self, reduce_dim: int):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.reduce_dim = reduce_dim

    def forward(self, x):
        b, n, c = x.shape
        h = self.fc(x).view(b, n, 2, c // 2).permute(2, 0, 1, 3).reshape(2 * b, n, c // 2)
        return h.view(2, b, n, c // 2).mean(self.reduce_dim)


def findings(model):
    report = netlint.check(model, torch.randn(2, 5, 8), select=["NL009"])
    assert not report.errors
    return [(f.code, f.data.get("batch_dim")) for f in report.findings]


def test_mean_over_heads_is_not_mixing():
    assert findings(HeadsFirst(0)) == []


def test_mean_over_the_batch_after_a_heads_first_merge_is_mixing():
    assert findings(HeadsFirst(1)) == [("NL009", 1)]


def test_batch_statistic_for_control_flow_only_is_not_mixing():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            h = self.fc(x)
            return h * 2 if h.abs().sum() > 0 else h

    assert findings(Gate()) == []


class SameMistakeTwice(nn.Module):
    """Two attention layers built with batch_first=False and fed (N, L, D), then an implicit-dim softmax:
    three places to fix, and fixing the first must not be how the user learns of the second."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.MultiheadAttention(8, 2) for _ in range(2)])

    def forward(self, x):
        for attn in self.layers:
            x = attn(x, x, x)[0]
        return torch.softmax(x, 0)


def test_every_site_that_mixes_the_batch_is_a_finding_not_only_the_first_on_a_path():
    report = netlint.check(SameMistakeTwice(), torch.randn(2, 5, 8), select=["NL009"])
    assert [(f.module, f.data.get("op")) for f in report.findings] == [
        ("layers.0", "MultiheadAttention"), ("layers.1", "MultiheadAttention"), ("", "softmax")
    ]  # fmt: skip


def test_after_a_reduction_over_the_batch_nothing_below_is_reported_again():
    class SumThenSoftmax(nn.Module):
        def forward(self, x):
            return torch.softmax(x.sum(0, keepdim=True), 0)  # the batch is gone after the sum

    report = netlint.check(SumThenSoftmax(), torch.randn(2, 5, 8), select=["NL009"])
    assert [f.data.get("op") for f in report.findings] == ["sum"]


class LossInForward(nn.Module):
    """A VQ-style loss computed in forward with a loss functional (or an ``nn.*Loss`` module)."""

    def __init__(self, how: str):
        super().__init__()
        self.enc = nn.Linear(8, 8)
        self.dec = nn.Linear(8, 8)
        self.criterion = nn.MSELoss()
        self.how = how

    def forward(self, x):
        z = self.enc(x)
        if self.how == "module":
            loss = self.criterion(z, torch.zeros_like(z))
        else:
            loss = torch.nn.functional.mse_loss(z.detach(), z, reduction=self.how)
        if self.how == "none":
            return self.dec(z) * loss  # per element: no sample sees another
        return self.dec(z) * loss if self.how == "sum" else (self.dec(z), loss)


def test_a_loss_functional_reduces_over_the_batch_unless_reduction_is_none():
    assert findings(LossInForward("sum")) == [("NL009", 0)]  # multiplied into the prediction: mixing
    assert findings(LossInForward("mean")) == []  # returned beside the prediction: a batch statistic
    assert findings(LossInForward("module")) == []
    assert findings(LossInForward("none")) == []


def test_an_nn_loss_module_multiplied_into_the_prediction_is_mixing():
    class Scaled(LossInForward):
        def forward(self, x):
            z = self.enc(x)
            return self.dec(z) * self.criterion(z, torch.zeros_like(z))

    assert findings(Scaled("module")) == [("NL009", 0)]


def test_a_forward_that_returns_only_its_training_loss_mixes_no_prediction():
    class TrainingWrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(8, 4)
            self.criterion = nn.CrossEntropyLoss()

        def forward(self, x, y):
            return self.criterion(self.net(x), y)

    class FunctionalLoss(TrainingWrapper):
        def forward(self, x, y):
            return torch.nn.functional.cross_entropy(self.net(x), y, reduction="sum")

    for model in (TrainingWrapper(), FunctionalLoss()):
        report = netlint.check(model, (torch.randn(4, 8), torch.randint(0, 4, (4,))), select=["NL009"])
        assert not report.errors and report.findings == [], type(model).__name__

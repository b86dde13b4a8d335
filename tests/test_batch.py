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

"""Rules never crash on graphs with unknown shapes, missing hyper-parameters or structured outputs."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
import torch.nn as nn

import netlint
from netlint.graph.ir import Graph, Node, Op
from netlint.rules import ALL_RULES

Pair = namedtuple("Pair", "probs features")


def _bare_graph() -> Graph:
    """Every op kind, no shapes and no parameters: what a half-known graph can look like."""
    g = Graph("bare")
    previous = g.add(Node(0, "input", Op.INPUT, "x", ""))
    for i, op in enumerate(v for k, v in vars(Op).items() if k.isupper() and v not in (Op.INPUT, Op.OUTPUT)):
        previous = g.add(Node(0, "module", op, f"torch.nn.X{i}", f"m{i}", inputs=[previous], shapes=((),)))
    g.add(Node(0, "output", Op.OUTPUT, "output", "", inputs=[previous]))
    return g


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.code)
def test_rules_survive_unknown_shapes_and_parameters(rule):
    list(rule().check(_bare_graph()))


class Structured(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x):
        h = self.conv(x).mean((2, 3))
        p = self.fc2(self.fc1(h)).softmax(1)
        return {"tuple": (p, h), "list": [p, h], "dict": {"p": p, "h": h}, "namedtuple": Pair(p, h)}[self.kind]


@pytest.mark.parametrize("kind", ["tuple", "list", "dict", "namedtuple"])
def test_structured_outputs(kind):
    report = netlint.check(Structured(kind), torch.randn(2, 3, 8, 8), select=["NL01"], probe=False)
    assert not report.errors
    assert sorted(f.code for f in report.findings) == ["NL011"]  # NL013 skips structured outputs

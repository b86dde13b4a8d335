"""Layers a forward calls or not as tensor values decide (a router's experts) are not "never called"
(netlint/graph/routing.py, NL012)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

import netlint
from netlint.graph import ops
from netlint.graph.static import static_graph


def nl012(model, *inputs):
    return sorted(f.module for f in netlint.check(model, *inputs).findings if f.code == "NL012")


class TinyMoE(nn.Module):
    """Top-1 routing with a zero router: every token picks expert 0 at initialisation."""

    def __init__(self, dim: int = 8, experts: int = 4, zero: bool = True):
        super().__init__()
        self.router = nn.Linear(dim, experts)
        if zero:
            nn.init.zeros_(self.router.weight)
            nn.init.zeros_(self.router.bias)
        self.experts = nn.ModuleList(nn.Linear(dim, dim) for _ in range(experts))
        self.spare = nn.Linear(dim, dim)  # no code refers to it: dead whatever the values

    def forward(self, x):
        probs = self.router(x).softmax(-1)
        choice = probs.argmax(-1)
        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            picked = choice == i
            if picked.any():
                out[picked] = expert(x[picked]) * probs[picked, i : i + 1]
        return out


class Expert(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.w1 = nn.Linear(dim, 16, bias=False)
        self.w2 = nn.Linear(16, dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)))


class SparseMoE(nn.Module):
    """Mixtral-like: top-2 of 8 experts, tokens gathered with ``torch.where`` and summed with ``index_add_``."""

    def __init__(self, dim: int = 8, experts: int = 8, top_k: int = 2, shared: bool = False):
        super().__init__()
        self.top_k = top_k
        self.use_shared = shared
        self.gate = nn.Linear(dim, experts, bias=False)
        self.experts = nn.ModuleList(Expert(dim) for _ in range(experts))
        self.shared = Expert(dim)  # behind an instance flag, not a value: still dead when off

    def forward(self, hidden):
        b, t, d = hidden.shape
        x = hidden.view(-1, d)
        weights = F.softmax(self.gate(x), dim=1)
        weights, selected = torch.topk(weights, self.top_k, dim=-1)
        weights = weights / weights.sum(dim=-1, keepdim=True)
        out = torch.zeros_like(x)
        mask = F.one_hot(selected, num_classes=len(self.experts)).permute(2, 1, 0)
        hit = torch.greater(mask.sum(dim=(-1, -2)), 0).nonzero()
        for e in hit:
            idx, top = torch.where(mask[e].squeeze(0))
            y = self.experts[e](x[None, top].reshape(-1, d)) * weights[top, idx, None]
            out.index_add_(0, top, y)
        if self.use_shared:
            out = out + self.shared(x)
        return out.view(b, t, d)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.moe = SparseMoE()
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.moe(x))


def test_experts_a_zero_router_did_not_pick_are_routed_not_dead():
    graph, _ = static_graph(TinyMoE(), torch.randn(16, 8))
    assert sorted(graph.context["trained_elsewhere"]) == ["experts.1", "experts.2", "experts.3"]
    assert "decides on tensor values" in graph.context["trained_elsewhere"]["experts.1"]
    assert nl012(TinyMoE(), torch.randn(16, 8)) == ["spare"]


def test_top2_experts_left_out_in_a_submodule_are_routed_and_a_flagged_layer_is_still_dead():
    torch.manual_seed(0)
    model = Classifier()
    graph, _ = static_graph(model, torch.randn(1, 2, 8))  # 2 tokens x top-2: at most 4 of 8 experts run
    routed = graph.context["trained_elsewhere"]
    assert len(routed) >= 4 and all(k.startswith("moe.experts.") for k in routed)
    assert nl012(model, torch.randn(1, 2, 8)) == ["moe.shared"]


def test_the_findings_do_not_depend_on_the_initialisation():
    """Which experts run depends on the random router; what is reported must not."""
    found = set()
    for seed in range(3):
        torch.manual_seed(seed)
        model, x = TinyMoE(zero=False), torch.randn(3, 8)  # 3 tokens, 4 experts: one is always left out
        found.add(tuple((f.code, f.module, f.message) for f in netlint.check(model, x).findings))
    assert len(found) == 1
    assert [m for code, m, _ in next(iter(found)) if code == "NL012"] == ["spare"]


def test_value_sized_ops():
    x, mask = torch.randn(4), torch.tensor([True, False, True, False])
    assert ops.is_value_sized(torch.where, None, (mask,))
    assert not ops.is_value_sized(torch.where, None, (mask, x, x))
    assert ops.is_value_sized(None, "nonzero", (mask,))
    assert ops.is_value_sized(None, "__getitem__", (x, mask))
    assert not ops.is_value_sized(None, "__getitem__", (x, torch.tensor([0, 2])))

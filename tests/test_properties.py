"""Property tests: random conv stacks, whose expected findings an oracle derives from the layer list alone."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import netlint

C, SIZE = 8, 6
NORMS = {"bn", "gn", "ln"}
THROUGH = {"relu", "bn", "gn", "ln", "pool", "identity", "drop", "drop2d"}  # NL003's path, between weights

layer = st.one_of(
    st.tuples(st.just("conv"), st.booleans()),
    st.tuples(st.just("bn"), st.booleans()),
    st.tuples(st.just("gn"), st.sampled_from([1, 2, C])),
    st.tuples(st.just("ln"), st.just(None)),
    st.tuples(st.just("relu"), st.just(None)),
    st.tuples(st.just("pool"), st.just(None)),
    st.tuples(st.just("identity"), st.just(None)),
    st.tuples(st.just("drop"), st.sampled_from([0.0, 0.2, 0.5])),
    st.tuples(st.just("drop2d"), st.sampled_from([0.0, 0.3])),
)
stacks = st.tuples(st.lists(layer, max_size=9), st.sampled_from(["gap", "flatten"]))


def build(layers, head) -> nn.Module:
    make = {
        "conv": lambda a: nn.Conv2d(C, C, 3, padding=1, bias=a),
        "bn": lambda a: nn.BatchNorm2d(C, track_running_stats=a),
        "gn": lambda a: nn.GroupNorm(a, C),
        "ln": lambda a: nn.LayerNorm([C, SIZE, SIZE]),
        "relu": lambda a: nn.ReLU(),
        "pool": lambda a: nn.MaxPool2d(3, 1, 1),
        "identity": lambda a: nn.Identity(),
        "drop": lambda a: nn.Dropout(a),
        "drop2d": lambda a: nn.Dropout2d(a),
    }
    body = nn.Sequential(*[make[kind](arg) for kind, arg in layers])
    if head == "gap":
        head_layers = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(C, 3))
    else:
        head_layers = nn.Sequential(nn.Flatten(), nn.Linear(C * SIZE * SIZE, 3))
    return nn.Sequential(OrderedDict(body=body, head=head_layers))


def oracle(layers, head) -> set[tuple[str, str]]:
    expected = set()
    for i, (kind, arg) in enumerate(layers):
        nxt = [(k, a) for k, a in layers[i + 1 :] if k != "identity"]
        if kind == "conv" and arg and nxt and (nxt[0][0] == "bn" or (nxt[0][0] == "gn" and nxt[0][1] == C)):
            expected.add(("NL002", f"body.{i}"))
        if kind in ("drop", "drop2d") and arg > 0:
            first_norm = next(((k, a) for k, a in layers[i + 1 :] if k in NORMS), None)
            if first_norm is not None and first_norm == ("bn", True):
                expected.add(("NL001", f"body.{i}"))
        if kind == "drop" and arg > 0:
            before = next((k for k, _ in reversed(layers[:i]) if k not in THROUGH), "input")
            after = next((k for k, _ in layers[i + 1 :] if k not in THROUGH), "head")
            if before == "conv" and after == "conv":
                expected.add(("NL003", f"body.{i}"))
    if head == "flatten" and layers:
        expected.add(("NL004", "head.1"))
    return expected


def found(model, **kw) -> set[tuple[str, str]]:
    report = netlint.check(model, torch.zeros(2, C, SIZE, SIZE), **kw)
    assert not report.errors, [e.text for e in report.errors]
    return {(f.code, f.module) for f in report.findings}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks)
# Every branch of the oracle, so that a broken rule cannot hide behind unlucky draws.
@example(([("conv", True), ("bn", True)], "gap"))
@example(([("conv", True), ("identity", None), ("gn", C)], "gap"))
@example(([("conv", True), ("gn", 2)], "gap"))
@example(([("conv", True), ("relu", None), ("bn", True)], "gap"))
@example(([("drop", 0.5), ("conv", False), ("bn", True)], "gap"))
@example(([("drop2d", 0.3), ("pool", None), ("bn", False), ("bn", True)], "gap"))
@example(([("drop", 0.2), ("ln", None), ("bn", True)], "gap"))
@example(([("conv", False), ("relu", None), ("drop", 0.2), ("pool", None), ("conv", True)], "gap"))
@example(([("drop", 0.2), ("conv", False)], "gap"))
@example(([("conv", False), ("drop", 0.5)], "flatten"))
@example(([], "flatten"))
def test_findings_match_the_oracle(stack):
    layers, head = stack
    assert found(build(layers, head)) == oracle(layers, head)


@settings(max_examples=25, deadline=None)
@given(stacks, st.lists(st.booleans(), min_size=12, max_size=12))
def test_check_never_changes_the_model(stack, flags):
    layers, head = stack
    model = build(layers, head)
    for module, flag in zip(model.modules(), flags):
        module.training = flag
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    rng = torch.get_rng_state()
    netlint.check(model, torch.zeros(2, C, SIZE, SIZE))
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert modes == [m.training for m in model.modules()]
    assert torch.equal(rng, torch.get_rng_state())

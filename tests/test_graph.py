"""The graph: shapes, op kinds, source locations, and the runtime-capture fallback."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

import netlint
from netlint.engine import Options, check_targets
from netlint.graph.build import build_graph
from netlint.graph.ir import Op
from netlint.inputs import InputSpec, TensorTemplate
from netlint.load import ModelSpec
from netlint.source import module_sites

from .conftest import FIXTURES


def graph_of(model: nn.Module, shape=(2, 3, 16, 16)):
    spec = ModelSpec("m", instance=model)
    meta = spec.meta()
    graph, _ = build_graph("m", meta, [InputSpec((TensorTemplate(shape),), "test")], module_sites(model, None))
    return graph


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8, track_running_stats=False)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = F.dropout(x, 0.1, training=self.training)
        return self.fc(self.drop(x.mean(dim=(2, 3))))


def test_nodes_carry_kinds_shapes_params_and_edges():
    g = graph_of(Small())
    by_module = {n.module: n for n in g.nodes if n.kind == "module"}
    conv, bn, drop, fc = by_module["conv"], by_module["bn"], by_module["drop"], by_module["fc"]
    assert (conv.op, conv.shape, conv.params["bias"], conv.params["out_channels"]) == (
        Op.CONV,
        (2, 8, 16, 16),
        False,
        8,
    )
    assert bn.op == Op.BATCHNORM and bn.params["track_running_stats"] is False
    assert drop.op == Op.DROPOUT and drop.params["p"] == 0.25
    assert fc.op == Op.LINEAR and fc.in_shape == (2, 8) and fc.shape == (2, 4)
    assert bn.inputs == [conv] and conv.users == [bn]
    functional = next(n for n in g.nodes if n.kind == "function" and n.op == Op.DROPOUT)
    assert functional.target == "torch.nn.functional.dropout"
    assert functional.params == {"p": 0.1, "training": True, "training_given": True, "training_source": "expression"}
    assert functional.module == ""  # called by the root's forward
    assert [p.engine for p in g.parts] == ["torch.fx"]


def test_source_lines_point_at_definitions_and_calls():
    g = graph_of(Small())
    lines = Small.__init__.__code__.co_firstlineno
    conv = next(n for n in g.nodes if n.module == "conv")
    assert conv.file == __file__ and conv.line == lines + 2  # ``self.conv = ...`` (found from the source)
    call = next(n for n in g.nodes if n.kind == "function" and n.op == Op.DROPOUT)
    assert call.line == Small.forward.__code__.co_firstlineno + 2


def test_library_layers_point_at_the_users_line():
    report = check_targets([str(FIXTURES / "library_layers.py")], Options(select=["NL002"]))
    [f] = report.findings
    source = (FIXTURES / "library_layers.py").read_text().splitlines()
    assert f.module == "stem.0" and "Conv2dNormActivation(3, 16, bias=True)" in source[f.line - 1]
    assert f.origin and "torchvision" in f.origin


def test_data_dependent_forward_is_recorded_on_the_cpu():
    report = check_targets([str(FIXTURES / "data_dependent.py")])
    assert not report.errors
    [model] = report.models
    assert [(p.module, p.engine) for p in model.parts] == [("", "capture (cpu)")]
    assert "control flow" in model.parts[0].reason and "data_dependent.py" in model.parts[0].reason
    codes = sorted((f.code, f.module) for f in model.findings)
    # conv1's bias before bn1 is seen; the F.dropout ran (the mean after a ReLU is positive) and feeds bn2.
    assert codes == [("NL001", ""), ("NL002", "conv1"), ("NL003", "")]


def test_blocks_with_extra_argument_are_captured_inside_an_fx_graph():
    report = check_targets([str(FIXTURES / "active_blocks.py")])
    assert not report.errors
    [model] = report.models
    # ``not active`` needs the flag's value, which meta tensors lack: the forward is re-run on the CPU.
    assert [(p.module, p.engine) for p in model.parts] == [
        ("", "torch.fx (cpu)"),
        ("blocks.0", "capture (cpu)"),
        ("blocks.1", "capture (cpu)"),
    ]
    assert "control flow" in model.parts[1].reason
    found = sorted((f.code, f.module) for f in model.findings)
    assert ("NL002", "blocks.0.conv") in found and ("NL002", "blocks.1.conv") in found
    # The dropout of block 0 reaches block 1's BatchNorm through the residual sum and block 1's conv.
    assert ("NL001", "blocks.0.drop") in found


def test_untraceable_torch_composite_is_captured_on_meta():
    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(16, 32)
            self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(32, 4, 64, batch_first=True), 2,
                                                 enable_nested_tensor=False)  # fmt: skip

        def forward(self, x):
            return self.encoder(self.embed(x))

    g = graph_of(Encoder(), shape=(2, 5, 16))
    assert any(p.module == "encoder" and p.engine == "capture (meta)" for p in g.parts)
    modules = {n.module for n in g.nodes if n.kind == "module"}
    assert {"encoder.layers.0.linear1", "encoder.layers.1.dropout2", "encoder.layers.1.norm2"} <= modules
    assert not g.unused


def test_layers_never_called_are_reported_unused():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(4, 4)
            self.spare = nn.Linear(4, 4)

        def forward(self, x):
            return self.used(x)

    report = netlint.check(Unused(), torch.randn(2, 4))
    assert report.models[0].unused == ("spare",)


def test_fx_and_capture_agree_on_every_rule_example():
    """The two engines must build graphs on which the rules give identical findings."""
    from netlint.engine import selected_rules
    from netlint.findings import run_rules
    from netlint.graph import fx_engine
    from netlint.load import resolve

    from .conftest import RULE_EXAMPLES

    for path in sorted(RULE_EXAMPLES.glob("*.py")):
        for spec in resolve(str(path)).models:
            meta = spec.meta()
            sites = module_sites(meta, spec.sites)
            from netlint.inputs import example_inputs_from, inferred

            candidates = [c for c in [example_inputs_from(meta, spec.module, spec.name)] if c] or inferred(meta)
            real = lambda spec=spec: spec.real("cpu")  # noqa: E731  (examples whose forward reads values)
            fx_graph, used = build_graph(spec.name, meta, candidates, sites, materialize=real)
            original = fx_engine.trace
            fx_engine.trace = lambda root, inputs: fx_engine.Trace(None, root_reason="forced")
            try:
                cap_graph, _ = build_graph(spec.name, meta, [used], sites, materialize=real)
            finally:
                fx_engine.trace = original
            assert cap_graph.parts[0].engine.startswith("capture")
            key = lambda f: (f.code, f.module, f.line, f.related)  # noqa: E731
            rules = selected_rules()
            assert sorted(map(key, run_rules(fx_graph, rules))) == sorted(map(key, run_rules(cap_graph, rules))), (
                spec.name
            )


def test_keyword_defaults_are_traced_as_constants():
    class Keywords(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.bn = nn.BatchNorm1d(3)

        def forward(self, x, scale: float = 2.0, *, normalise: bool = True):
            y = self.fc(x)
            return (self.bn(y) if normalise else y) * scale

    report = netlint.check(Keywords(), torch.randn(2, 3))
    assert [p.engine for p in report.models[0].parts] == ["torch.fx"]
    assert [f.module for f in report.findings] == ["fc"]  # normalise=True was followed: fc -> bn


def test_a_random_branch_is_recorded_not_frozen_by_fx():
    """fx would run ``torch.rand(())`` once and bake one outcome in; such a block is captured instead,
    and re-recorded with other seeds until no layer is left unrun."""

    class Skippable(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            if self.training and torch.rand(()) < 0.5:
                return x
            return x + self.bn(self.conv(x))

    model = nn.Sequential(Skippable(), Skippable(), Skippable())
    report = netlint.check(model, torch.randn(2, 4, 8, 8), select=["NL005"])
    [m] = report.models
    assert {p.module for p in m.parts if p.engine.startswith("capture")} == {"0", "1", "2"}
    assert all("RandomBranch" in p.reason for p in m.parts if p.module)
    assert m.unused == ()
    assert sorted(f.module for f in m.findings) == ["0", "1"]

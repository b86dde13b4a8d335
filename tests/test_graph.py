"""The graph: shapes, op kinds, source locations, and the runtime-capture fallback."""

from __future__ import annotations

import inspect

import torch
import torch.nn as nn
import torch.nn.functional as F

import netlint
from netlint.graph.build import build_graph
from netlint.graph.inputs import InputSpec, TensorTemplate
from netlint.graph.ir import Op
from netlint.load.models import ModelSpec
from netlint.options import Options
from netlint.run.targets import check_targets
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
    from netlint.config.policy import selected_rules
    from netlint.findings import run_rules
    from netlint.graph import fx_engine
    from netlint.load.models import resolve

    from .conftest import RULE_EXAMPLES

    for path in sorted(RULE_EXAMPLES.glob("*.py")):
        for spec in resolve(str(path)).models:
            meta = spec.meta()
            sites = module_sites(meta, spec.sites)
            from netlint.graph.inputs import example_inputs_from, inferred

            candidates = [c for c in [example_inputs_from(meta, spec.module, spec.name)] if c] or inferred(meta)
            real = lambda spec=spec: spec.real("cpu")  # noqa: E731  (data-dependent forwards run on the CPU)
            fx_graph, used = build_graph(spec.name, meta, candidates, sites, materialize=real)
            original = fx_engine.trace
            fx_engine.trace = lambda root, inputs: fx_engine.Trace(None, root_reason="forced")
            try:
                cap_graph, _ = build_graph(spec.name, meta, [used], sites, materialize=real)
            finally:
                fx_engine.trace = original
            assert cap_graph.parts[0].engine.startswith("capture")
            key = lambda f: (f.code, f.module, f.line, f.related)  # noqa: E731
            rules = selected_rules(extend_select=["NL"])  # the opt-in rules too
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


# --- scripted and compiled submodules ------------------------------------------------------


class ScriptedBlock(torch.jit.ScriptModule):
    """A block written as a ScriptModule subclass: its Python class and methods survive scripting."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.drop = nn.Dropout(0.3)
        self.bn = nn.BatchNorm2d(8)

    @torch.jit.script_method
    def forward(self, x):
        return self.bn(self.conv(self.drop(x)))


class PlainBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.drop = nn.Dropout(0.3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(self.drop(x)))


class WithBlock(nn.Module):
    def __init__(self, block: nn.Module):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = block
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.block(self.stem(x)).mean((2, 3)))


def _block_findings(block: nn.Module):
    report = netlint.check(WithBlock(block), torch.randn(2, 3, 16, 16), select=["NL001", "NL002"])
    assert not report.errors, [e.text for e in report.errors]
    [model] = report.models
    return model, sorted((f.code, f.module, f.line) for f in model.findings)


def test_scripted_blocks_are_analysed_from_their_python_source():
    from netlint.graph.scripted import FROM_SOURCE

    for block, cls in ((ScriptedBlock(), ScriptedBlock), (torch.jit.script(PlainBlock()), PlainBlock)):
        model, found = _block_findings(block)
        source, first = inspect.getsourcelines(cls)
        drop, conv = (
            first + next(i for i, text in enumerate(source) if f"self.{name} =" in text) for name in ("drop", "conv")
        )
        assert found == [("NL001", "block.drop", drop), ("NL002", "block.conv", conv)]
        assert [(p.module, p.engine) for p in model.parts if p.module] == [("block", FROM_SOURCE)]


def test_traced_blocks_are_named_as_not_analysed():
    from netlint.graph.scripted import NOT_ANALYSED

    traced = torch.jit.trace(PlainBlock().eval(), torch.randn(1, 8, 4, 4))
    model, found = _block_findings(traced)
    assert found == []
    assert [(p.module, p.engine) for p in model.parts if p.module] == [("block", NOT_ANALYSED)]
    assert [n.module for n in model.graph.nodes if n.op == Op.OPAQUE] == ["block"]


def test_python_equivalent_leaves_the_users_model_unchanged():
    from netlint.graph.scripted import python_equivalent

    model = WithBlock(torch.jit.script(PlainBlock())).eval()
    x = torch.randn(2, 3, 16, 16)
    copy, _ = python_equivalent(model)
    assert isinstance(model.block, torch.jit.ScriptModule) and type(copy.block) is PlainBlock
    assert copy.block.conv.weight is model.block.conv.weight
    assert torch.equal(copy.eval()(x), model(x))


# --- random decisions, training guards ---------------------------------------------------


def test_a_random_draw_compared_by_a_function_is_a_random_decision():
    """``torch.equal`` and ``x.allclose`` hand Python a bool, as ``bool(x)`` does."""

    class Gated(nn.Module):
        def __init__(self, use_method: bool):
            super().__init__()
            self.use_method = use_method
            self.conv = nn.Conv2d(4, 4, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            draw = torch.bernoulli(torch.full((1,), 0.5))
            skip = draw.allclose(torch.zeros(1)) if self.use_method else torch.equal(draw, torch.zeros(1))
            return x if skip else x + self.bn(self.conv(x))

    report = netlint.check(nn.Sequential(Gated(False), Gated(True), Gated(False)), torch.randn(2, 4, 8, 8))
    [m] = report.models
    assert {p.module for p in m.parts if p.engine.startswith("capture")} == {"0", "1", "2"}
    assert m.unused == ()  # recorded with seeds until every block ran
    assert sorted(f.module for f in m.findings if f.code == "NL005") == ["0", "1"]


def test_training_guards_read_from_source(tmp_path):
    from netlint.graph.guards import only_in_training

    source = tmp_path / "guards.py"
    source.write_text(
        "def forward(self, x):\n"
        "    if self.training and self.p:\n"
        "        x = drop(x)\n"  # 3: guarded
        "    x = drop(x)\n"  # 4: not guarded
        "    y = drop(x) if self.training else x\n"  # 5: guarded (the call is in the true branch)
        "    y = x if self.training else drop(x)\n"  # 6: runs in eval only
        "    if not self.training or x is None:\n"
        "        return y\n"
        "    return drop(y)\n"  # 9: guarded by the early return
    )
    guarded = {line for line in range(1, 10) if only_in_training(str(source), line, "drop")}
    assert guarded == {3, 5, 9}


def test_nl001_says_when_the_dropout_also_drops_at_inference():
    from .conftest import RULE_EXAMPLES

    report = check_targets([f"{RULE_EXAMPLES / 'nl001_bad.py'}:ActiveAtInference"], Options(probe=False))
    [nl001] = [f for f in report.findings if f.code == "NL001"]
    assert "stays active at inference (NL006)" in nl001.message and nl001.data["active_at_inference"]
    assert {f.code for f in report.findings} >= {"NL001", "NL006"}


# --- layout ops and broadcast operands ---------------------------------------------------


def test_layout_ops_that_keep_the_channel_axis():
    from netlint.graph.queries import has_spatial_extent, keeps_channel_axis

    class Layouts(nn.Module):
        def forward(self, x):
            a = F.pad(x, (1, 1, 1, 1))
            b = x.permute(0, 1, 3, 2)  # channel axis kept
            c = x.permute(0, 2, 3, 1)  # channels last
            d = x[:, :2, 1:-1]  # a crop and a slice of channels
            e = x.mean((2, 3), keepdim=True).expand_as(x)
            return a, b, c, d, e

    g = graph_of(Layouts(), shape=(2, 4, 8, 6))
    by_target = {n.target: n for n in g.nodes if n.kind in ("function", "method")}
    perms = [n for n in g.nodes if n.target == "permute"]
    assert (
        keeps_channel_axis(by_target["torch.nn.functional.pad"]) and by_target["torch.nn.functional.pad"].op == Op.PAD
    )
    assert [keeps_channel_axis(n) for n in perms] == [True, False]
    assert keeps_channel_axis(by_target["operator.getitem"])
    assert keeps_channel_axis(by_target["expand_as"])
    assert not has_spatial_extent(by_target["mean"]) and by_target["mean"].op == Op.REDUCE


class ScaledBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = 0.5
        self.inner = PlainBlock()

    def forward(self, x):
        return self.inner(x) * self.scale


def test_traced_copies_are_not_rebuilt_without_their_attributes():
    """A copy of a traced module looks scripted but kept only tensors: rebuilding it in Python would
    read attributes it no longer has (``self.scale``), so it is named as not analysed instead."""
    import copy

    from netlint.graph.scripted import NOT_ANALYSED, python_equivalent

    traced = torch.jit.trace(ScaledBlock().eval(), torch.randn(1, 8, 4, 4))
    _, parts = python_equivalent(WithBlock(copy.deepcopy(traced)))
    assert [(p.module, p.engine) for p in parts] == [("block", NOT_ANALYSED)]
    _, parts = python_equivalent(WithBlock(copy.deepcopy(torch.jit.script(ScaledBlock()))))
    assert [(p.module, p.engine) for p in parts] == [("block", "TorchScript read from its Python source")]


def test_an_nl006_the_probe_does_not_confirm_is_not_an_error():
    """A dropout left active at inference whose output never reaches the model's output: the probe's
    two eval forwards agree, so the static error is kept only as information."""
    from netlint.findings import Severity

    class DeadDropout(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)
            self.noisy = None

        def forward(self, x):
            self.noisy = F.dropout(x, 0.5)  # kept for debugging, never used
            return self.fc(x)

    class LiveDropout(DeadDropout):
        def forward(self, x):
            return self.fc(F.dropout(x, 0.5))

    dead = netlint.check(DeadDropout(), torch.randn(4, 8), select=["NL006"], probe=True)
    live = netlint.check(LiveDropout(), torch.randn(4, 8), select=["NL006"], probe=True)
    [d], [li] = dead.findings, live.findings
    assert d.severity == Severity.INFO and "Not confirmed" in d.message and d.data["eval_difference"] == 0
    assert li.severity == Severity.ERROR and "Confirmed by the probe" in li.message


@torch.jit.script
def _scripted_gelu_tanh(x):
    return torch.tanh(x) * x


def test_script_functions_are_traced_through_their_python_source():
    """fx cannot pass a Proxy to a ScriptFunction: its Python original runs while tracing and
    recording, and the module's global is the ScriptFunction again afterwards."""

    class UsesScriptFunction(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x):
            return _scripted_gelu_tanh(self.conv(x))

    g = graph_of(UsesScriptFunction())
    assert [p.engine for p in g.parts] == ["torch.fx"]
    assert [n.target for n in g.nodes if n.kind == "function"] == ["torch.tanh", "operator.mul"]
    assert isinstance(globals()["_scripted_gelu_tanh"], torch.jit.ScriptFunction)


def test_a_training_guard_around_the_call_to_netlint_is_not_the_models():
    """Only the model's own frames count: ``if model.training: netlint.check(model)`` in the caller
    does not make the model's dropout training-only, with either engine."""

    class Omitted(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(F.dropout(x, 0.5))

    class OmittedDataDependent(Omitted):
        def forward(self, x):
            if x.sum() > -1e9:  # fx cannot trace this: recorded by the capture engine
                x = F.dropout(x, 0.5)
            return self.fc(x)

    for model, engine in ((Omitted(), "torch.fx"), (OmittedDataDependent(), "capture (cpu)")):
        if model.training:
            report = netlint.check(model, torch.randn(2, 8), select=["NL006"])
        assert report.models[0].parts[0].engine == engine
        assert [f.code for f in report.findings] == ["NL006"]

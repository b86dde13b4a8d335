"""The graph is the model: TorchScript blocks seen inside, a trace checked against the model run
eagerly, and a forward that only real devices can run recorded on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import netlint
from netlint.errors import NetlintError
from netlint.graph.eager import run_eager
from netlint.graph.ir import Op
from netlint.graph.scripted import FROM_SOURCE
from netlint.graph.static import static_graph


def only_model(report):
    assert not report.errors, [e.text for e in report.errors]
    [model] = report.models
    return model


def sites(model) -> list[tuple[str, str]]:
    return sorted((f.code, f.module) for f in model.findings)


# -- TorchScript --------------------------------------------------------------------------------
class ScriptBlock(torch.jit.ScriptModule):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    @torch.jit.script_method
    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class ThreeScriptBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([ScriptBlock() for _ in range(3)])

    def forward(self, x):
        return torch.cat([block(x) for block in self.blocks], 1)


def test_a_script_method_forward_takes_one_input_not_self():
    from netlint.graph.inputs import forward_arity

    assert forward_arity(ScriptBlock()) == (["x"], 1, 1)
    model = only_model(netlint.check(ScriptBlock(), select=["NL002"]))
    assert model.inputs == "2x3x224x224 float32"
    assert sites(model) == [("NL002", "conv")]
    assert [p.engine for p in model.parts] == ["torch.fx", FROM_SOURCE]


def test_the_layers_of_script_blocks_inside_a_model_are_checked():
    """Inside a ScriptModule the children are compiled ``RecursiveScriptModule``s; in netlint's copy
    they are the Python layers again, for the input guess and for the rules."""
    model = only_model(netlint.check(ThreeScriptBlocks(), select=["NL002"]))
    assert model.input_source == "inferred from blocks.0.conv (Conv2d, in_channels=3)"
    assert sites(model) == [("NL002", f"blocks.{i}.conv") for i in range(3)]
    assert [(p.module, p.engine) for p in model.parts if p.module] == [(f"blocks.{i}", FROM_SOURCE) for i in range(3)]


# -- a trace against the model ------------------------------------------------------------------
class JitSkip(nn.Module):
    """MONAI's BasicUNet idiom: the skip is concatenated only when it is a tensor."""

    def __init__(self, channels=16):
        super().__init__()
        self.conv = nn.Conv2d(channels, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x, skip):
        if torch.jit.isinstance(skip, torch.Tensor):
            x = torch.cat([x, skip], dim=1)
        return self.bn(self.conv(x))


class PythonSkip(JitSkip):
    def forward(self, x, skip):
        if isinstance(skip, torch.Tensor):  # False for an fx proxy: the trace drops the concatenation
            x = torch.cat([x, skip], dim=1)
        return self.bn(self.conv(x))


class PythonProjection(nn.Module):
    """Channels match either way: the trace would silently lose the projection of the skip."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(8, 8, 1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x, skip):
        if isinstance(skip, torch.Tensor):
            x = x + self.proj(skip)
        return self.bn(x)


class UNet(nn.Module):
    def __init__(self, up: nn.Module):
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, padding=1)
        self.mid = nn.Conv2d(8, 8, 3, padding=1)
        self.up = up

    def forward(self, x):
        d = self.down(x)
        return self.up(self.mid(d), d)


class RootBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.extra = nn.Conv2d(8, 8, 1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.conv(x)
        if isinstance(y, torch.Tensor):
            y = self.extra(y)
        return self.bn(y)


def test_jit_isinstance_of_a_traced_tensor_keeps_its_branch():
    model = only_model(netlint.check(UNet(JitSkip()), torch.randn(2, 3, 8, 8), select=["NL002"]))
    assert [p.engine for p in model.parts] == ["torch.fx"]
    [cat] = [n for n in model.graph.nodes if n.target == "torch.cat"]
    assert sorted(n.module for n in cat.inputs) == ["down", "mid"]
    assert sites(model) == [("NL002", "up.conv")]


def test_a_trace_that_is_not_the_model_is_recorded_instead():
    """Where fx's graph calls other layers than the model, or fails where the model runs, the module whose
    forward differs is recorded while it runs, and the analysis line says why."""
    why = "the trace differs from the model run eagerly: "
    report = netlint.check(UNet(PythonProjection()), torch.randn(2, 3, 8, 8), select=["NL002"])
    model = only_model(report)
    assert [(p.module, p.engine, p.reason) for p in model.parts] == [
        ("", "torch.fx", ""),
        ("up", "capture (meta)", why + "the model calls up.proj once, the trace never"),
    ]
    assert model.unused == () and [n.module for n in model.graph.nodes if n.op == Op.CONV] == ["down", "mid", "up.proj"]

    model = only_model(netlint.check(UNet(PythonSkip()), torch.randn(2, 3, 8, 8), select=["NL002"]))
    [(module, engine, reason)] = [(p.module, p.engine, p.reason) for p in model.parts if p.module]
    assert (module, engine) == ("up", "capture (meta)")
    assert reason.startswith(why + "it fails (ShapeMismatch: Conv2d(16, 8) expects 16 input channels")
    assert sites(model) == [("NL002", "up.conv")]


def test_a_root_forward_that_differs_is_recorded_whole():
    model = only_model(netlint.check(RootBranch(), torch.randn(2, 3, 8, 8), select=["NL002"]))
    assert [(p.module, p.engine) for p in model.parts] == [("", "capture (meta)")]
    assert "the model calls extra once, the trace never" in model.parts[0].reason
    assert sites(model) == [("NL002", "extra")]


def test_the_eager_run_leaves_the_model_as_it_was():
    with torch.device("meta"):
        model = UNet(PythonProjection()).eval()
    run = run_eager(model, [torch.empty(2, 3, 8, 8, device="meta")])
    assert run.error is None and run.outputs == ((2, 8, 8, 8),)
    assert [c.path for c in run.calls] == ["down", "mid", "up.proj", "up.bn"]
    assert not any(m.training for m in model.modules())
    assert not any("forward" in vars(m) for m in model.modules())


# -- kernels that exist only on real devices ------------------------------------------------------
class MetaLess(nn.Module):
    """A forward whose op's meta kernel rejects float32 (as the grouped matmul of transformers' MoE layers)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        if x.is_meta:
            raise RuntimeError("Expected mat_a to be BFloat16 or Float16, got torch.float32")
        return self.bn(self.fc(x))


class GroupedExperts(nn.Module):
    """Mixture-of-experts through a grouped matmul, whose meta kernel rejects float32 (the CPU's does not)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.experts = nn.Parameter(torch.randn(2, 8, 8) / 8)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        half = torch.tensor([x.shape[0] // 2, x.shape[0]], dtype=torch.int32, device=x.device)
        return self.bn(self.fc(torch._grouped_mm(x, self.experts, offs=half)))


@pytest.mark.parametrize("cls", [MetaLess, GroupedExperts])
def test_a_forward_only_real_devices_can_run_is_recorded_on_the_cpu(cls):
    model = only_model(netlint.check(cls(), select=["NL002"]))
    assert model.inputs == "2x8 float32"
    [part] = model.parts  # fx, or capture where fx cannot trace ``if x.is_meta``: on the CPU either way
    assert part.engine.endswith("(cpu)")
    assert sites(model) == [("NL002", "fc")]


class AlwaysFails(nn.Module):
    cpu_calls = 0

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        if not x.is_meta:
            type(self).cpu_calls += 1
        raise RuntimeError(f"this model refuses width {x.shape[-1]}")


def test_an_error_the_cpu_raises_too_is_tried_there_once():
    with pytest.raises(NetlintError, match="refuses width 224"):
        static_graph(AlwaysFails())
    assert AlwaysFails.cpu_calls == 1  # not once per candidate size


class HeavyMetaLess(MetaLess):
    def __init__(self):
        super().__init__()
        self.register_buffer("table", torch.zeros(1000, 1000))  # 4 MB


def test_the_cpu_fallback_respects_the_memory_guard(monkeypatch):
    import netlint.memory

    monkeypatch.setattr(netlint.memory, "available_memory", lambda device: (1_000_000, "available RAM"))
    with pytest.raises(NetlintError) as caught:
        static_graph(HeavyMetaLess())
    text = str(caught.value)
    assert "cannot run on the meta device (RuntimeError: Expected mat_a to be BFloat16 or Float16" in text
    assert "needs about 4 MB of weights, more than half of the 1 MB that available RAM leaves" in text


# -- a forward that re-binds its attributes -----------------------------------------------------
class Rebinds(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.grid = torch.zeros(8)  # a plain tensor attribute, moved to the input's device in forward
        self.calls = 0

    def forward(self, x):
        self.grid = self.grid.to(x.device)
        self.calls += 1
        self.cache = self.fc(x)
        return self.cache - self.grid


def test_tracing_a_forward_that_rebinds_attributes_leaves_no_proxy_behind():
    """fx stores a proxy where forward assigns an attribute: left on the module, every later run computed
    with a proxy of a finished trace and never ended (a hang until --timeout)."""
    import signal

    def too_slow(*_):
        raise TimeoutError("the check did not end: a proxy left on the module?")

    before = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(60)
    try:
        model = only_model(netlint.check(Rebinds(), select=["NL002"]))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    assert [p.engine for p in model.parts] == ["torch.fx"]
    assert [n.module for n in model.graph.nodes if n.op == Op.LINEAR] == ["fc"]

    from netlint.graph import fx_engine

    with torch.device("meta"):
        meta = Rebinds()
    fx_engine.trace(meta, [torch.empty(2, 8, device="meta")])
    assert type(meta.grid) is torch.Tensor and meta.calls == 0 and "cache" not in vars(meta)

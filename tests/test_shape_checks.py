"""netlint's own shape functions: the same shapes and the same refusals as PyTorch's kernels."""

from __future__ import annotations

import functools
import operator

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import netlint
from netlint.graph import shapes
from netlint.run.targets import check_targets

from .conftest import write

# (layer, input shape): PyTorch on real CPU tensors is the reference for every case.
LAYERS = [
    (nn.Conv2d(3, 8, 3), (2, 3, 9, 9)),
    (nn.Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 9, 10)),
    (nn.Conv2d(4, 8, (3, 5), stride=(2, 1), padding=(0, 2), dilation=(2, 1), groups=2), (2, 4, 11, 7)),
    (nn.Conv2d(3, 8, 3, padding="same", padding_mode="reflect"), (2, 3, 7, 7)),
    (nn.Conv2d(3, 8, 3, padding="valid"), (3, 7, 7)),
    (nn.Conv1d(12, 4, 7, stride=3), (2, 12, 50)),
    (nn.Conv3d(2, 4, 3, padding=1, stride=2), (1, 2, 5, 6, 7)),
    (nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), (2, 8, 5, 5)),
    (nn.ConvTranspose1d(8, 4, 3, stride=2, output_padding=1), (2, 8, 5)),
    (nn.Conv2d(3, 8, 5), (2, 3, 4, 4)),  # the kernel does not fit
    (nn.Conv2d(3, 8, 3), (2, 8, 9, 9)),  # wrong channels
    (nn.Conv2d(3, 8, 3), (2, 3)),  # wrong rank
    (nn.Linear(16, 4), (2, 5, 16)),
    (nn.Linear(16, 4), (2, 15)),
    (nn.BatchNorm2d(8), (2, 8, 4, 4)),
    (nn.BatchNorm2d(16), (2, 8, 4, 4)),
    (nn.BatchNorm2d(8, affine=False, track_running_stats=False), (2, 5, 4, 4)),  # nothing to mismatch
    (nn.BatchNorm1d(8), (2, 8)),
    (nn.BatchNorm1d(8), (2, 8, 4, 4)),
    (nn.BatchNorm1d(8), (1, 8)),  # one value per channel in training
    (nn.InstanceNorm2d(8, affine=True), (2, 6, 4, 4)),
    (nn.InstanceNorm2d(8, affine=True), (8, 4, 4)),
    (nn.InstanceNorm1d(8), (2, 8, 1)),
    (nn.InstanceNorm2d(16, track_running_stats=True), (2, 8, 4, 4)),
    (nn.GroupNorm(4, 16), (2, 16, 3, 3)),
    (nn.GroupNorm(4, 16), (2, 8, 3, 3)),
    (nn.GroupNorm(3, 9, affine=False), (2, 8, 3, 3)),
    (nn.LayerNorm(16), (2, 5, 16)),
    (nn.LayerNorm((5, 16)), (2, 5, 16)),
    (nn.LayerNorm(16), (2, 16, 5)),
    (nn.RMSNorm(16), (2, 5, 8)),
    (nn.ReLU(), (2, 3, 4)),
    (nn.Dropout2d(0.1), (2, 3, 4, 4)),
    (nn.MaxPool2d(3, 2, 1), (2, 3, 9, 9)),
    (nn.MaxPool2d(3, 2, ceil_mode=True), (2, 3, 8, 8)),
    (nn.MaxPool2d(2, ceil_mode=True, padding=1), (2, 3, 5, 5)),
    (nn.MaxPool1d(2, dilation=2), (2, 3, 9)),
    (nn.AvgPool2d((2, 3), stride=(1, 2), padding=1), (2, 3, 7, 9)),
    (nn.AvgPool3d(2), (2, 3, 4, 4, 5)),
    (nn.AdaptiveAvgPool2d((1, None)), (2, 3, 7, 5)),
    (nn.AdaptiveMaxPool1d(4), (2, 3, 9)),
    (nn.Flatten(), (2, 3, 4, 5)),
    (nn.Flatten(2, 3), (2, 3, 4, 5)),
    (nn.Conv2d(3, 4, 3, padding=2, padding_mode="circular"), (2, 3, 5, 5)),
    (nn.Conv2d(3, 4, 3, padding=3, padding_mode="reflect"), (2, 3, 2, 2)),
]


def test_embedding_outputs_the_weights_dtype():
    layer = nn.Embedding(10, 4).to("meta")
    out = shapes.module_output(layer, (torch.empty(2, 7, dtype=torch.long, device="meta"),), {})
    assert (tuple(out.shape), out.dtype) == ((2, 7, 4), torch.float32)
    assert (
        shapes.module_output(layer, (torch.empty(2, 7, device="meta"),), {}) is None
    )  # float indices: PyTorch's error


def outcome(fn):
    try:
        out = fn()
    except (RuntimeError, ValueError):
        return "error"
    return tuple(out.shape), out.dtype


def on_meta(layer, x):
    """What the fx engine does: netlint's shape function, else its check and the meta kernel."""
    out = shapes.module_output(layer, (x,), {})
    if out is None:
        shapes.check_module(layer, (x,))
        out = layer(x)
    return out


@pytest.mark.parametrize(("layer", "shape"), LAYERS, ids=lambda v: repr(v)[:40])
def test_layer_shapes_and_refusals_match_pytorch(layer, shape):
    layer.train()
    expected = outcome(lambda: layer(torch.randn(shape)))
    got = outcome(lambda: on_meta(layer.to("meta"), torch.empty(shape, device="meta")))
    assert got == expected


def test_layers_are_handled_without_a_kernel():
    """The common layers never fall back to the meta kernel (that is what keeps the check fast)."""
    common = [
        (nn.Conv2d(3, 8, 3), (2, 3, 9, 9)),
        (nn.Linear(16, 4), (2, 16)),
        (nn.BatchNorm2d(8), (2, 8, 4, 4)),
        (nn.LayerNorm(16), (2, 5, 16)),
        (nn.ReLU(inplace=True), (2, 3, 4)),
        (nn.MaxPool2d(3, 2, 1), (2, 3, 9, 9)),
        (nn.AdaptiveAvgPool2d(1), (2, 3, 7, 5)),
    ]
    for layer, shape in common:
        assert shapes.module_output(layer.to("meta"), (torch.empty(shape, device="meta"),), {}) is not None


FUNCTIONS = [
    (operator.add, ((2, 3, 4, 4), (3, 1, 1)), {}),
    (operator.mul, ((2, 3, 4, 4), (2, 3, 1, 4)), {}),
    (operator.sub, ((2, 3), (4,)), {}),  # does not broadcast
    (torch.mean, ((2, 3, 4, 4),), {"dim": (2, 3)}),
    (torch.mean, ((2, 3, 4, 4),), {"dim": -1, "keepdim": True}),
    (torch.sum, ((2, 3, 4),), {}),
    (torch.cat, None, {}),
    (F.relu, ((2, 3),), {}),
    (F.dropout, ((2, 3),), {"p": 0.2}),
    (F.linear, ((2, 5, 8), (4, 8), (4,)), {}),
    (F.adaptive_avg_pool2d, ((2, 3, 5, 7),), {"output_size": (1, None)}),
    (F.adaptive_avg_pool2d, ((3, 5, 7),), {"output_size": 2}),
]


@pytest.mark.parametrize(("fn", "arg_shapes", "kwargs"), FUNCTIONS, ids=lambda v: getattr(v, "__name__", "_"))
def test_function_shapes_match_pytorch(fn, arg_shapes, kwargs):
    if fn is torch.cat:
        real_args = ([torch.randn(2, 3, 4), torch.randn(2, 5, 4)], 1)
        meta_args = ([torch.empty(2, 3, 4, device="meta"), torch.empty(2, 5, 4, device="meta")], 1)
    else:
        real_args = tuple(torch.randn(s) for s in arg_shapes)
        meta_args = tuple(torch.empty(s, device="meta") for s in arg_shapes)
    expected = outcome(lambda: fn(*real_args, **kwargs))
    got = outcome(lambda: shapes.function_output(fn, meta_args, kwargs))
    assert got == expected


def test_methods_match_pytorch():
    x = torch.empty(2, 3, 4, 4, device="meta")
    assert tuple(shapes.method_output("mean", (x, (2, 3)), {}).shape) == (2, 3)
    assert tuple(shapes.method_output("add", (x, torch.empty(4, device="meta")), {}).shape) == (2, 3, 4, 4)
    assert shapes.method_output("add", (x, torch.empty(4)), {}) is None  # a real tensor: not handled
    assert shapes.method_output("mean", (x,), {"dtype": torch.float64}) is None


BROKEN = {
    "batchnorm": ("nn.Conv2d(3, 8, 3, padding=1)", "nn.BatchNorm2d(16)", ["bn", "BatchNorm2d", "16", "8"]),
    "layernorm": ("nn.Linear(3, 8)", "nn.LayerNorm(16)", ["bn", "LayerNorm", "16", "2x8"]),
    "groupnorm": ("nn.Conv2d(3, 10, 3, padding=1)", "nn.GroupNorm(4, 16)", ["bn", "GroupNorm", "4 groups", "10"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_norm_layer_that_does_not_fit_fails_like_pytorch(tmp_path, case):
    first, norm, words = BROKEN[case]
    path = write(
        tmp_path / "net.py",
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.first = {first}\n"
        f"        self.bn = {norm}\n\n"
        "    def forward(self, x):\n"
        "        x = self.first(x)\n"
        "        return self.bn(x)\n",
    )
    report = check_targets([str(path)])
    assert report.exit_code() == 2 and not report.models
    [error] = report.errors
    for word in [*words, "net.py:12"]:
        assert word in error.text, error.text
    with pytest.raises((RuntimeError, ValueError)):  # PyTorch agrees that it cannot run
        shape = (2, 3, 8, 8) if "Conv" in first else (2, 3)
        eval(f"nn.Sequential({first}, {norm})", {"nn": nn})(torch.randn(shape))


def test_a_norm_that_fits_still_passes():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.GroupNorm(4, 8), nn.Flatten(), nn.LayerNorm(8 * 30 * 30))
    report = netlint.check(model, torch.randn(2, 3, 32, 32))
    assert not report.errors


def test_the_capture_engine_reports_the_same_mismatch(tmp_path):
    """A forward fx cannot trace (``*args``) is recorded; the check and its message are the same."""
    path = write(
        tmp_path / "net.py",
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.first = nn.Conv2d(3, 8, 3)\n"
        "        self.bn = nn.BatchNorm2d(16)\n\n"
        "    def forward(self, *xs):\n"
        "        x = self.first(xs[0])\n"
        "        return self.bn(x)\n",
    )
    [error] = check_targets([str(path)]).errors
    for word in ["the model cannot run", "BatchNorm2d(16) expects 16 channels", "has 8", "layer bn", "net.py:12"]:
        assert word in error.text, error.text


def _random_layers(n: int):
    """Convolutions and pools with random hyper-parameters and input sizes (fixed seed)."""
    import random

    rng = random.Random(0)
    for _ in range(n):
        k, s, d, p = rng.randint(1, 5), rng.randint(1, 3), rng.randint(1, 2), rng.randint(0, 3)
        size = (rng.randint(1, 12), rng.randint(1, 12))
        kind = rng.choice(["conv", "convT", "max", "avg"])
        if kind == "conv":
            yield nn.Conv2d(2, 4, k, stride=s, padding=p, dilation=d), (2, 2, *size)
        elif kind == "convT":
            yield nn.ConvTranspose2d(2, 4, k, stride=s, padding=min(p, k - 1), dilation=d), (2, 2, *size)
        elif kind == "max":
            yield nn.MaxPool2d(k, s, min(p, k // 2), dilation=d, ceil_mode=rng.random() < 0.5), (2, 2, *size)
        else:
            yield nn.AvgPool2d(k, s, min(p, k // 2), ceil_mode=rng.random() < 0.5), (2, 2, *size)


@pytest.mark.parametrize("seed_block", range(4))
def test_random_convolutions_and_pools_match_pytorch(seed_block):
    for i, (layer, shape) in enumerate(_random_layers(200)):
        if i % 4 != seed_block:
            continue
        expected = outcome(functools.partial(layer, torch.randn(shape)))
        got = outcome(functools.partial(on_meta, layer.to("meta"), torch.empty(shape, device="meta")))
        assert got == expected, (layer, shape)


def test_one_per_dimension_normaliser_for_ops_shapes_and_rules():
    from netlint.graph.ir import per_dim

    assert per_dim(3, 2) == (3, 3) and per_dim((3,), 2) == (3, 3) and per_dim([1, 2], 2) == (1, 2)
    assert per_dim((1, 2, 3), 2) is None  # the wrong length: PyTorch rejects it, nobody guesses
    assert per_dim(True, 2) is None and per_dim((), 2) is None and per_dim(3, None) is None
    assert per_dim((None, 7), 2) is None and per_dim((None, 7), 2, none=True) == (None, 7)

"""Every rule on every torchvision classification model, with random weights and no download.

The expectations come from the architectures, not from netlint's output:

- VGG (Simonyan & Zisserman, configurations A, B, D, E): the classifier starts with
  Linear(512*7*7, 4096) on the flattened 7x7 map of AdaptiveAvgPool2d((7, 7)): NL004 at
  classifier.0. The *_bn variants keep the default bias=True on every 3x3 conv, each followed
  directly by a BatchNorm2d: one NL002 per conv, at the Sequential indices that the
  configuration gives (conv, BN, ReLU per entry, one MaxPool per "M").
- AlexNet: AdaptiveAvgPool2d((6, 6)), flatten, Dropout, Linear(256*6*6, 4096): NL004 at
  classifier.1 (the Dropout sits at classifier.0).
- SqueezeNet 1.0 and 1.1: Dropout(0.5) on the 512-channel 13x13 output of the last Fire module
  (whose expand convs are the nearest weight layers upstream), then the 1x1 conv classifier:
  NL003 at classifier.0.
- GoogLeNet: each auxiliary classifier (built in training mode, aux_logits=True by default) pools
  to 4x4, applies a 1x1 conv to 128 channels and flattens into fc1 = Linear(128*4*4, 1024):
  NL004 at aux1.fc1 and aux2.fc1. Its convs are BasicConv2d (bias=False + BatchNorm).
- NL005 (drop-path before BatchNorm): EfficientNet (v1 and v2) puts StochasticDepth, with a rate
  growing from 0 across blocks, on every residual MBConv/FusedMBConv block (stride 1, same
  channels); the sum reaches the next block's BatchNorm: one finding per such block with p > 0.
  MaxViT has StochasticDepth in each layer's MBConv and both attentions; all reach the next
  MBConv's pre-norm BatchNorm except the three of the last layer, followed only by LayerNorm-
  normalised attention and the head. ConvNeXt and Swin also use drop-path, but only LayerNorm
  follows: nothing.
- NL006, NL007, NL008: no functional dropout without training=self.training, no dropout before
  a sigmoid-like activation, no activation before a BatchNorm anywhere in the zoo.
- NL009 (batch mixing): every model keeps its samples apart; the batch dimension is followed
  through ViT's and Swin's head/window reshapes (B*heads, B*windows), MaxViT's block/grid
  partitions and ShuffleNet's channel shuffle, and only BatchNorm (training mode) uses batch
  statistics: nothing.
- NL012 (parameters without gradient): every parameter of every model reaches an output
  differentiably in training mode, GoogLeNet's and Inception-v3's auxiliary heads included (they
  are returned, in a namedtuple, in training mode): nothing.
- NL011 (linear-collapse): mobilenet_v3_small's first block has expand ratio 1 (16 -> 16, no
  expansion conv) and stride 2, hence no residual: its 1x1 projection 16 -> 16 + BatchNorm feeds
  the next block's 1x1 expansion 16 -> 72 with no activation between, a single 16 -> 72 map. In
  mobilenet_v3_large the same first block has stride 1 and a residual (the sum is shared): nothing.
  Every other 1x1 projection is narrower than its input (inverted residuals) or ends in a residual.
- NL010, NL013, NL014: no BatchNorm called twice per call of its block, no softmax or sigmoid on
  the output (the models return logits), and at 224x224 the smallest maps are 7x7, where every
  kernel tap of every conv sees data.
- NL015 (opt-in, not in the sweep above): the 1x1 stride-2 projection shortcuts of ResNet/ResNeXt
  (downsample.0) and RegNet (proj.0) read 1 of 4 positions; a separate test checks them.
- Every other model: dropout only in the head or inside LayerNorm-normalised transformer blocks
  (or drop rates of 0 by default: DenseNet, ViT, Swin), bias-free convolutions before BatchNorm,
  and global pooling (or a class token) before the Linear head: nothing. Inception-v3's auxiliary
  head pools to 1x1 before its Linear. RegNet builds its widths with tensor arithmetic in the
  constructor, so it is built with initialisers skipped and copied to meta.
"""

from __future__ import annotations

import pytest

import netlint

tvm = pytest.importorskip("torchvision.models")

VGG = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def bn_conv_indices(cfg) -> list[str]:
    out, i = [], 0
    for v in cfg:
        if v == "M":
            i += 1
        else:
            out.append(f"features.{i}")
            i += 3  # conv, BatchNorm2d, ReLU
    return out


def drop_path_sites(name: str) -> set[tuple[str, str]]:
    import torch
    from torchvision.models.efficientnet import FusedMBConv, MBConv
    from torchvision.ops import StochasticDepth

    if not name.startswith(("efficientnet", "maxvit")):
        return set()
    with torch.device("meta"):
        model = getattr(tvm, name)()
    if name.startswith("efficientnet"):
        return {
            ("NL005", f"{path}.stochastic_depth")
            for path, m in model.named_modules()
            if isinstance(m, (MBConv, FusedMBConv)) and m.use_res_connect and m.stochastic_depth.p > 0
        }
    last = f"blocks.{len(model.blocks) - 1}.layers.{len(model.blocks[-1].layers) - 1}."
    return {
        ("NL005", path)
        for path, m in model.named_modules()
        if isinstance(m, StochasticDepth) and m.p > 0 and not path.startswith(last)
    }


def expected(name: str) -> set[tuple[str, str]]:
    return core_expected(name) | drop_path_sites(name)


def core_expected(name: str) -> set[tuple[str, str]]:
    base = name.removesuffix("_bn")
    if base in VGG:
        found = {("NL004", "classifier.0")}
        if name.endswith("_bn"):
            found |= {("NL002", m) for m in bn_conv_indices(VGG[base])}
        return found
    return {
        "alexnet": {("NL004", "classifier.1")},
        "squeezenet1_0": {("NL003", "classifier.0")},
        "squeezenet1_1": {("NL003", "classifier.0")},
        "googlenet": {("NL004", "aux1.fc1"), ("NL004", "aux2.fc1")},
        "mobilenet_v3_small": {("NL011", "features.1.block.2.0")},
    }.get(name, set())


NAMES = tvm.list_models(module=tvm)


def test_the_zoo_is_complete():
    assert len(NAMES) == 80


@pytest.mark.parametrize("name", NAMES)
def test_zoo_model(name):
    # Every rule, opt-in NL008 included; NL015 (opt-in) has its own test below.
    report = netlint.check(f"torchvision.models:{name}", select=["NL0"], ignore=["NL015"])
    assert not report.errors, [e.text for e in report.errors]
    [model] = report.models
    assert {p.engine for p in model.parts} == {"torch.fx"}
    assert {(f.code, f.module) for f in model.findings} == expected(name)
    assert len(model.findings) == len(expected(name))


def test_drop_path_expectations_are_not_empty():
    assert len(drop_path_sites("efficientnet_b0")) == 9 and len(drop_path_sites("maxvit_t")) == 27


def test_vgg_bn_indices_match_the_paper():
    assert len(bn_conv_indices(VGG["vgg16"])) == 13 and bn_conv_indices(VGG["vgg11"])[:3] == [
        "features.0", "features.4", "features.8"
    ]  # fmt: skip


def strided_pointwise_convs(name: str) -> set[tuple[str, str]]:
    """1x1 convs with stride 2, read from the built model (not from netlint's graph; on the CPU, as RegNet
    computes its widths with tensors)."""
    import torch

    model = getattr(tvm, name)()
    return {
        ("NL015", path)
        for path, m in model.named_modules()
        if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1) and m.stride == (2, 2)
    }


@pytest.mark.parametrize("name", ["resnet18", "resnext50_32x4d", "regnet_y_400mf", "mobilenet_v2", "densenet121"])
def test_stride_skips_input_on_projection_shortcuts(name):
    """ResNet's and RegNet's downsampling shortcuts are 1x1 stride-2 convs (He et al., Bag of Tricks, sec. 4.1);
    MobileNetV2 and DenseNet downsample with 3x3 convs and 2x2 pooling, which read every position."""
    report = netlint.check(f"torchvision.models:{name}", select=["NL015"])
    found = {(f.code, f.module) for f in report.models[0].findings}
    assert found == strided_pointwise_convs(name)
    assert bool(found) == name.startswith(("res", "regnet"))


def test_kernel_sees_padding_on_cifar_sized_resnet():
    """ResNet-50 at 32x32: the stem (stride 2) and max-pool leave 8x8, layers 2-4 halve it to 1x1. layer4.0's
    stride-2 3x3 conv sees a 2x2 map (its first row and column of taps only see padding: 5 of 9), layer4.1 and
    layer4.2's 3x3 convs a 1x1 map (8 of 9); every earlier map is at least 4x4, where every tap sees data."""
    import torch

    report = netlint.check(tvm.resnet50(num_classes=10), torch.randn(8, 3, 32, 32), select=["NL014"])
    found = {f.module: f.data["wasted_positions"] for f in report.models[0].findings}
    assert found == {"layer4.0.conv2": 5, "layer4.1.conv2": 8, "layer4.2.conv2": 8}

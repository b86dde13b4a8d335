"""The core rules on torchvision models with random weights (built on the meta device: no memory).

Each expectation follows from the architecture, not from netlint's output:
- VGG's classifier starts with Linear(512*7*7, 4096) on the flattened 7x7 map (NL004), and
  VGG-BN keeps the default bias on all 13 convolutions, each followed by a BatchNorm2d (NL002).
- AlexNet: avgpool(6x6) -> flatten -> Dropout -> Linear(256*6*6, 4096): NL004 at classifier.1.
- SqueezeNet 1.0 puts Dropout(0.5) on the 512x13x13 output of its last Fire module (convs), right
  before the final 1x1 classifier conv: NL003 at classifier.0.
- DenseNet with drop_rate > 0 calls F.dropout on each dense layer's new features, which are
  concatenated into every later layer's norm1 (and the transition's or norm5's BatchNorm): one
  NL001 per dense layer (6+12+24+16 = 58). The same element-wise dropout sits between convolutions
  except in the last dense layer, whose features only reach the classifier: 57 NL003.
- ResNet-50, MobileNetV2, EfficientNet-B0 and ViT-B/16 put dropout only in the head (or inside
  LayerNorm-normalised transformer blocks), have no conv bias before BatchNorm, and pool globally.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch

import netlint

tvm = pytest.importorskip("torchvision.models")
CORE = ["NL001", "NL002", "NL003", "NL004"]


def findings(name: str, **kwargs):
    with torch.device("meta"):
        model = getattr(tvm, name)(**kwargs)
    report = netlint.check(model, name=name, select=CORE)
    assert not report.errors, [e.text for e in report.errors]
    return report.findings


def test_vgg16_one_fc_head():
    found = findings("vgg16")
    assert [(f.code, f.module) for f in found] == [("NL004", "classifier.0")]
    assert "102.8 M" in found[0].message and "2.1 M" in found[0].message


def test_vgg16_bn_thirteen_biases_and_the_head():
    found = findings("vgg16_bn")
    convs = [f"features.{i}" for i in (0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40)]
    assert sorted(f.module for f in found if f.code == "NL002") == sorted(convs)
    assert [(f.code, f.module) for f in found if f.code != "NL002"] == [("NL004", "classifier.0")]
    first = next(f for f in found if f.module == "features.0")
    assert first.related == ("features.1",) and first.data["wasted_parameters"] == 64


def test_alexnet_fc_head_behind_dropout():
    assert [(f.code, f.module) for f in findings("alexnet")] == [("NL004", "classifier.1")]


def test_squeezenet_dropout_before_last_conv():
    found = findings("squeezenet1_0")
    assert [(f.code, f.module) for f in found] == [("NL003", "classifier.0")]
    assert "512x13x13" in found[0].message


def test_densenet121_dropout_in_every_dense_layer():
    found = findings("densenet121", drop_rate=0.2)
    nl001 = [f for f in found if f.code == "NL001"]
    layers = [f"features.denseblock{b}.denselayer{i}" for b, n in zip((1, 2, 3, 4), (6, 12, 24, 16))
              for i in range(1, n + 1)]  # fmt: skip
    assert [f.module for f in nl001] == layers
    assert all(f.file.endswith("densenet.py") and "dropout" in f.message for f in nl001)
    # denselayer1's new features reach the norm1 of the 5 later layers of its block and the transition's norm.
    assert nl001[0].related[-1] == "features.transition1.norm" and len(nl001[0].related) == 6
    assert nl001[-1].related == ("features.norm5",)
    nl003 = [f.module for f in found if f.code == "NL003"]
    assert nl003 == layers[:-1]
    assert Counter(f.code for f in found) == {"NL001": 58, "NL003": 57}


def test_densenet_without_dropout_is_clean():
    assert findings("densenet121") == []


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b_16"])
def test_clean_models(name):
    assert findings(name) == []


def test_target_string_with_keyword_arguments():
    report = netlint.check("torchvision.models:densenet121(drop_rate=0.2)", select=["NL001"])
    assert not report.errors
    assert len(report.findings) == 58
    assert report.models[0].name == "torchvision.models:densenet121(drop_rate=0.2)"


def test_a_library_target_points_into_the_library_never_at_netlints_launcher():
    """Run under ``tests/conftest.py`` (the forked CLI) or under the API caller's test file, as the console
    script runs under ``venv/bin/netlint``: netlint's callers are user files, but never a layer's place."""
    import json
    import os

    from .conftest import run_netlint

    result = run_netlint("check", "torchvision.models:vgg11_bn", "--format", "json", "--no-probe")
    found = [f for m in json.loads(result.stdout)["models"] for f in m["findings"]]
    api = netlint.check("torchvision.models:vgg11_bn").findings
    vgg = os.path.join("torchvision", "models", "vgg.py")
    assert len(found) == len(api) == 9  # 8 biased convolutions (NL002) and the 512x7x7 head (NL004)
    assert {f["file"].endswith(vgg) for f in found} == {f.file.endswith(vgg) for f in api} == {True}

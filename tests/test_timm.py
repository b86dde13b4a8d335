"""timm models torch.fx cannot trace are analysed through the fallback, and the report says how.

Built with random weights and no download, on the meta device, with drop_rate=0.2 as the zoo
sweep builds them. Expectations follow the architectures:

- NesT's levels, CrossViT and NFNet's scaled convolutions do shape-dependent or data-dependent
  Python in forward: fx fails there, those parts are recorded by the capture engine.
- RepViT applies its head_drop (p = drop_rate) in forward_head, then the classifier's
  NormLinear = BatchNorm1d + Linear (for the head and the distillation head): one NL001 at
  head_drop. The classifier's own head.head_drop is built with p = 0 and drops nothing.
- MaxViT-rmlp's relative-position MLP has a Dropout whose output only becomes an attention bias,
  which softmax renormalises: no NL001 (a false positive this suite guards against).
- csatv2's scalar-q/k/v attention (each stage's first block) unbinds qkv of shape (B, N, 3) into
  (B, N) tensors, so ``q @ k.transpose(-1, -2)`` is (B, B): attention across the batch (NL009), a
  true bug of the architecture as implemented. Reported once, at the first such matmul: below a Gram
  matrix of the batch no fix keeps the layout, so the batch is not followed further.
- A model whose first layer is not its input (csatv2 starts with a 64-channel DCT conv, naflexvit
  with a Linear patch embedding) is run at the (C, H, W) it declares in pretrained_cfg.
"""

from __future__ import annotations

import pytest
import torch

import netlint

timm = pytest.importorskip("timm")


def check(name: str, **kwargs):
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, drop_rate=0.2, **kwargs)
    report = netlint.check(model, name=name, select=["NL001", "NL002", "NL003", "NL004"])
    assert not report.errors, [e.text for e in report.errors]
    return report.models[0]


@pytest.mark.parametrize("name", ["nest_tiny", "crossvit_tiny_240", "dm_nfnet_f0"])
def test_untraceable_models_are_analysed_by_the_fallback(name):
    model = check(name)
    captured = [p for p in model.parts if p.engine.startswith("capture")]
    assert captured and all(p.reason for p in captured)
    assert model.nodes > 100 and not model.unused


def test_repvit_head_dropout_before_its_batchnorm_head():
    model = check("repvit_m1")
    assert [(f.code, f.module) for f in model.findings] == [("NL001", "head_drop")]
    assert set(model.findings[0].related) == {"head.head.bn", "head.head_dist.bn"}


def test_relative_position_mlp_dropout_is_not_reported():
    model = check("maxvit_rmlp_pico_rw_256", drop_path_rate=0.1)
    assert [f for f in model.findings if f.code == "NL001"] == []


@pytest.mark.parametrize(
    ("name", "shape"), [("csatv2", "2x3x512x512"), ("naflexvit_base_patch16_parfac_gap", "2x3x384x384")]
)
def test_declared_input_size_is_used(name, shape):
    model = check(name)
    assert model.inputs == f"{shape} float32" and model.input_source == "declared by the model (input_size)"


@pytest.mark.parametrize("name", ["mobilevitv2_050"])
def test_mobilevitv2_linear_bottleneck_into_the_next_expansion(name):
    """NL011's true instances in the timm sample. MobileViTv2 (Mehta & Rastegari, 2022) drops v1's
    fusion and skip: each MobileViT block ends with a 1x1 projection + BatchNorm and no activation
    (conv_proj), read only by the next stage's 1x1 expansion (conv1_1x1). Stage 0's inverted
    bottleneck changes the width, so it has no shortcut either: its linear 1x1 projection feeds
    stage 1's expansion alone. Each pair is one 1x1 conv from the first input width to the second
    output width, and the hidden width is not narrower than the smaller of the two."""
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False, drop_rate=0.2)
    report = netlint.check(model, name=name, select=["NL011"], probe=False)
    assert not report.errors
    found = {(f.module, f.related) for f in report.models[0].findings}
    assert found == {
        ("stages.0.0.conv3_1x1.conv", ("stages.1.0.conv1_1x1.conv",)),
        ("stages.2.1.conv_proj.conv", ("stages.3.0.conv1_1x1.conv",)),
        ("stages.3.1.conv_proj.conv", ("stages.4.0.conv1_1x1.conv",)),
    }


def test_csatv2_attention_mixes_the_batch():
    with torch.device("meta"):
        model = timm.create_model("csatv2", pretrained=False)
    report = netlint.check(model, name="csatv2", select=["NL009"])
    assert not report.errors, [e.text for e in report.errors]
    found = [(f.module, f.data["op"]) for f in report.findings]
    attention = [p.rpartition(".")[0] for p, m in model.named_modules() if p.endswith(".attn.qkv")]
    assert len(attention) > 1 and found == [(attention[0], "matmul")]

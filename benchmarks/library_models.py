"""The models of benchmarks/libraries.py: each a small model file, written the way a user writes one.

Every model is a module-level instance built from a small configuration (no weights, no download)
and, where its forward needs named or several inputs, an ``example_inputs()`` function that returns
them positionally (the convention netlint reads). segmentation_models_pytorch's models take one
image: netlint infers it, as it would for a user. ``python benchmarks/libraries.py --keep DIR``
writes the files, so that any row can be re-checked with ``netlint check DIR/FILE.py``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ZooModel:
    library: str
    name: str  # the row's name
    imports: str  # import lines of the file
    build: str  # the expression bound to ``model``
    inputs: str | None = None  # the value example_inputs() returns; None: netlint infers the input

    @property
    def filename(self) -> str:
        slug = "".join(c if c.isalnum() else "_" for c in self.name.lower()).strip("_")
        return f"zoo_{PREFIX[self.library]}_{slug}.py"

    def source(self) -> str:
        # Seeded: where netlint runs a model for real (data-dependent code, such as a mixture of experts'
        # routing), what it sees depends on the random weights, and the sweep must give the same rows twice.
        text = f"import torch\n{self.imports}\n\ntorch.manual_seed(0)\nmodel = {self.build}\n"
        if self.inputs is not None:
            text += f"\n\ndef example_inputs():\n    return {self.inputs}\n"
        return text


PREFIX = {"transformers": "hf", "segmentation_models_pytorch": "smp", "monai": "monai", "diffusers": "diffusers"}


def _call(fn: str, kwargs: dict[str, Any]) -> str:
    return f"{fn}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def _ids(shape: tuple[int, ...], high: int = 100) -> str:
    return f"torch.randint(0, {high}, {shape})"


def _randn(shape: tuple[int, ...]) -> str:
    return f"torch.randn{shape}"


def _positional(forward: Callable[..., Any], named: dict[str, str]) -> str:
    """A tuple literal that passes ``named`` positionally: None for the parameters in between."""
    params = [
        p.name
        for p in inspect.signature(forward).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ][1:]
    missing = set(named) - set(params)
    if missing:
        raise ValueError(f"forward takes no positional {', '.join(sorted(missing))}")
    last = max(params.index(n) for n in named)
    return "(" + "".join(f"{named.get(p, 'None')}, " for p in params[: last + 1]).rstrip(" ") + ")"


# --- transformers ------------------------------------------------------------------------------

# Size fields, set wherever a configuration has them as a plain integer: two layers, four heads,
# width 32. Families whose sizes are lists (stages of CNNs and hierarchical ViTs) get theirs below.
# fmt: off
_HF_SMALL = {
    "vocab_size": 1000, "decoder_vocab_size": 1000,
    "hidden_size": 32, "d_model": 32, "n_embd": 32, "dim": 32, "embed_dim": 32, "word_embed_proj_dim": 32,
    "embedding_size": 32, "true_hidden_size": 32, "intra_bottleneck_size": 32, "input_embedding_size": 32,
    "output_embedding_size": 32, "attention_hidden_size": 32,
    "num_hidden_layers": 2, "n_layer": 2, "n_layers": 2, "num_layers": 2, "encoder_layers": 2, "decoder_layers": 2,
    "num_decoder_layers": 2, "num_encoder_layers": 2,
    "num_attention_heads": 4, "n_head": 4, "n_heads": 4, "num_heads": 4, "attention_heads": 4,
    "encoder_attention_heads": 4, "decoder_attention_heads": 4, "num_encoder_attention_heads": 4,
    "num_decoder_attention_heads": 4,
    "head_dim": 8, "d_kv": 8, "d_head": 8, "attention_head_dim": 8,
    "intermediate_size": 64, "ffn_dim": 64, "encoder_ffn_dim": 64, "decoder_ffn_dim": 64, "d_ff": 64,
    "hidden_dim": 64, "ffn_hidden_size": 64, "intermediate_size_mlp": 64, "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
    "max_position_embeddings": 64, "n_positions": 64,
    "num_local_experts": 4, "num_experts": 4, "n_routed_experts": 4, "num_experts_per_tok": 2,
    "image_size": 224, "patch_size": 16, "projection_dim": 16,
}
# fmt: on
_TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "sep_token_id", "cls_token_id")


def _hf_small(config_cls: type, overrides: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments that shrink ``config_cls``'s defaults: the generic sizes, then ``overrides``."""
    from transformers import PretrainedConfig

    defaults = config_cls()
    values = defaults.to_dict()
    kwargs: dict[str, Any] = {}
    for key, small in _HF_SMALL.items():
        current = values.get(key)
        if isinstance(current, int) and not isinstance(current, bool) and current > small:
            kwargs[key] = small
    if "num_key_value_heads" in values and isinstance(values["num_key_value_heads"], int):
        kwargs["num_key_value_heads"] = min(values["num_key_value_heads"], 2)
    vocab = kwargs.get("vocab_size", values.get("vocab_size"))
    for key in _TOKEN_IDS:  # special tokens must be inside the smaller vocabulary
        if isinstance(values.get(key), int) and isinstance(vocab, int) and values[key] >= vocab:
            kwargs[key] = vocab - 1 - _TOKEN_IDS.index(key)
    for sub in ("text_config", "vision_config", "audio_config"):
        if isinstance(getattr(defaults, sub, None), PretrainedConfig) and sub not in overrides:
            kwargs[sub] = _hf_small(type(getattr(defaults, sub)), {})
    kwargs.update(overrides)
    return kwargs


_TEXT = {"input_ids": _ids((2, 16))}
_SEQ2SEQ = {"input_ids": _ids((2, 16)), "decoder_input_ids": _ids((2, 8))}


def _image(size: int = 224, channels: int = 3) -> dict[str, str]:
    return {"pixel_values": _randn((2, channels, size, size))}


# (row name, model class, configuration overrides, named inputs). The configuration class is the
# model's own (config_class); everything else about its size comes from _HF_SMALL.
# fmt: off
_STAGES4 = {"hidden_sizes": [16, 32, 48, 64], "depths": [1, 1, 1, 1]}
_SWIN = {"embed_dim": 16, "depths": [1, 1], "num_heads": [2, 4], "image_size": 224, "patch_size": 4}
_MIT = {"hidden_sizes": [16, 32, 48, 64], "depths": [1, 1, 1, 1], "num_attention_heads": [1, 2, 2, 4],
        "decoder_hidden_size": 32}
_WAV2VEC = {"conv_dim": [32, 32, 32], "conv_stride": [5, 2, 2], "conv_kernel": [10, 3, 3], "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 4, "vocab_size": 32}
_AUDIO = {"input_values": _randn((2, 4000))}
HF_MODELS: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    # encoders
    ("BERT", "BertForSequenceClassification", {}, _TEXT),
    ("RoBERTa", "RobertaForMaskedLM", {}, _TEXT),
    ("DistilBERT", "DistilBertForSequenceClassification", {}, _TEXT),
    ("ALBERT", "AlbertForSequenceClassification", {}, _TEXT),
    ("ELECTRA", "ElectraForTokenClassification", {}, _TEXT),
    ("DeBERTa-v2", "DebertaV2ForSequenceClassification", {}, _TEXT),
    ("XLM-RoBERTa", "XLMRobertaForSequenceClassification", {}, _TEXT),
    ("MPNet", "MPNetForSequenceClassification", {}, _TEXT),
    ("ConvBERT", "ConvBertForSequenceClassification", {}, _TEXT),
    ("ModernBERT", "ModernBertForSequenceClassification", {}, _TEXT),
    ("FNet", "FNetForSequenceClassification", {}, _TEXT),
    ("MobileBERT", "MobileBertForSequenceClassification", {"intra_bottleneck_size": 32, "true_hidden_size": 32}, _TEXT),
    ("SqueezeBERT", "SqueezeBertForSequenceClassification", {}, _TEXT),
    ("RemBERT", "RemBertForSequenceClassification", {}, _TEXT),
    ("Funnel", "FunnelForSequenceClassification", {"block_sizes": [1, 1], "d_model": 32, "n_head": 4}, _TEXT),
    ("Longformer", "LongformerForSequenceClassification", {"attention_window": 8}, _TEXT),
    ("BigBird", "BigBirdForSequenceClassification", {"attention_type": "original_full"}, _TEXT),
    # decoders
    ("GPT-2", "GPT2LMHeadModel", {}, _TEXT),
    ("GPT-Neo", "GPTNeoForCausalLM", {"attention_types": [[["global", "local"], 1]], "window_size": 8}, _TEXT),
    ("GPT-NeoX", "GPTNeoXForCausalLM", {}, _TEXT),
    ("GPT-J", "GPTJForCausalLM", {"rotary_dim": 4}, _TEXT),
    ("GPT-BigCode", "GPTBigCodeForCausalLM", {}, _TEXT),
    ("OpenAI-GPT", "OpenAIGPTLMHeadModel", {}, _TEXT),
    ("CTRL", "CTRLLMHeadModel", {}, _TEXT),
    ("OPT", "OPTForCausalLM", {}, _TEXT),
    ("BLOOM", "BloomForCausalLM", {}, _TEXT),
    ("Falcon", "FalconForCausalLM", {}, _TEXT),
    ("MPT", "MptForCausalLM", {}, _TEXT),
    ("CodeGen", "CodeGenForCausalLM", {"rotary_dim": 4}, _TEXT),
    ("BioGPT", "BioGptForCausalLM", {}, _TEXT),
    ("XGLM", "XGLMForCausalLM", {}, _TEXT),
    ("Llama", "LlamaForCausalLM", {}, _TEXT),
    ("Mistral", "MistralForCausalLM", {}, _TEXT),
    ("Mixtral", "MixtralForCausalLM", {}, _TEXT),
    ("Qwen2", "Qwen2ForCausalLM", {}, _TEXT),
    ("Qwen2-MoE", "Qwen2MoeForCausalLM", {}, _TEXT),
    ("Qwen3", "Qwen3ForCausalLM", {}, _TEXT),
    ("Qwen3-MoE", "Qwen3MoeForCausalLM", {}, _TEXT),
    ("Phi", "PhiForCausalLM", {}, _TEXT),
    ("Phi-3", "Phi3ForCausalLM", {}, _TEXT),
    ("Gemma", "GemmaForCausalLM", {}, _TEXT),
    ("Gemma-2", "Gemma2ForCausalLM", {}, _TEXT),
    ("Gemma-3", "Gemma3ForCausalLM", {}, _TEXT),
    ("StableLM", "StableLmForCausalLM", {}, _TEXT),
    ("Starcoder2", "Starcoder2ForCausalLM", {}, _TEXT),
    ("OLMo", "OlmoForCausalLM", {}, _TEXT),
    ("OLMo-2", "Olmo2ForCausalLM", {}, _TEXT),
    ("OLMoE", "OlmoeForCausalLM", {}, _TEXT),
    ("Granite", "GraniteForCausalLM", {}, _TEXT),
    ("GraniteMoE", "GraniteMoeForCausalLM", {}, _TEXT),
    ("Cohere", "CohereForCausalLM", {}, _TEXT),
    ("Persimmon", "PersimmonForCausalLM", {}, _TEXT),
    ("GPT-OSS", "GptOssForCausalLM", {}, _TEXT),
    ("DeepSeek-V3", "DeepseekV3ForCausalLM", {"qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8, "kv_lora_rank": 16,
                                              "q_lora_rank": 16, "num_key_value_heads": 4, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1}, _TEXT),
    ("Mamba", "MambaForCausalLM", {"state_size": 4}, _TEXT),
    ("RWKV", "RwkvForCausalLM", {}, _TEXT),
    ("XLNet", "XLNetLMHeadModel", {}, _TEXT),
    # encoder-decoders
    ("T5", "T5ForConditionalGeneration", {}, _SEQ2SEQ),
    ("mT5", "MT5ForConditionalGeneration", {}, _SEQ2SEQ),
    ("LongT5", "LongT5ForConditionalGeneration", {"local_radius": 4, "global_block_size": 4}, _SEQ2SEQ),
    ("Switch-Transformers", "SwitchTransformersForConditionalGeneration", {"num_sparse_encoder_layers": 1,
                                                                          "num_sparse_decoder_layers": 1}, _SEQ2SEQ),
    ("BART", "BartForConditionalGeneration", {}, _SEQ2SEQ),
    ("mBART", "MBartForConditionalGeneration", {}, _SEQ2SEQ),
    ("Pegasus", "PegasusForConditionalGeneration", {}, _SEQ2SEQ),
    ("Marian", "MarianMTModel", {}, _SEQ2SEQ),
    ("Blenderbot", "BlenderbotForConditionalGeneration", {}, _SEQ2SEQ),
    ("M2M100", "M2M100ForConditionalGeneration", {}, _SEQ2SEQ),
    ("ProphetNet", "ProphetNetForConditionalGeneration", {"ngram": 2}, _SEQ2SEQ),
    # vision
    ("ViT", "ViTForImageClassification", {}, _image()),
    ("DeiT", "DeiTForImageClassification", {}, _image()),
    ("BEiT", "BeitForImageClassification", {}, _image()),
    ("Data2Vec-Vision", "Data2VecVisionForImageClassification", {}, _image()),
    ("DINOv2", "Dinov2ForImageClassification", {}, _image()),
    ("IJEPA", "IJepaForImageClassification", {}, _image()),
    ("ViT-MAE", "ViTMAEForPreTraining", {"decoder_hidden_size": 32, "decoder_num_hidden_layers": 1,
                                         "decoder_num_attention_heads": 4, "decoder_intermediate_size": 64}, _image()),
    ("Swin", "SwinForImageClassification", _SWIN, _image()),
    ("Swinv2", "Swinv2ForImageClassification", _SWIN, _image()),
    ("FocalNet", "FocalNetForImageClassification", {"embed_dim": 16, "depths": [1, 1], "hidden_sizes": [32, 64]}, _image()),
    ("ConvNeXt", "ConvNextForImageClassification", _STAGES4, _image()),
    ("ConvNeXtV2", "ConvNextV2ForImageClassification", _STAGES4, _image()),
    ("ResNet", "ResNetForImageClassification", {**_STAGES4, "embedding_size": 16}, _image()),
    ("RegNet", "RegNetForImageClassification", {**_STAGES4, "embedding_size": 16, "groups_width": 8}, _image()),
    ("BiT", "BitForImageClassification", {**_STAGES4, "embedding_size": 16, "num_groups": 8}, _image()),
    ("EfficientNet", "EfficientNetForImageClassification", {"width_coefficient": 0.25, "depth_coefficient": 0.25,
                                                            "hidden_dim": 320}, _image()),
    ("MobileNetV1", "MobileNetV1ForImageClassification", {"depth_multiplier": 0.25}, _image()),
    ("MobileNetV2", "MobileNetV2ForImageClassification", {"depth_multiplier": 0.25}, _image()),
    ("MobileViT", "MobileViTForImageClassification", {"hidden_sizes": [16, 24, 32], "neck_hidden_sizes": [8, 8, 16, 16, 24, 32, 64],
                                                     "image_size": 256}, _image(256)),
    ("MobileViTV2", "MobileViTV2ForImageClassification", {"width_multiplier": 0.25, "image_size": 256}, _image(256)),
    ("LeViT", "LevitForImageClassification", {"hidden_sizes": [16, 32, 48], "num_attention_heads": [1, 2, 3], "depths": [1, 1, 1],
                                              "key_dim": [8, 8, 8]}, _image()),
    ("PoolFormer", "PoolFormerForImageClassification", _STAGES4, _image()),
    ("PVTv2", "PvtV2ForImageClassification", {**_MIT, "image_size": 224}, _image()),
    ("CvT", "CvtForImageClassification", {"embed_dim": [16, 32, 48], "num_heads": [1, 2, 3], "depth": [1, 2, 3]}, _image()),
    ("SwiftFormer", "SwiftFormerForImageClassification", {"depths": [1, 1, 1, 1], "embed_dims": [16, 24, 32, 48]}, _image()),
    ("Hiera", "HieraForImageClassification", {"embed_dim": 16, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2],
                                              "image_size": [224, 224], "patch_size": [7, 7]}, _image()),
    ("SegFormer", "SegformerForSemanticSegmentation", _MIT, _image()),
    ("GLPN", "GLPNForDepthEstimation", _MIT, _image()),
    ("DPT", "DPTForDepthEstimation", {"neck_hidden_sizes": [8, 16, 24, 32], "fusion_hidden_size": 16,
                                               "num_hidden_layers": 4, "backbone_out_indices": [0, 1, 2, 3]}, _image()),
    ("UperNet-ConvNeXt", "UperNetForSemanticSegmentation",
     {"backbone_config": {"model_type": "convnext", **_STAGES4, "out_features": ["stage1", "stage2", "stage3", "stage4"]},
      "hidden_size": 32, "auxiliary_channels": 16}, _image()),
    # multimodal
    ("CLIP", "CLIPModel", {}, {"input_ids": _ids((2, 16)), "pixel_values": _randn((2, 3, 224, 224))}),
    ("SigLIP", "SiglipModel", {}, {"input_ids": _ids((2, 16)), "pixel_values": _randn((2, 3, 224, 224))}),
    ("OWL-ViT", "OwlViTModel", {}, {"input_ids": _ids((2, 16)), "pixel_values": _randn((2, 3, 224, 224))}),
    ("GroupViT", "GroupViTModel", {"vision_config": {"hidden_size": 32, "intermediate_size": 64, "depths": [1, 1, 1],
                                                     "num_group_tokens": [8, 4, 0], "num_output_groups": [8, 4, 4],
                                                     "num_attention_heads": 4, "image_size": 224, "patch_size": 16}},
     {"input_ids": _ids((2, 16)), "pixel_values": _randn((2, 3, 224, 224))}),
    # audio
    ("Wav2Vec2", "Wav2Vec2ForCTC", _WAV2VEC, _AUDIO),
    ("HuBERT", "HubertForCTC", _WAV2VEC, _AUDIO),
    ("WavLM", "WavLMForCTC", _WAV2VEC, _AUDIO),
    ("Data2Vec-Audio", "Data2VecAudioForCTC", {**_WAV2VEC, "conv_pos_kernel_size": 5}, _AUDIO),
    ("UniSpeech", "UniSpeechForCTC", _WAV2VEC, _AUDIO),
    ("Whisper", "WhisperForConditionalGeneration", {"num_mel_bins": 16, "max_source_positions": 32, "max_target_positions": 32},
     {"input_features": _randn((2, 16, 64)), "decoder_input_ids": _ids((2, 8))}),
    ("Speech2Text", "Speech2TextForConditionalGeneration", {"input_feat_per_channel": 16, "conv_channels": 32,
                                                            "max_source_positions": 64, "max_target_positions": 32},
     {"input_features": _randn((2, 64, 16)), "decoder_input_ids": _ids((2, 8))}),
    ("AST", "ASTForAudioClassification", {"num_mel_bins": 32, "max_length": 64, "patch_size": 8},
     {"input_values": _randn((2, 64, 32))}),
    # time series
    ("PatchTST", "PatchTSTForPrediction", {"context_length": 32, "patch_length": 8, "patch_stride": 8, "num_input_channels": 3,
                                           "prediction_length": 8}, {"past_values": _randn((2, 32, 3))}),
]
# fmt: on


def transformers_models() -> Iterator[ZooModel]:
    import transformers

    for name, class_name, overrides, named in HF_MODELS:
        cls = getattr(transformers, class_name)
        config_cls = cls.config_class
        kwargs = _hf_small(config_cls, overrides)
        imports = f"from transformers import {config_cls.__name__}, {class_name}"
        build = f"{class_name}({_call(config_cls.__name__, kwargs)})"
        yield ZooModel("transformers", name, imports, build, _positional(cls.forward, named))


# --- segmentation_models_pytorch ----------------------------------------------------------------

# Every architecture with its default encoder and a couple of others, random weights (encoder_weights=None).
SMP_MODELS: list[tuple[str, list[str]]] = [
    ("Unet", ["resnet34", "resnet18", "efficientnet-b0", "mobilenet_v2"]),
    ("UnetPlusPlus", ["resnet34", "resnet18"]),
    ("MAnet", ["resnet34", "resnet18"]),
    ("Linknet", ["resnet34", "resnet18"]),
    ("FPN", ["resnet34", "resnet18", "efficientnet-b0"]),
    ("PSPNet", ["resnet34", "resnet18"]),
    ("PAN", ["resnet34", "resnet18"]),
    ("DeepLabV3", ["resnet34", "resnet18"]),
    ("DeepLabV3Plus", ["resnet34", "resnet18", "mobilenet_v2"]),
    ("UPerNet", ["resnet34", "resnet18"]),
    ("Segformer", ["mit_b0", "resnet18"]),
    ("DPT", ["tu-vit_tiny_patch16_224"]),
]


def smp_models() -> Iterator[ZooModel]:
    for arch, encoders in SMP_MODELS:
        for encoder in encoders:
            build = f'smp.{arch}(encoder_name="{encoder}", encoder_weights=None, classes=2)'
            yield ZooModel(
                "segmentation_models_pytorch", f"{arch} {encoder}", "import segmentation_models_pytorch as smp", build
            )


# --- MONAI -----------------------------------------------------------------------------------------

_IMG2 = _randn((2, 1, 256, 256))  # the sizes MONAI's tutorials use
_IMG3 = _randn((2, 1, 96, 96, 96))
_SMALL2 = _randn((2, 1, 64, 64))  # for the networks whose in_shape is part of the configuration
_T = "torch.randint(0, 1000, (2,))"
# fmt: off
MONAI_MODELS: list[tuple[str, str, str]] = [
    ("UNet 2D", "nets.UNet(spatial_dims=2, in_channels=1, out_channels=2, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=2)", _IMG2),
    ("UNet 3D", "nets.UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(8, 16, 32, 64), strides=(2, 2, 2), num_res_units=2)", _IMG3),
    ("AttentionUnet", "nets.AttentionUnet(spatial_dims=2, in_channels=1, out_channels=2, channels=(16, 32, 64, 128), strides=(2, 2, 2))", _IMG2),
    ("BasicUNet 3D", "nets.BasicUNet(spatial_dims=3, in_channels=1, out_channels=2, features=(8, 8, 16, 32, 64, 8))", _IMG3),
    ("BasicUNet 2D", "nets.BasicUNet(spatial_dims=2, in_channels=1, out_channels=2)", _IMG2),
    ("BasicUNetPlusPlus", "nets.BasicUNetPlusPlus(spatial_dims=2, in_channels=1, out_channels=2)", _IMG2),
    ("DynUNet", "nets.DynUNet(spatial_dims=3, in_channels=1, out_channels=2, kernel_size=[3, 3, 3, 3], strides=[1, 2, 2, 2], upsample_kernel_size=[2, 2, 2], filters=[8, 16, 32, 64])", _IMG3),
    ("DynUNet deep supervision", "nets.DynUNet(spatial_dims=2, in_channels=1, out_channels=2, kernel_size=[3, 3, 3, 3], strides=[1, 2, 2, 2], upsample_kernel_size=[2, 2, 2], filters=[8, 16, 32, 64], deep_supervision=True, deep_supr_num=2, dropout=0.1)", _IMG2),
    ("SegResNet", "nets.SegResNet(spatial_dims=3, init_filters=8, in_channels=1, out_channels=2, dropout_prob=0.2)", _IMG3),
    ("SegResNet 2D", "nets.SegResNet(spatial_dims=2, init_filters=8, in_channels=1, out_channels=2)", _IMG2),
    ("SegResNetVAE", "nets.SegResNetVAE(input_image_size=(96, 96, 96), spatial_dims=3, init_filters=8, in_channels=1, out_channels=2)", _IMG3),
    ("SegResNetDS", "nets.SegResNetDS(spatial_dims=3, init_filters=8, in_channels=1, out_channels=2)", _IMG3),
    ("UNETR", "nets.UNETR(in_channels=1, out_channels=2, img_size=96, feature_size=8, hidden_size=64, mlp_dim=128, num_heads=4)", _IMG3),
    ("SwinUNETR", "nets.SwinUNETR(in_channels=1, out_channels=2, feature_size=12, depths=(1, 1, 1, 1), num_heads=(3, 3, 3, 3))", _IMG3),
    ("VNet", "nets.VNet(spatial_dims=3, in_channels=1, out_channels=2)", _IMG3),
    ("HighResNet", "nets.HighResNet(spatial_dims=3, in_channels=1, out_channels=2)", _IMG3),
    ("MedNeXt", "nets.MedNeXt(spatial_dims=3, init_filters=8, in_channels=1, out_channels=2, blocks_down=(1, 1, 1, 1), blocks_bottleneck=1, blocks_up=(1, 1, 1, 1))", _IMG3),
    ("FlexibleUNet", 'nets.FlexibleUNet(in_channels=1, out_channels=2, backbone="efficientnet-b0", pretrained=False, spatial_dims=2)', _IMG2),
    ("DenseNet121 3D", "nets.DenseNet121(spatial_dims=3, in_channels=1, out_channels=2)", _IMG3),
    ("DenseNet121 2D dropout", "nets.DenseNet121(spatial_dims=2, in_channels=1, out_channels=2, dropout_prob=0.2)", _IMG2),
    ("EfficientNetBN", 'nets.EfficientNetBN("efficientnet-b0", spatial_dims=2, in_channels=1, num_classes=2, pretrained=False)', _IMG2),
    ("ResNet18 3D", "nets.resnet18(spatial_dims=3, n_input_channels=1, num_classes=2)", _IMG3),
    ("SEResNet50", "nets.SEResNet50(spatial_dims=2, in_channels=1, num_classes=2, pretrained=False)", _IMG2),
    ("ViT", "nets.ViT(in_channels=1, img_size=96, patch_size=16, hidden_size=64, mlp_dim=128, num_layers=2, num_heads=4, classification=True, num_classes=2)", _IMG3),
    ("ViTAutoEnc", "nets.ViTAutoEnc(in_channels=1, img_size=96, patch_size=16, hidden_size=64, mlp_dim=128, num_layers=2, num_heads=4)", _IMG3),
    ("AutoEncoder", "nets.AutoEncoder(spatial_dims=2, in_channels=1, out_channels=1, channels=(8, 16, 32), strides=(2, 2, 2))", _IMG2),
    ("VarAutoEncoder", "nets.VarAutoEncoder(spatial_dims=2, in_shape=(1, 64, 64), out_channels=1, latent_size=8, channels=(8, 16, 32), strides=(2, 2, 2))", _SMALL2),
    ("Classifier", "nets.Classifier(in_shape=(1, 64, 64), classes=3, channels=(8, 16, 32), strides=(2, 2, 2))", _SMALL2),
    ("Regressor", "nets.Regressor(in_shape=(1, 64, 64), out_shape=(2,), channels=(8, 16, 32), strides=(2, 2, 2))", _SMALL2),
    ("Discriminator", "nets.Discriminator(in_shape=(1, 64, 64), channels=(8, 16, 32), strides=(2, 2, 2))", _SMALL2),
    ("Generator", "nets.Generator(latent_shape=(16,), start_shape=(32, 8, 8), channels=(16, 8, 1), strides=(2, 2, 2))", _randn((2, 16))),
    ("LocalNet", "nets.LocalNet(spatial_dims=3, in_channels=2, num_channel_initial=8, extract_levels=(0, 1, 2))", _randn((2, 2, 96, 96, 96))),
    ("GlobalNet", "nets.GlobalNet(image_size=(32, 32, 32), spatial_dims=3, in_channels=2, num_channel_initial=8, depth=2)", _randn((2, 2, 32, 32, 32))),
    ("RegUNet", "nets.RegUNet(spatial_dims=3, in_channels=2, num_channel_initial=8, depth=2)", _randn((2, 2, 96, 96, 96))),
    ("VoxelMorph", "nets.VoxelMorph()", f"({_IMG3}, {_IMG3})"),
    ("DAF3D", "nets.DAF3D(in_channels=1, out_channels=2)", _IMG3),
    ("Quicknat", "nets.Quicknat(num_classes=2, num_channels=1, num_filters=16)", _IMG2),
    ("HoVerNet", 'nets.HoVerNet(mode="fast", in_channels=3, out_classes=2, pretrained_url=None)', _randn((2, 3, 256, 256))),
    ("FullyConnectedNet", "nets.FullyConnectedNet(in_channels=16, out_channels=2, hidden_channels=(32, 32), dropout=0.1)", _randn((2, 16))),
    ("VarFullyConnectedNet", "nets.VarFullyConnectedNet(in_channels=16, out_channels=16, latent_size=4, encode_channels=(32,), decode_channels=(32,))", _randn((2, 16))),
    ("AutoencoderKL", "nets.AutoencoderKL(spatial_dims=2, in_channels=1, out_channels=1, channels=(8, 16), latent_channels=4, num_res_blocks=1, norm_num_groups=8, attention_levels=(False, True))", _IMG2),
    ("VQVAE", "nets.VQVAE(spatial_dims=2, in_channels=1, out_channels=1, channels=(8, 16), num_res_channels=(8, 16), num_res_layers=1, num_embeddings=32, embedding_dim=4, downsample_parameters=((2, 4, 1, 1), (2, 4, 1, 1)), upsample_parameters=((2, 4, 1, 1, 0), (2, 4, 1, 1, 0)))", _IMG2),
    ("DiffusionModelUNet", "nets.DiffusionModelUNet(spatial_dims=2, in_channels=1, out_channels=1, channels=(8, 16), attention_levels=(False, True), num_res_blocks=1, num_head_channels=8, norm_num_groups=8)", f"({_IMG2}, {_T})"),
    ("ControlNet", "nets.ControlNet(spatial_dims=2, in_channels=1, channels=(8, 16), attention_levels=(False, True), num_res_blocks=1, num_head_channels=8, norm_num_groups=8, conditioning_embedding_num_channels=(8,))", f"({_IMG2}, {_T}, {_IMG2})"),
    ("PatchDiscriminator", "nets.PatchDiscriminator(spatial_dims=2, channels=8, in_channels=1, num_layers_d=2)", _IMG2),
    ("DecoderOnlyTransformer", "nets.DecoderOnlyTransformer(num_tokens=32, max_seq_len=16, attn_layers_dim=32, attn_layers_depth=2, attn_layers_heads=4)", _ids((2, 16), 32)),
    ("MaskedAutoEncoderViT", "nets.MaskedAutoEncoderViT(in_channels=1, img_size=96, patch_size=16, hidden_size=48, mlp_dim=96, num_layers=2, num_heads=4, decoder_hidden_size=48, decoder_mlp_dim=64, decoder_num_layers=1, decoder_num_heads=4)", _IMG3),
]
# fmt: on


def monai_models() -> Iterator[ZooModel]:
    for name, build, inputs in MONAI_MODELS:
        yield ZooModel("monai", name, "from monai.networks import nets", build, inputs)


# --- diffusers ---------------------------------------------------------------------------------------

_LATENT = _randn((2, 4, 16, 16))
_TEXT_EMB = _randn((2, 8, 32))
# fmt: off
DIFFUSERS_MODELS: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    ("UNet2DModel", "UNet2DModel", {"sample_size": 32, "block_out_channels": (32, 64), "layers_per_block": 1,
                                    "down_block_types": ("DownBlock2D", "AttnDownBlock2D"),
                                    "up_block_types": ("AttnUpBlock2D", "UpBlock2D"), "attention_head_dim": 8},
     {"sample": _randn((2, 3, 32, 32)), "timestep": _T}),
    ("UNet2DConditionModel", "UNet2DConditionModel", {"sample_size": 16, "block_out_channels": (32, 64), "layers_per_block": 1,
                                                      "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                                                      "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
                                                      "cross_attention_dim": 32, "attention_head_dim": 8},
     {"sample": _LATENT, "timestep": _T, "encoder_hidden_states": _TEXT_EMB}),
    ("UNet3DConditionModel", "UNet3DConditionModel", {"sample_size": 16, "block_out_channels": (32, 64), "layers_per_block": 1,
                                                      "down_block_types": ("CrossAttnDownBlock3D", "DownBlock3D"),
                                                      "up_block_types": ("UpBlock3D", "CrossAttnUpBlock3D"),
                                                      "cross_attention_dim": 32, "attention_head_dim": 8},
     {"sample": _randn((2, 4, 2, 16, 16)), "timestep": _T, "encoder_hidden_states": _TEXT_EMB}),
    ("UNet1DModel", "UNet1DModel", {"sample_size": 64, "in_channels": 2, "out_channels": 2, "block_out_channels": (32, 32, 64),
                                    "extra_in_channels": 16, "time_embedding_dim": 16, "down_block_types": ("DownBlock1DNoSkip", "DownBlock1D", "AttnDownBlock1D"),
                                    "up_block_types": ("AttnUpBlock1D", "UpBlock1D", "UpBlock1DNoSkip"),
                                    "mid_block_type": "UNetMidBlock1D", "out_block_type": None},
     {"sample": _randn((2, 2, 64)), "timestep": _T}),
    ("ControlNetModel", "ControlNetModel", {"block_out_channels": (32, 64), "layers_per_block": 1,
                                            "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
                                            "cross_attention_dim": 32, "attention_head_dim": 8,
                                            "conditioning_embedding_out_channels": (16, 32)},
     {"sample": _LATENT, "timestep": _T, "encoder_hidden_states": _TEXT_EMB, "controlnet_cond": _randn((2, 3, 32, 32))}),
    ("AutoencoderKL", "AutoencoderKL", {"block_out_channels": (32, 64), "down_block_types": ("DownEncoderBlock2D",) * 2,
                                        "up_block_types": ("UpDecoderBlock2D",) * 2, "latent_channels": 4},
     {"sample": _randn((2, 3, 256, 256))}),
    ("AsymmetricAutoencoderKL", "AsymmetricAutoencoderKL", {"down_block_out_channels": (32, 64), "up_block_out_channels": (32, 64),
                                                            "down_block_types": ("DownEncoderBlock2D",) * 2,
                                                            "up_block_types": ("UpDecoderBlock2D",) * 2, "latent_channels": 4,
                                                            "layers_per_down_block": 1, "layers_per_up_block": 1},
     {"sample": _randn((2, 3, 256, 256))}),
    ("VQModel", "VQModel", {"block_out_channels": (32, 64), "down_block_types": ("DownEncoderBlock2D",) * 2,
                            "up_block_types": ("UpDecoderBlock2D",) * 2, "latent_channels": 3, "num_vq_embeddings": 64},
     {"sample": _randn((2, 3, 256, 256))}),
    ("AutoencoderTiny", "AutoencoderTiny", {"encoder_block_out_channels": (16, 16, 16, 16),
                                            "decoder_block_out_channels": (16, 16, 16, 16), "num_encoder_blocks": (1, 1, 1, 1),
                                            "num_decoder_blocks": (1, 1, 1, 1)},
     {"sample": _randn((2, 3, 256, 256))}),
    ("Transformer2DModel", "Transformer2DModel", {"num_attention_heads": 2, "attention_head_dim": 16, "in_channels": 32,
                                                  "num_layers": 1, "norm_num_groups": 8},
     {"hidden_states": _randn((2, 32, 8, 8))}),
    ("DiTTransformer2DModel", "DiTTransformer2DModel", {"num_attention_heads": 2, "attention_head_dim": 16, "in_channels": 4,
                                                        "out_channels": 8, "num_layers": 2, "sample_size": 16, "patch_size": 2},
     {"hidden_states": _LATENT, "timestep": _T, "class_labels": _ids((2,), 1000)}),
    ("PixArtTransformer2DModel", "PixArtTransformer2DModel", {"sample_size": 16, "num_layers": 2, "patch_size": 2,
                                                              "attention_head_dim": 8, "num_attention_heads": 3,
                                                              "caption_channels": 32, "in_channels": 4,
                                                              "cross_attention_dim": 24, "out_channels": 8},
     {"hidden_states": _LATENT, "encoder_hidden_states": _TEXT_EMB, "timestep": _T}),
    ("SD3Transformer2DModel", "SD3Transformer2DModel", {"sample_size": 16, "patch_size": 2, "in_channels": 4, "num_layers": 2,
                                                        "attention_head_dim": 8, "num_attention_heads": 4,
                                                        "caption_projection_dim": 32, "joint_attention_dim": 32,
                                                        "pooled_projection_dim": 16, "out_channels": 4},
     {"hidden_states": _LATENT, "encoder_hidden_states": _TEXT_EMB, "pooled_projections": _randn((2, 16)), "timestep": _T}),
    ("PriorTransformer", "PriorTransformer", {"num_attention_heads": 2, "attention_head_dim": 8, "num_layers": 2,
                                              "embedding_dim": 16, "num_embeddings": 8, "additional_embeddings": 4},
     {"hidden_states": _randn((2, 16)), "timestep": _T, "proj_embedding": _randn((2, 16)),
      "encoder_hidden_states": _randn((2, 8, 16))}),
]
# fmt: on


def diffusers_models() -> Iterator[ZooModel]:
    import diffusers

    for name, class_name, kwargs, named in DIFFUSERS_MODELS:
        cls = getattr(diffusers, class_name)
        yield ZooModel(
            "diffusers",
            name,
            f"from diffusers import {class_name}",
            _call(class_name, kwargs),
            _positional(cls.forward, named),
        )


LIBRARIES: dict[str, Callable[[], Iterator[ZooModel]]] = {
    "transformers": transformers_models,
    "segmentation_models_pytorch": smp_models,
    "monai": monai_models,
    "diffusers": diffusers_models,
}

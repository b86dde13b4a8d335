"""Classify modules and functions into IR categories (``Op``) with their hyper-parameters.

Both engines call these with real (or meta) values, so the classification is the same whichever
engine saw the op. Library layers that torch does not ship (torchvision's StochasticDepth and
DropBlock, timm's DropPath and DropBlock) are recognised by qualified class name, so neither
library is imported here.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ir import Op, per_dim

# --- modules -----------------------------------------------------------------------------

_DROP_PATH_CLASSES = {
    "torchvision.ops.stochastic_depth.StochasticDepth",
    "timm.layers.drop.DropPath",
    "timm.models.layers.drop.DropPath",
}
_DROPBLOCK_CLASSES = {
    "torchvision.ops.drop_block.DropBlock2d",
    "torchvision.ops.drop_block.DropBlock3d",
    "timm.layers.drop.DropBlock2d",
    "timm.models.layers.drop.DropBlock2d",
}

# f(0) for activations: dropout's zeros stay zeros only where f(0) == 0.
_ACTIVATIONS: dict[type, float | None] = {
    nn.ReLU: 0.0, nn.ReLU6: 0.0, nn.LeakyReLU: 0.0, nn.PReLU: 0.0, nn.RReLU: 0.0, nn.ELU: 0.0,
    nn.SELU: 0.0, nn.CELU: 0.0, nn.GELU: 0.0, nn.SiLU: 0.0, nn.Mish: 0.0, nn.Hardswish: 0.0,
    nn.Hardtanh: 0.0, nn.Tanh: 0.0, nn.Softsign: 0.0, nn.Tanhshrink: 0.0, nn.Softshrink: 0.0,
    nn.Hardshrink: 0.0, nn.Sigmoid: 0.5, nn.Hardsigmoid: 0.5, nn.LogSigmoid: -math.log(2.0),
    nn.Softplus: None, nn.Threshold: None,
}  # fmt: skip

_POOLS = (
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd, nn.FractionalMaxPool2d, nn.FractionalMaxPool3d,
)  # fmt: skip

_PADS = tuple(
    c for c in (nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
                nn.modules.padding._ReplicationPadNd, getattr(nn.modules.padding, "_CircularPadNd", None))
    if c is not None
)  # fmt: skip
_RESAMPLES = (nn.Upsample,)  # UpsamplingNearest2d and UpsamplingBilinear2d subclass it
_MOVES = (nn.PixelShuffle, nn.PixelUnshuffle, nn.ChannelShuffle)

_OTHER_NORMS = tuple(c for c in (getattr(nn, "RMSNorm", None), nn.LocalResponseNorm, nn.CrossMapLRN2d) if c is not None)


def qualname(obj: Any) -> str:
    return (
        f"{getattr(obj, '__module__', None) or ''}.{getattr(obj, '__qualname__', getattr(obj, '__name__', repr(obj)))}"
    )


def _mro_names(cls: type) -> set[str]:
    return {qualname(c) for c in cls.__mro__}


def _drop_prob(m: nn.Module) -> float | None:
    for attr in ("p", "drop_prob", "drop_rate"):
        value = getattr(m, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def drop_module_kind(m: nn.Module) -> str | None:
    """DROP_PATH / DROPBLOCK for stochastic-depth and DropBlock layers from any library.

    Known classes match by name; a user's own class matches when its name says so *and* it holds
    a drop probability (and, for DropBlock, a ``block_size``), so that it is kept whole as a leaf.
    """
    names = _mro_names(type(m))
    if names & _DROP_PATH_CLASSES:
        return Op.DROP_PATH
    if names & _DROPBLOCK_CLASSES:
        return Op.DROPBLOCK
    lowered = type(m).__name__.lower()
    if _drop_prob(m) is None:
        return None
    if "dropblock" in lowered and hasattr(m, "block_size"):
        return Op.DROPBLOCK
    if "droppath" in lowered or "stochasticdepth" in lowered:
        return Op.DROP_PATH
    return None


_SHAPE_PRESERVING = (
    nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm,
    nn.modules.dropout._DropoutNd, nn.Identity, *(c for c in _ACTIVATIONS if c not in (nn.PReLU,)),
)  # fmt: skip


def preserves_shape(m: nn.Module) -> bool:
    """Leaf layers whose output has the shape and dtype of their single input."""
    return isinstance(m, _SHAPE_PRESERVING) and type(m).__module__.startswith("torch.nn.")


def is_leaf(m: nn.Module) -> bool:
    """Modules kept whole in the graph: torch's atomic layers and the drop-family layers.

    Composite torch modules (Sequential, TransformerEncoderLayer...) are traced through, so
    the dropouts and norms inside them are seen.
    """
    if isinstance(m, (nn.MultiheadAttention, nn.RNNBase)):
        return True
    if isinstance(m, torch.jit.ScriptModule):
        return True  # what is left scripted has no Python source (graph/scripted.py): one opaque node
    if drop_module_kind(m) is not None:
        return True
    module = type(m).__module__
    if module.startswith(("torch.nn.", "torch.ao.nn.")):
        return not isinstance(m, nn.Sequential) and next(m.children(), None) is None
    return False


def classify_module(m: nn.Module) -> tuple[str, dict[str, Any]]:
    """The category and hyper-parameters of a leaf module."""
    if isinstance(m, torch.jit.ScriptModule):
        return Op.OPAQUE, {}
    if isinstance(m, nn.modules.conv._ConvNd):
        return Op.CONV, {
            "in_channels": m.in_channels, "out_channels": m.out_channels,
            "kernel_size": tuple(m.kernel_size), "stride": tuple(m.stride), "groups": m.groups,
            "bias": m.bias is not None, "transposed": m.transposed, "dims": len(m.kernel_size),
            "padding": _padding_of(m.padding), "dilation": tuple(m.dilation), "padding_mode": m.padding_mode,
        }  # fmt: skip
    if isinstance(m, nn.modules.loss._Loss):  # nn.MSELoss(): a reduction over the batch unless reduction='none'
        return Op.REDUCE, {"reduction": m.reduction}
    if isinstance(m, nn.Linear):
        return Op.LINEAR, {"in_features": m.in_features, "out_features": m.out_features, "bias": m.bias is not None}
    if isinstance(m, nn.Bilinear):
        return Op.LINEAR, {"in_features": m.in1_features, "out_features": m.out_features, "bias": m.bias is not None}
    if isinstance(m, (nn.Embedding, nn.EmbeddingBag)):
        return Op.EMBEDDING, {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim}
    if isinstance(m, nn.MultiheadAttention):
        return Op.ATTENTION, {"embed_dim": m.embed_dim, "num_heads": m.num_heads, "p": float(m.dropout),
                              "batch_first": bool(m.batch_first)}  # fmt: skip
    if isinstance(m, nn.RNNBase):
        return Op.RNN, {"mode": m.mode, "hidden_size": m.hidden_size, "p": float(m.dropout),
                        "batch_first": bool(m.batch_first)}  # fmt: skip
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return Op.BATCHNORM, _norm_params(m)
    if isinstance(m, nn.modules.instancenorm._InstanceNorm):
        return Op.INSTANCENORM, _norm_params(m)
    if isinstance(m, nn.GroupNorm):
        return Op.GROUPNORM, {"num_groups": m.num_groups, "num_channels": m.num_channels, "affine": m.affine}
    if isinstance(m, nn.LayerNorm):
        return Op.LAYERNORM, {"normalized_shape": tuple(m.normalized_shape)}
    if _OTHER_NORMS and isinstance(m, _OTHER_NORMS):
        return Op.NORM, {}
    if isinstance(m, (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.FeatureAlphaDropout)):
        return Op.CHANNEL_DROPOUT, {"p": float(m.p), "training": m.training, "inplace": m.inplace,
                                    "alpha": isinstance(m, nn.FeatureAlphaDropout)}  # fmt: skip
    if isinstance(m, (nn.Dropout, nn.AlphaDropout)):
        return Op.DROPOUT, {"p": float(m.p), "training": m.training, "inplace": m.inplace,
                            "alpha": isinstance(m, nn.AlphaDropout)}  # fmt: skip
    drop_kind = drop_module_kind(m)
    if drop_kind is not None:
        params: dict[str, Any] = {"p": _drop_prob(m) or 0.0, "training": m.training}
        if hasattr(m, "block_size"):
            params["block_size"] = m.block_size
        return drop_kind, params
    for cls, at_zero in _ACTIVATIONS.items():
        if isinstance(m, cls):
            return Op.ACTIVATION, {"fn": cls.__name__.lower(), "at_zero": _module_at_zero(m, at_zero)}
    if isinstance(m, _POOLS):
        return Op.POOL, {"kind": type(m).__name__, "output_size": getattr(m, "output_size", None), **_window_of(m)}
    if isinstance(m, _PADS):
        return Op.PAD, _pad_module_params(m)
    if isinstance(m, (nn.Flatten, nn.Unflatten, nn.Fold, nn.Unfold)):
        return Op.RESHAPE, {}
    if isinstance(m, _RESAMPLES):
        return Op.RESAMPLE, {"mode": m.mode}
    if isinstance(m, _MOVES):
        return Op.PERMUTE, {}
    if isinstance(m, nn.GLU):
        return Op.ACTIVATION, {"fn": "glu", "at_zero": 0.0}
    if isinstance(m, nn.Identity):
        return Op.IDENTITY, {}
    if isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Softmin, nn.Softmax2d)):
        return Op.SOFTMAX, {"dim": -3 if isinstance(m, nn.Softmax2d) else m.dim}
    return Op.OTHER, {}


def _norm_params(m) -> dict[str, Any]:
    return {
        "num_features": m.num_features,
        "track_running_stats": bool(m.track_running_stats),
        "affine": bool(m.affine),
        "momentum": m.momentum,
    }


def _padding_of(padding: Any) -> tuple[int, ...] | str:
    """A conv's padding: a tuple per spatial dimension, or PyTorch's "same" / "valid"."""
    return padding if isinstance(padding, str) else tuple(int(p) for p in padding)


def _window_of(m: nn.Module) -> dict[str, Any]:
    """Kernel, stride, padding and dilation of a windowed pool (not the adaptive ones), as stored."""
    if not hasattr(m, "kernel_size") or not hasattr(m, "stride"):
        return {}
    return {"kernel_size": m.kernel_size, "stride": m.stride, "padding": getattr(m, "padding", 0),
            "dilation": getattr(m, "dilation", 1)}  # fmt: skip


def _pad_module_params(m: nn.Module) -> dict[str, Any]:
    """``pad`` in F.pad's order (last dimension first), ``mode`` and the constant ``value``."""
    if isinstance(m, nn.modules.padding._ConstantPadNd):
        mode, value = "constant", float(m.value)
    elif isinstance(m, nn.modules.padding._ReflectionPadNd):
        mode, value = "reflect", None
    elif isinstance(m, nn.modules.padding._ReplicationPadNd):
        mode, value = "replicate", None
    else:
        mode, value = "circular", None
    return {"pad": tuple(int(p) for p in m.padding), "mode": mode, "value": value}


def _module_at_zero(m: nn.Module, at_zero: float | None) -> float | None:
    if isinstance(m, nn.Softplus):
        return math.log(2.0) / m.beta
    if isinstance(m, nn.Threshold):
        return float(m.value) if m.threshold >= 0 else 0.0
    return at_zero


# --- functions and tensor methods --------------------------------------------------------

# (category, parameter names in positional order, defaults, extractor of hyper-parameters)
_Spec = tuple[str, tuple[str, ...], dict[str, Any], Callable[[dict[str, Any]], dict[str, Any]] | None]


def _shape(t) -> tuple[int, ...] | None:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else None


def _conv_params(transposed: bool):
    def extract(a: dict[str, Any]) -> dict[str, Any]:
        w = _shape(a.get("weight"))
        groups = a.get("groups", 1) if isinstance(a.get("groups", 1), int) else 1
        out_ch = (w[1] * groups if transposed else w[0]) if w else None
        dims = len(w) - 2 if w else None
        return {"out_channels": out_ch, "bias": a.get("bias") is not None, "groups": groups,
                "transposed": transposed, "dims": dims, "kernel_size": w[2:] if w else None,
                "in_channels": (w[0] if transposed else w[1] * groups) if w else None,
                "stride": per_dim(a.get("stride", 1), dims), "dilation": per_dim(a.get("dilation", 1), dims),
                "padding": a["padding"] if isinstance(a.get("padding"), str) else per_dim(a.get("padding", 0), dims),
                "padding_mode": "zeros"}  # fmt: skip

    return extract


def _pool_params(kind: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def extract(a: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": kind}
        if "adaptive" not in kind and "kernel_size" in a:
            stride = a.get("stride")
            out.update(kernel_size=a["kernel_size"], stride=stride if stride not in (None, [], ()) else a["kernel_size"],
                       padding=a.get("padding", 0), dilation=a.get("dilation", 1))  # fmt: skip
        return out

    return extract


def _pad_params(a: dict[str, Any]) -> dict[str, Any]:
    pad = a.get("pad")
    value = a.get("value")
    return {"pad": tuple(pad) if isinstance(pad, (tuple, list)) and all(isinstance(p, int) for p in pad) else None,
            "mode": a.get("mode", "constant"), "value": 0.0 if value is None else value}  # fmt: skip


def _linear_params(a: dict[str, Any]) -> dict[str, Any]:
    w = _shape(a.get("weight"))
    return {"in_features": w[-1] if w else None, "out_features": w[0] if w else None, "bias": a.get("bias") is not None}


def _dropout_params(a: dict[str, Any]) -> dict[str, Any]:
    p = a.get("p")
    return {"p": float(p) if isinstance(p, (int, float)) else None, "training": a.get("training"),
            "training_given": "training" in a.get("__given__", ())}  # fmt: skip


def _bn_params(a: dict[str, Any]) -> dict[str, Any]:
    x = _shape(a.get("input"))
    return {"num_features": x[1] if x and len(x) > 1 else None,
            "track_running_stats": a.get("running_mean") is not None, "affine": a.get("weight") is not None}  # fmt: skip


def _gn_params(a: dict[str, Any]) -> dict[str, Any]:
    x = _shape(a.get("input"))
    return {"num_groups": a.get("num_groups"), "num_channels": x[1] if x and len(x) > 1 else None}


_DROP = ("input", "p", "training", "inplace")
_FUNCTIONS: dict[Any, _Spec] = {
    F.linear: (Op.LINEAR, ("input", "weight", "bias"), {}, _linear_params),
    F.embedding: (Op.EMBEDDING, ("input", "weight"), {}, None),
    F.batch_norm: (
        Op.BATCHNORM,
        ("input", "running_mean", "running_var", "weight", "bias", "training"),
        {},
        _bn_params,
    ),
    F.instance_norm: (Op.INSTANCENORM, ("input", "running_mean", "running_var"), {}, _bn_params),
    F.group_norm: (Op.GROUPNORM, ("input", "num_groups", "weight", "bias"), {}, _gn_params),
    F.layer_norm: (Op.LAYERNORM, ("input", "normalized_shape"), {}, None),
    F.local_response_norm: (Op.NORM, ("input", "size"), {}, None),
    F.dropout: (Op.DROPOUT, _DROP, {"p": 0.5, "training": True}, _dropout_params),
    F.alpha_dropout: (Op.DROPOUT, _DROP, {"p": 0.5, "training": False}, _dropout_params),
    torch.dropout: (Op.DROPOUT, ("input", "p", "training"), {}, _dropout_params),
    torch.alpha_dropout: (Op.DROPOUT, ("input", "p", "training"), {}, _dropout_params),
    F.dropout1d: (Op.CHANNEL_DROPOUT, _DROP, {"p": 0.5, "training": True}, _dropout_params),
    F.dropout2d: (Op.CHANNEL_DROPOUT, _DROP, {"p": 0.5, "training": True}, _dropout_params),
    F.dropout3d: (Op.CHANNEL_DROPOUT, _DROP, {"p": 0.5, "training": True}, _dropout_params),
    F.feature_alpha_dropout: (Op.CHANNEL_DROPOUT, _DROP, {"p": 0.5, "training": False}, _dropout_params),
    torch.feature_dropout: (Op.CHANNEL_DROPOUT, ("input", "p", "training"), {}, _dropout_params),
    torch.feature_alpha_dropout: (Op.CHANNEL_DROPOUT, ("input", "p", "training"), {}, _dropout_params),
    F.scaled_dot_product_attention: (Op.ATTENTION, ("query", "key", "value", "attn_mask", "dropout_p"), {}, None),
    F.multi_head_attention_forward: (Op.ATTENTION, (), {}, None),
    torch.flatten: (Op.RESHAPE, (), {}, None),
    torch.reshape: (Op.RESHAPE, (), {}, None),
    torch.squeeze: (Op.RESHAPE, (), {}, None),
    torch.unsqueeze: (Op.RESHAPE, (), {}, None),
    torch.permute: (Op.PERMUTE, (), {}, None),
    torch.transpose: (Op.PERMUTE, (), {}, None),
    torch.movedim: (Op.PERMUTE, (), {}, None),
    torch.add: (Op.ADD, (), {}, None),
    torch.sub: (Op.ADD, (), {}, None),
    operator.add: (Op.ADD, (), {}, None),
    operator.iadd: (Op.ADD, (), {}, None),
    operator.sub: (Op.ADD, (), {}, None),
    operator.isub: (Op.ADD, (), {}, None),
    torch.mul: (Op.MUL, (), {}, None),
    torch.div: (Op.MUL, (), {}, None),
    operator.mul: (Op.MUL, (), {}, None),
    operator.imul: (Op.MUL, (), {}, None),
    operator.truediv: (Op.MUL, (), {}, None),
    operator.itruediv: (Op.MUL, (), {}, None),
    torch.cat: (Op.CAT, (), {}, None),
    torch.concat: (Op.CAT, (), {}, None),
    torch.stack: (Op.CAT, (), {}, None),
    torch.chunk: (Op.SPLIT, (), {}, None),
    torch.split: (Op.SPLIT, (), {}, None),
    torch.unbind: (Op.SPLIT, (), {}, None),
    operator.getitem: (Op.GETITEM, (), {}, None),
    torch.matmul: (Op.MATMUL, (), {}, None),
    torch.bmm: (Op.MATMUL, (), {}, None),
    torch.mm: (Op.MATMUL, (), {}, None),
    torch.einsum: (Op.MATMUL, (), {}, None),
    operator.matmul: (Op.MATMUL, (), {}, None),
    F.softmax: (Op.SOFTMAX, (), {}, None),
    F.log_softmax: (Op.SOFTMAX, (), {}, None),
    torch.softmax: (Op.SOFTMAX, (), {}, None),
    torch.clone: (Op.IDENTITY, (), {}, None),
    getattr: (Op.SHAPE, (), {}, None),  # fx records ``x.shape`` as getattr(x, "shape")
}
_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_T_ARGS = ("input", "weight", "bias", "stride", "padding", "output_padding", "groups")
for _conv in (F.conv1d, F.conv2d, F.conv3d):
    _FUNCTIONS[_conv] = (Op.CONV, _CONV_ARGS, {}, _conv_params(False))
for _conv in (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d):
    _FUNCTIONS[_conv] = (Op.CONV, _CONV_T_ARGS, {}, _conv_params(True))
for _pool in ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
              "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
              "adaptive_max_pool2d", "adaptive_max_pool3d", "lp_pool1d", "lp_pool2d"):  # fmt: skip
    _names = ("input", "output_size") if _pool.startswith("adaptive") else (
        ("input", "norm_type", "kernel_size", "stride") if _pool.startswith("lp") else
        ("input", "kernel_size", "stride", "padding") + (("dilation",) if _pool.startswith("max") else ()))  # fmt: skip
    _FUNCTIONS[getattr(F, _pool)] = (Op.POOL, _names, {}, _pool_params(_pool))
    if hasattr(torch, _pool):
        _FUNCTIONS[getattr(torch, _pool)] = (Op.POOL, _names, {}, _pool_params(_pool))
_FUNCTIONS[F.pad] = (Op.PAD, ("input", "pad", "mode", "value"), {}, _pad_params)

for _name in ("rand", "rand_like", "randn", "randn_like", "bernoulli", "randint", "randint_like", "randperm",
              "multinomial", "normal", "poisson"):  # fmt: skip
    _FUNCTIONS[getattr(torch, _name)] = (Op.RANDOM, (), {}, None)


def _hashable(fn: Any) -> bool:
    try:
        hash(fn)
    except TypeError:
        return False
    return True


def _register(op: str, names: str, *namespaces: Any) -> None:
    """Add every function ``names`` (space-separated) found in ``namespaces`` to the table as ``op``."""
    for name in names.split():
        for namespace in namespaces:
            fn = getattr(namespace, name, None)
            if fn is not None and _hashable(fn):
                _FUNCTIONS.setdefault(fn, (op, (), {}, None))


# What a path walk must see through or recognise: every torch function that the torchvision zoo
# and a timm sample use is classified (tests/test_op_coverage.py), so that no walk stops at "other".
_register(Op.PAD, "pad constant_pad_nd", F, torch)
_register(Op.RESAMPLE, "interpolate upsample upsample_nearest upsample_bilinear grid_sample", F)
_register(Op.PERMUTE, "roll flip fliplr flipud rot90 swapaxes swapdims moveaxis pixel_shuffle pixel_unshuffle "
          "channel_shuffle native_channel_shuffle", torch, F)  # fmt: skip
_register(Op.RESHAPE, "broadcast_to tile repeat_interleave ravel unflatten atleast_2d atleast_3d unfold fold", torch, F)
_register(Op.GETITEM, "gather index_select masked_select take take_along_dim narrow select scatter scatter_add "
          "index_add index_copy index_fill index_put", torch)  # fmt: skip
_register(Op.GETITEM, "setitem", operator)
_register(Op.CAT, "hstack vstack dstack column_stack concatenate", torch)
_register(Op.SPLIT, "tensor_split hsplit vsplit dsplit split_with_sizes", torch)
_register(Op.MATMUL, "baddbmm addmm addbmm addmv mv dot outer tensordot", torch)
_register(Op.LINEAR, "bilinear", F)
_register(Op.NORM, "normalize rms_norm", F)
_register(Op.SOFTMAX, "softmin gumbel_softmax", F)
_register(Op.REDUCE, "mean sum amax amin max min std var std_mean var_mean prod norm logsumexp argmax argmin median "
          "mode all any count_nonzero nansum nanmean topk sort argsort kthvalue", torch)  # fmt: skip
_register(Op.REDUCE, "norm vector_norm matrix_norm", torch.linalg)
_register(Op.REDUCE, "cross_entropy nll_loss mse_loss l1_loss smooth_l1_loss huber_loss binary_cross_entropy "
          "binary_cross_entropy_with_logits kl_div cosine_embedding_loss poisson_nll_loss gaussian_nll_loss "
          "margin_ranking_loss hinge_embedding_loss multilabel_margin_loss soft_margin_loss "
          "multilabel_soft_margin_loss multi_margin_loss triplet_margin_loss triplet_margin_with_distance_loss "
          "ctc_loss", F)  # fmt: skip
_register(Op.MATH, "abs neg negative exp exp2 log log2 log10 log1p expm1 sqrt rsqrt pow float_power square "
          "reciprocal sign sgn floor ceil round trunc frac clamp clip clamp_min clamp_max sin cos tan asin acos "
          "atan atan2 sinh cosh erf erfc erfinv where masked_fill lerp addcmul addcdiv maximum minimum fmax fmin "
          "eq ne lt le gt ge greater less greater_equal less_equal logical_and logical_or logical_not logical_xor "
          "isnan isinf isfinite nan_to_num cumsum cumprod cummax diff fmod remainder floor_divide triu tril diag "
          "diagonal cross cdist meshgrid nonzero logit", torch)  # fmt: skip
_register(Op.MATH, "cosine_similarity pairwise_distance", F)
_register(Op.MATH, "neg pos pow ipow floordiv ifloordiv mod lt le gt ge eq ne and_ or_ xor invert abs", operator)
_register(Op.MUL, "true_divide multiply divide", torch)
_register(Op.ADD, "rsub subtract", torch)
_register(Op.CONSTANT, "zeros ones full empty arange linspace logspace eye tensor as_tensor scalar_tensor zeros_like "
          "ones_like full_like empty_like empty_strided tril_indices triu_indices", torch)  # fmt: skip
_register(Op.CONSTANT, "one_hot", F)
_register(Op.IDENTITY, "detach", torch)

for _fn in (F.alpha_dropout, torch.alpha_dropout, F.feature_alpha_dropout, torch.feature_alpha_dropout):
    _op, _names, _defaults, _extract = _FUNCTIONS[_fn]
    _FUNCTIONS[_fn] = (_op, _names, _defaults, lambda a, e=_extract: {**e(a), "alpha": True})

# Activation functions and their value at zero.
_ACT_FUNCTIONS: dict[Any, float | None] = {
    F.relu: 0.0, F.relu_: 0.0, torch.relu: 0.0, torch.relu_: 0.0, F.relu6: 0.0, F.leaky_relu: 0.0,
    F.elu: 0.0, F.selu: 0.0, torch.selu: 0.0, F.celu: 0.0, F.gelu: 0.0, F.silu: 0.0, F.mish: 0.0,
    F.hardswish: 0.0, F.hardtanh: 0.0, torch.tanh: 0.0, F.tanh: 0.0, F.softsign: 0.0, F.prelu: 0.0,
    torch.sigmoid: 0.5, F.sigmoid: 0.5, F.hardsigmoid: 0.5, F.logsigmoid: -math.log(2.0),
    F.softplus: math.log(2.0), F.glu: 0.0, F.rrelu: 0.0, F.tanhshrink: 0.0, F.softshrink: 0.0, F.hardshrink: 0.0,
    F.leaky_relu_: 0.0, F.elu_: 0.0, F.hardtanh_: 0.0, F.rrelu_: 0.0, torch.tanh_: 0.0, torch.sigmoid_: 0.5,
    F.threshold: None,
}  # fmt: skip

# Library functions matched by qualified name, so that the library is not imported.
_NAMED_FUNCTIONS: dict[str, _Spec] = {
    "torchvision.ops.stochastic_depth.stochastic_depth": (
        Op.DROP_PATH, ("input", "p", "mode", "training"), {"training": True}, _dropout_params),
    "timm.layers.drop.drop_path": (Op.DROP_PATH, ("x", "p", "training"), {"p": 0.0, "training": False}, _dropout_params),
    "timm.models.layers.drop.drop_path": (Op.DROP_PATH, ("x", "p", "training"), {"p": 0.0, "training": False}, _dropout_params),
    "torchvision.ops.drop_block.drop_block2d": (
        Op.DROPBLOCK, ("input", "p", "block_size", "inplace", "eps", "training"), {"training": True}, _dropout_params),
    "torchvision.ops.drop_block.drop_block3d": (
        Op.DROPBLOCK, ("input", "p", "block_size", "inplace", "eps", "training"), {"training": True}, _dropout_params),
}  # fmt: skip

#: Tensor methods through which forward takes a Python decision on a value (recorded at runtime).
CONTROL_METHODS = ("__bool__", "item", "__int__", "__float__", "__index__", "tolist")
#: Functions and methods that compare tensors into a Python bool: as much a decision as ``bool(x)``.
_DECISION_FUNCTIONS = tuple(getattr(torch, n) for n in ("equal", "allclose", "is_nonzero"))
DECISION_METHODS = ("equal", "allclose", "is_nonzero")

_METHODS: dict[str, str] = {
    **dict.fromkeys(("view", "reshape", "flatten", "view_as", "reshape_as", "squeeze", "unsqueeze", "unflatten",
                     "squeeze_", "unsqueeze_"), Op.RESHAPE),
    **dict.fromkeys(("permute", "transpose", "t", "movedim", "swapaxes", "mT"), Op.PERMUTE),
    **dict.fromkeys(("add", "add_", "sub", "sub_", "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__",
                     "__isub__"), Op.ADD),
    **dict.fromkeys(("mul", "mul_", "div", "div_", "__mul__", "__rmul__", "__imul__", "__truediv__",
                     "__rtruediv__", "__itruediv__"), Op.MUL),
    **dict.fromkeys(("chunk", "split", "unbind", "tensor_split"), Op.SPLIT),
    **dict.fromkeys(("__getitem__",), Op.GETITEM),
    **dict.fromkeys(("matmul", "bmm", "mm", "__matmul__", "__rmatmul__"), Op.MATMUL),
    **dict.fromkeys(("softmax", "log_softmax"), Op.SOFTMAX),
    **dict.fromkeys(("contiguous", "clone", "float", "half", "double", "bfloat16", "to", "type", "detach",
                     "type_as", "requires_grad_"), Op.IDENTITY),
    **dict.fromkeys(("size", "dim", "numel", "shape", "ndim", "ndimension", "stride", "device", "dtype",
                     "is_contiguous", "data_ptr", "element_size", "get_device"), Op.SHAPE),
    **dict.fromkeys(("bernoulli", "bernoulli_", "uniform_", "normal_", "random_", "exponential_", "geometric_",
                     "cauchy_", "log_normal_"), Op.RANDOM),
    **dict.fromkeys(CONTROL_METHODS + DECISION_METHODS, Op.CONTROL),
    **dict.fromkeys(("expand", "expand_as", "repeat", "tile", "repeat_interleave", "broadcast_to", "ravel", "unfold",
                     "view_as_real", "resize_", "resize_as_"), Op.RESHAPE),
    **dict.fromkeys(("roll", "flip", "fliplr", "flipud", "rot90", "swapdims", "moveaxis", "T", "transpose_", "t_",
                     "permute_"), Op.PERMUTE),
    **dict.fromkeys(("gather", "index_select", "masked_select", "take", "take_along_dim", "narrow", "select",
                     "__setitem__", "scatter", "scatter_", "scatter_add", "scatter_add_", "index_add", "index_add_",
                     "index_put", "index_put_", "index_fill", "index_fill_", "index_copy", "index_copy_",
                     "masked_scatter", "masked_scatter_"), Op.GETITEM),
    **dict.fromkeys(("hsplit", "vsplit", "split_with_sizes"), Op.SPLIT),
    **dict.fromkeys(("baddbmm", "addmm", "addbmm", "addmv", "mv", "dot", "outer", "baddbmm_", "addmm_"), Op.MATMUL),
    **dict.fromkeys(("true_divide", "true_divide_", "multiply", "divide", "__div__", "__rdiv__", "__idiv__"),
                    Op.MUL),
    **dict.fromkeys(("rsub", "subtract", "sum_to_size"), Op.ADD),
    **dict.fromkeys(("mean", "sum", "amax", "amin", "max", "min", "std", "var", "prod", "norm", "logsumexp", "argmax",
                     "argmin", "median", "mode", "all", "any", "count_nonzero", "nansum", "nanmean", "topk", "sort",
                     "argsort", "kthvalue"), Op.REDUCE),
    **dict.fromkeys((
        "abs", "abs_", "neg", "neg_", "negative", "exp", "exp_", "exp2", "log", "log_", "log2", "log10", "log1p",
        "expm1", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "pow", "pow_", "float_power", "square", "square_", "reciprocal",
        "reciprocal_", "sign", "sgn", "floor", "floor_", "ceil", "ceil_", "round", "round_", "trunc", "frac", "clamp",
        "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_", "sin", "sin_", "cos", "cos_",
        "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "erf", "erf_", "erfc", "erfinv", "where", "masked_fill",
        "masked_fill_", "lerp", "lerp_", "addcmul", "addcmul_", "addcdiv", "addcdiv_", "maximum", "minimum", "fmax",
        "fmin", "eq", "ne", "lt", "le", "gt", "ge", "eq_", "ne_", "lt_", "le_", "gt_", "ge_", "logical_and",
        "logical_or", "logical_not", "logical_xor", "isnan", "isinf", "isfinite", "nan_to_num", "nan_to_num_",
        "cumsum", "cumsum_", "cumprod", "cummax", "diff", "fmod", "remainder", "floor_divide", "triu", "triu_",
        "tril", "tril_", "diag", "diagonal", "cross", "nonzero", "logit", "__eq__", "__ne__", "__lt__", "__le__",
        "__gt__", "__ge__", "__neg__", "__pos__", "__abs__", "__pow__", "__rpow__", "__ipow__", "__floordiv__",
        "__rfloordiv__", "__ifloordiv__", "__mod__", "__rmod__", "__imod__", "__and__", "__rand__", "__iand__",
        "__or__", "__ror__", "__ior__", "__xor__", "__rxor__", "__ixor__", "__invert__", "__lshift__", "__rshift__",
        "fill_diagonal_"), Op.MATH),
    **dict.fromkeys(("new_zeros", "new_ones", "new_full", "new_empty", "new_tensor", "zero_", "fill_"), Op.CONSTANT),
    **dict.fromkeys(("cpu", "cuda", "long", "int", "bool", "short", "byte", "char", "detach_", "copy_", "as_subclass",
                     "pin_memory", "to_dense", "coalesce", "requires_grad", "retain_grad", "cfloat", "cdouble"),
                    Op.IDENTITY),
    **dict.fromkeys(("nelement", "is_floating_point", "is_complex", "storage_offset", "untyped_storage", "names",
                     "layout", "is_cuda", "is_meta", "is_sparse", "__len__"), Op.SHAPE),
}  # fmt: skip
_METHOD_ACTIVATIONS: dict[str, float | None] = {
    "relu": 0.0, "relu_": 0.0, "tanh": 0.0, "tanh_": 0.0, "sigmoid": 0.5, "sigmoid_": 0.5, "hardtanh": 0.0,
    "hardtanh_": 0.0, "leaky_relu": 0.0, "leaky_relu_": 0.0, "elu": 0.0, "elu_": 0.0, "gelu": 0.0, "silu": 0.0,
    "mish": 0.0, "hardswish": 0.0, "relu6": 0.0, "selu": 0.0, "selu_": 0.0, "celu": 0.0, "hardsigmoid": 0.5,
    "log_sigmoid": -math.log(2.0),
}  # fmt: skip


def _bind(names: tuple[str, ...], defaults: dict[str, Any], args, kwargs) -> dict[str, Any]:
    bound = dict(defaults)
    bound.update(zip(names, args))
    bound.update(kwargs)
    bound["__given__"] = tuple(names[: len(args)]) + tuple(kwargs)
    return bound


def classify_function(fn: Any, args: tuple, kwargs: dict) -> tuple[str, str, dict[str, Any]]:
    """``(category, target name, hyper-parameters)`` of a call to ``fn``."""
    spec = _FUNCTIONS.get(fn) if _hashable(fn) else None
    name = qualname(fn)
    if spec is None:
        spec = _NAMED_FUNCTIONS.get(name)
    if spec is not None:
        op, names, defaults, extract = spec
        params = extract(_bind(names, defaults, args, kwargs)) if extract else {}
        if op == Op.SHAPE and fn is getattr and len(args) > 1 and args[1] not in ("shape", "ndim", "device", "dtype"):
            op = Op.OTHER
        return op, _function_name(fn, name), params
    if _hashable(fn) and fn in _ACT_FUNCTIONS:
        at_zero = _ACT_FUNCTIONS[fn]
        if fn is F.softplus:
            beta = kwargs.get("beta", args[1] if len(args) > 1 else 1.0)
            at_zero = math.log(2.0) / beta if isinstance(beta, (int, float)) and beta else None
        return Op.ACTIVATION, _function_name(fn, name), {"fn": getattr(fn, "__name__", name), "at_zero": at_zero}
    if is_decision(fn, None):
        return Op.CONTROL, _function_name(fn, name), {}
    opname = getattr(fn, "_opname", None) if type(fn).__name__ in ("OpOverload", "OpOverloadPacket") else None
    if isinstance(opname, str):  # aten::mul, prims::mul: a decomposition that ran (TorchScript on meta)
        op, params = classify_method(opname)
        if op not in (Op.OTHER, Op.CONTROL):
            return op, f"torch.ops.{fn}", params
        torch_fn = getattr(torch, opname, None)
        if torch_fn is not None and torch_fn is not fn:
            return classify_function(torch_fn, args, kwargs)[0], f"torch.ops.{fn}", {}
    return Op.OTHER, _function_name(fn, name), {}


def classify_method(method: str) -> tuple[str, dict[str, Any]]:
    if method in _METHOD_ACTIVATIONS:
        return Op.ACTIVATION, {"fn": method.rstrip("_"), "at_zero": _METHOD_ACTIVATIONS[method]}
    return _METHODS.get(method, Op.OTHER), {}


def _function_name(fn: Any, name: str) -> str:
    """``torch.nn.functional.dropout``, ``torch.cat``, ``operator.add``: the name users write."""
    module = getattr(fn, "__module__", None) or ""
    short = getattr(fn, "__name__", name)
    if module.startswith("torch.nn.functional") or module == "torch._C._nn":
        return f"torch.nn.functional.{short}"
    if module in ("torch", "torch._C._VariableFunctions") or name.startswith("._VariableFunctionsClass"):
        return f"torch.{short}"
    if module in ("_operator", "operator"):
        return f"operator.{short}"
    if module == "builtins":
        return short
    return name.lstrip(".")


def is_random(fn: Any, method: str | None) -> bool:
    """A random draw: ``torch.rand``, ``torch.bernoulli``, ``x.bernoulli_()``..."""
    if method is not None:
        return _METHODS.get(method) == Op.RANDOM
    return _hashable(fn) and _FUNCTIONS.get(fn, (None,))[0] == Op.RANDOM


def is_decision(fn: Any, method: str | None) -> bool:
    """A comparison that hands Python a bool (``torch.equal(a, b)``, ``x.allclose(y)``): forward decides on it."""
    if method is not None:
        return method in DECISION_METHODS
    return _hashable(fn) and fn in _DECISION_FUNCTIONS


def is_functional_dropout(fn: Any) -> bool:
    """``F.dropout``, ``F.dropout2d``, ``torch.dropout``...: a dropout whose mode is an argument."""
    return _hashable(fn) and _FUNCTIONS.get(fn, (None,))[0] in (Op.DROPOUT, Op.CHANNEL_DROPOUT)


# Ops whose output size depends on the values of their input (what meta tensors cannot run): the
# tokens a router sends to one expert (``torch.where(mask)``, ``mask.nonzero()``, ``x[mask]``).
_VALUE_SIZED = frozenset({"nonzero", "argwhere", "masked_select", "unique", "unique_consecutive", "bincount"})


def is_value_sized(fn: Any, method: str | None, args: tuple) -> bool:
    """An op whose output size the input's values decide: ``nonzero``, one-argument ``where``, a boolean index."""
    name = method if method is not None else getattr(fn, "__name__", "")
    if name in _VALUE_SIZED:
        return True
    if name == "where":
        return len(args) == 1
    if name == "__getitem__" and len(args) > 1:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        return any(isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in index)
    return False

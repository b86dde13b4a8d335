"""netlint's own shape functions for the common layers and ops, on meta tensors.

Two reasons not to call PyTorch's meta kernels for these:
- PyTorch's checks still have to happen: a ``BatchNorm2d(16)`` after an 8-channel conv fails in
  PyTorch, so it fails here, with a message that names both sizes.
- Speed: the first meta kernel a process runs imports ``torch._dynamo``, sympy and the symbolic
  shapes machinery (about a second, more than the rest of a pre-commit check).

Every function returns ``None`` for what it does not handle (a subclass with its own forward, a
real tensor, mixed dtypes, an unusual argument): the caller then runs the op itself. Outputs are
made with ``torch.empty(..., device="meta")``, which needs no kernel.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils._pytree import tree_leaves

from . import ops
from .ir import per_dim, shape_str

Shape = tuple[int, ...]


class ShapeMismatch(RuntimeError):
    """A layer or op given an input that PyTorch would reject (wrong channels, wrong rank).

    ``any_size``: another input size could make it fit (a Linear after a flatten, a kernel larger
    than a small input); a channel count that does not match is the model's own error.
    """

    def __init__(self, message: str, any_size: bool = False):
        super().__init__(message)
        self.any_size = any_size


def _meta(*tensors: Any) -> bool:
    return all(isinstance(t, torch.Tensor) and t.is_meta for t in tensors)


def _empty(shape: Sequence[int], like: torch.Tensor) -> torch.Tensor:
    return torch.empty(tuple(shape), dtype=like.dtype, device="meta")


def _torch_layer(m: nn.Module, kinds: type | tuple[type, ...]) -> bool:
    """A layer of torch.nn itself (not a subclass with its own forward, not a lazy layer)."""
    return (
        isinstance(m, kinds)
        and type(m).__module__.startswith("torch.nn.")
        and not isinstance(m, nn.modules.lazy.LazyModuleMixin)
    )


def _name(m: nn.Module) -> str:
    return type(m).__name__


# -- checks that PyTorch makes, for every engine --------------------------------------------------
def check_module(m: nn.Module, args: tuple) -> None:
    """Raise ShapeMismatch where PyTorch would reject ``m(*args)`` for its input's shape."""
    if not args or not isinstance(args[0], torch.Tensor) or not _torch_layer(m, _CHECKED):
        return
    x = args[0]
    for kinds, check in _CHECKS:
        if isinstance(m, kinds):
            check(m, tuple(x.shape))
            return


def _feature_dim(x: Shape, batched_rank: int) -> int:
    """The channel axis: 1 for a batched input, 0 for an unbatched one (one dim fewer)."""
    return 1 if len(x) == batched_rank else 0


def _check_batchnorm(m: nn.modules.batchnorm._BatchNorm, x: Shape) -> None:
    ranks = {nn.BatchNorm1d: (2, 3), nn.BatchNorm2d: (4,), nn.BatchNorm3d: (5,)}.get(type(m), ())
    if ranks and len(x) not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ShapeMismatch(f"{_name(m)} expects a {want} input, got {shape_str(x)} ({len(x)}-D)")
    if len(x) < 2:
        raise ShapeMismatch(f"{_name(m)} expects an input with a batch and a channel axis, got {shape_str(x)}")
    sized = [t.numel() for t in (m.weight, m.running_mean) if isinstance(t, torch.Tensor)]
    if any(n != x[1] for n in sized):  # PyTorch compares the weights and running statistics it has
        raise ShapeMismatch(
            f"{_name(m)}({m.num_features}) expects {m.num_features} channels, but its input {shape_str(x)} has {x[1]}"
        )
    batch_stats = m.training or (m.running_mean is None and m.running_var is None)
    if batch_stats and math.prod(x) == x[1]:
        raise ShapeMismatch(
            f"{_name(m)} in training needs more than 1 value per channel, got input {shape_str(x)}", any_size=True
        )


def _check_instancenorm(m: nn.modules.instancenorm._InstanceNorm, x: Shape) -> None:
    batched = {nn.InstanceNorm1d: 3, nn.InstanceNorm2d: 4, nn.InstanceNorm3d: 5}.get(type(m))
    if batched is None:
        return
    if len(x) not in (batched - 1, batched):
        raise ShapeMismatch(
            f"{_name(m)} expects a {batched - 1}-D (unbatched) or {batched}-D input, got {shape_str(x)}"
        )
    channels = x[_feature_dim(x, batched)]
    sized = m.affine or m.running_mean is not None  # with neither, PyTorch only warns
    if sized and channels != m.num_features:
        raise ShapeMismatch(
            f"{_name(m)}({m.num_features}) expects {m.num_features} channels, but its input {shape_str(x)} has {channels}"
        )
    input_stats = m.training or not m.track_running_stats
    if input_stats and math.prod(x[len(x) - batched + 2 :]) == 1:
        raise ShapeMismatch(f"{_name(m)} needs more than 1 spatial element, got input {shape_str(x)}", any_size=True)


def _check_groupnorm(m: nn.GroupNorm, x: Shape) -> None:
    if len(x) < 2:
        raise ShapeMismatch(f"GroupNorm expects an input with a batch and a channel axis, got {shape_str(x)}")
    if x[1] % m.num_groups:
        raise ShapeMismatch(
            f"GroupNorm({m.num_groups}, {m.num_channels}): {m.num_groups} groups do not divide the "
            f"{x[1]} channels of its input {shape_str(x)}"
        )
    if m.affine and x[1] != m.num_channels:
        raise ShapeMismatch(
            f"GroupNorm({m.num_groups}, {m.num_channels}) expects {m.num_channels} channels, "
            f"but its input {shape_str(x)} has {x[1]}"
        )
    if x[0] * x[1] // m.num_groups * math.prod(x[2:]) == 1:
        raise ShapeMismatch(f"GroupNorm needs more than 1 value per group, got input {shape_str(x)}", any_size=True)


def _check_last_dims(m: nn.Module, x: Shape) -> None:
    """LayerNorm and RMSNorm normalise the trailing ``normalized_shape`` axes."""
    norm = tuple(m.normalized_shape)
    if len(x) < len(norm) or tuple(x[len(x) - len(norm) :]) != norm:
        raise ShapeMismatch(
            f"{_name(m)}({', '.join(map(str, norm))}) expects an input ending in {shape_str(norm)}, "
            f"but its input is {shape_str(x)}"
        )


def _check_conv(m: nn.modules.conv._ConvNd, x: Shape) -> None:
    dims = len(m.kernel_size)
    if len(x) not in (dims + 1, dims + 2):
        raise ShapeMismatch(
            f"{_name(m)} expects a {dims + 1}-D (unbatched) or {dims + 2}-D input, got {shape_str(x)} ({len(x)}-D)"
        )
    channels = x[-dims - 1]
    if channels != m.in_channels:
        raise ShapeMismatch(
            f"{_name(m)}({m.in_channels}, {m.out_channels}) expects {m.in_channels} input channels, "
            f"but its input {shape_str(x)} has {channels}"
        )


def _check_linear(m: nn.Linear, x: Shape) -> None:
    if not x or x[-1] != m.in_features:
        got = x[-1] if x else "none"
        raise ShapeMismatch(
            f"Linear({m.in_features}, {m.out_features}) expects {m.in_features} input features, "
            f"but its input {shape_str(x)} has {got}",
            any_size=True,
        )


_CHECKS: list[tuple[Any, Callable[[Any, Shape], None]]] = [
    (nn.modules.batchnorm._BatchNorm, _check_batchnorm),
    (nn.modules.instancenorm._InstanceNorm, _check_instancenorm),
    (nn.GroupNorm, _check_groupnorm),
    ((nn.LayerNorm, nn.RMSNorm), _check_last_dims),
    (nn.modules.conv._ConvNd, _check_conv),
    (nn.Linear, _check_linear),
]
_CHECKED = tuple(k for kinds, _ in _CHECKS for k in (kinds if isinstance(kinds, tuple) else (kinds,)))


def as_output(value: torch.Tensor, inputs: Any) -> torch.Tensor:
    """A shape function's meta tensor as autograd sees the real op's output: a non-leaf that requires grad
    when grad is enabled and some input (or the layer's parameter) does. NL012 reads autograd's view."""
    trainable = any(isinstance(t, torch.Tensor) and t.requires_grad for t in tree_leaves(inputs))
    if trainable and torch.is_grad_enabled() and value.is_floating_point():
        return value.requires_grad_().clone()
    return value


# -- output shapes of whole layers, on meta --------------------------------------------------------
def module_output(m: nn.Module, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """Check ``m(x)`` and return a meta tensor of its output's shape; None if not handled here."""
    if len(args) != 1 or kwargs or not _meta(args[0]) or not type(m).__module__.startswith("torch.nn."):
        return None
    if isinstance(m, nn.modules.lazy.LazyModuleMixin):
        return None
    tensors = [*m.parameters(recurse=False), *m.buffers(recurse=False)]
    x = args[0]
    if type(m) is nn.Embedding:  # integer indices in, the weight's dtype out
        if x.dtype not in (torch.int64, torch.int32) or not _meta(m.weight):
            return None
        return torch.empty((*x.shape, m.embedding_dim), dtype=m.weight.dtype, device="meta")
    if not _meta(*tensors) or any(t.dtype != x.dtype for t in tensors if t.is_floating_point()):
        return None  # a dtype mismatch: let PyTorch raise its own error
    check_module(m, args)
    if isinstance(m, _SAME_SHAPE) or ops.preserves_shape(m):
        return _empty(x.shape, x) if x.is_floating_point() else None
    for kinds, fn in _OUTPUTS:
        if isinstance(m, kinds):
            shape = fn(m, tuple(x.shape))
            return None if shape is None else _empty(shape, x)
    return None


def _conv_shape(m: nn.modules.conv._ConvNd, x: Shape) -> Shape | None:
    dims = len(m.kernel_size)
    spatial = x[-dims:]
    out = []
    for i, size in enumerate(spatial):
        k, s, d = m.kernel_size[i], m.stride[i], m.dilation[i]
        reach = d * (k - 1) + 1
        if m.transposed:
            if isinstance(m.padding, str):
                return None
            out.append((size - 1) * s - 2 * m.padding[i] + reach - 1 + m.output_padding[i] + 1)
            continue
        if m.padding == "same":
            out.append(size)
            continue
        pad = 0 if m.padding == "valid" else m.padding[i]
        if m.padding_mode != "zeros" and pad > size:
            return None  # circular or reflect padding larger than the input: PyTorch's own error
        if size + 2 * pad < reach:
            raise ShapeMismatch(
                f"{_name(m)} with kernel {shape_str(m.kernel_size)} (dilation {d}) does not fit its input "
                f"{shape_str(x)}: the padded size per channel is {size + 2 * pad}, the kernel spans {reach}",
                any_size=True,
            )
        out.append((size + 2 * pad - reach) // s + 1)
    return (*x[: -dims - 1], m.out_channels, *out)


def _linear_shape(m: nn.Linear, x: Shape) -> Shape:
    return (*x[:-1], m.out_features)


def _pool_window(m: nn.Module, x: Shape, dims: int) -> Shape | None:
    if getattr(m, "return_indices", False) or len(x) not in (dims + 1, dims + 2):
        return None
    k = per_dim(m.kernel_size, dims)
    s = per_dim(m.stride if m.stride is not None else m.kernel_size, dims)
    p = per_dim(m.padding, dims)
    d = per_dim(getattr(m, "dilation", 1), dims)
    if k is None or s is None or p is None or d is None:
        return None
    out = []
    for i, size in enumerate(x[-dims:]):
        if p[i] * 2 > k[i]:
            return None  # PyTorch rejects it: its own message is the clearest
        reach = d[i] * (k[i] - 1) + 1
        span = size + 2 * p[i] - reach
        if span < 0:
            return None
        n = (span + (s[i] - 1 if m.ceil_mode else 0)) // s[i] + 1
        if m.ceil_mode and (n - 1) * s[i] >= size + p[i]:
            n -= 1  # the last window must start inside the input or its left padding
        out.append(n)
    return (*x[:-dims], *out)


def _adaptive(m: nn.Module, x: Shape, dims: int) -> Shape | None:
    if getattr(m, "return_indices", False) or len(x) not in (dims + 1, dims + 2):
        return None
    size = per_dim(m.output_size, dims, none=True)
    if size is None:
        return None
    return (*x[:-dims], *(x[len(x) - dims + i] if v is None else v for i, v in enumerate(size)))


def _flatten(m: nn.Flatten, x: Shape) -> Shape | None:
    return _flatten_shape(x, m.start_dim, m.end_dim)


def _pools() -> list[tuple[Any, Callable[[Any, Shape], Shape | None]]]:
    out: list[tuple[Any, Callable[[Any, Shape], Shape | None]]] = []
    for dims in (1, 2, 3):
        window = (getattr(nn, f"MaxPool{dims}d"), getattr(nn, f"AvgPool{dims}d"))
        adaptive = (getattr(nn, f"AdaptiveAvgPool{dims}d"), getattr(nn, f"AdaptiveMaxPool{dims}d"))
        out.append((window, lambda m, x, d=dims: _pool_window(m, x, d)))
        out.append((adaptive, lambda m, x, d=dims: _adaptive(m, x, d)))
    return out


_OUTPUTS: list[tuple[Any, Callable[[Any, Shape], Shape | None]]] = [
    (nn.modules.conv._ConvNd, _conv_shape),
    (nn.Linear, _linear_shape),
    (nn.Flatten, _flatten),
    *_pools(),
]

_SAME_SHAPE = (
    nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.LayerNorm, nn.RMSNorm,
    nn.modules.dropout._DropoutNd, nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Hardswish, nn.Hardtanh, nn.Tanh, nn.Sigmoid, nn.Hardsigmoid, nn.Softplus, nn.Softsign,
    nn.Softmax, nn.LogSoftmax,
)  # fmt: skip


# -- functions and tensor methods ------------------------------------------------------------------
def _flatten_shape(x: Shape, start: int = 0, end: int = -1) -> Shape | None:
    if not x:
        return (1,)
    if not (-len(x) <= start < len(x) and -len(x) <= end < len(x)):
        return None
    start, end = start % len(x), end % len(x)
    if start > end:
        return None
    return (*x[:start], math.prod(x[start : end + 1]), *x[end + 1 :])


def broadcast(a: Shape, b: Shape) -> Shape:
    """numpy/PyTorch broadcasting, with PyTorch's message when the shapes do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        p = a[-i] if i <= len(a) else 1
        q = b[-i] if i <= len(b) else 1
        if p != q and 1 not in (p, q):
            dim = max(len(a), len(b)) - i
            raise ShapeMismatch(
                f"The size of tensor a ({p}) must match the size of tensor b ({q}) at non-singleton dimension {dim}"
            )
        out.append(q if p == 1 else p)
    return tuple(reversed(out))


def _binary(a: Any, b: Any) -> torch.Tensor | None:
    """``a + b`` and friends for float tensors of one dtype, or a float tensor and a Python number."""
    tensors = [t for t in (a, b) if isinstance(t, torch.Tensor)]
    others = [t for t in (a, b) if not isinstance(t, torch.Tensor)]
    if not tensors or not _meta(*tensors) or not tensors[0].is_floating_point():
        return None
    if any(t.dtype != tensors[0].dtype for t in tensors) or any(type(o) not in (int, float) for o in others):
        return None
    if len(tensors) == 2 and (a.dim() == 0) != (b.dim() == 0):
        return None  # a 0-d tensor with a bigger one: PyTorch's promotion rules apply
    shape = broadcast(tuple(a.shape), tuple(b.shape)) if len(tensors) == 2 else tuple(tensors[0].shape)
    return _empty(shape, tensors[0])


def _reduce(x: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> torch.Tensor | None:
    if not _meta(x) or not x.is_floating_point() or dtype is not None:
        return None
    if dim is None:
        return _empty(() if not keepdim else (1,) * x.dim(), x)
    dims = [dim] if isinstance(dim, int) else list(dim)
    if not all(isinstance(d, int) for d in dims) or not dims:
        return None
    rank = max(x.dim(), 1)
    if any(not -rank <= d < rank for d in dims):
        return None
    axes = {d % rank for d in dims}
    shape = (
        [1 if i in axes else s for i, s in enumerate(x.shape)]
        if keepdim
        else [s for i, s in enumerate(x.shape) if i not in axes]
    )
    return _empty(shape, x)


def _same(x: Any, *args: Any, **kwargs: Any) -> torch.Tensor | None:
    return _empty(x.shape, x) if _meta(x) and x.is_floating_point() else None


def _dropout(x: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> torch.Tensor | None:
    return None if inplace else _same(x)


def _linear(x: Any, weight: Any, bias: Any = None) -> torch.Tensor | None:
    if not _meta(x, weight) or weight.dim() != 2 or x.dim() < 1 or x.dtype != weight.dtype:
        return None
    if bias is not None and (not _meta(bias) or bias.dtype != x.dtype or tuple(bias.shape) != (weight.shape[0],)):
        return None
    if x.shape[-1] != weight.shape[1]:
        return None  # PyTorch's own message ("mat1 and mat2 shapes cannot be multiplied") is clear
    return _empty((*x.shape[:-1], weight.shape[0]), x)


def _adaptive_avg(dims: int, x: Any, output_size: Any) -> torch.Tensor | None:
    if not _meta(x) or not x.is_floating_point() or x.dim() not in (dims + 1, dims + 2):
        return None
    size = per_dim(output_size, dims, none=True)
    if size is None:
        return None
    lead = tuple(x.shape[:-dims])
    return _empty((*lead, *(x.shape[len(lead) + i] if v is None else v for i, v in enumerate(size))), x)


def _cat(tensors: Any, dim: int = 0) -> torch.Tensor | None:
    if not isinstance(tensors, (list, tuple)) or not tensors or not _meta(*tensors):
        return None
    first = tensors[0]
    if any(t.dtype != first.dtype or t.dim() != first.dim() for t in tensors) or first.dim() == 0:
        return None
    axis = dim % first.dim()
    if any(t.shape[i] != first.shape[i] for t in tensors for i in range(first.dim()) if i != axis):
        return None
    shape = list(first.shape)
    shape[axis] = sum(t.shape[axis] for t in tensors)
    return _empty(shape, first)


_ACTIVATION_FNS = (
    F.relu, F.relu6, F.gelu, F.silu, F.elu, F.leaky_relu, F.hardswish, F.hardsigmoid, F.mish, F.hardtanh,
    torch.relu, torch.sigmoid, torch.tanh, F.sigmoid, F.tanh,
)  # fmt: skip
_FUNCTIONS: dict[Any, Callable[..., torch.Tensor | None]] = {
    **{fn: _same for fn in _ACTIVATION_FNS},
    **{fn: _dropout for fn in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout)},
    **{fn: _binary for fn in (operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.mul)},
    torch.mean: _reduce,
    torch.sum: _reduce,
    F.linear: _linear,
    F.adaptive_avg_pool1d: functools.partial(_adaptive_avg, 1),
    F.adaptive_avg_pool2d: functools.partial(_adaptive_avg, 2),
    torch.cat: _cat,
}
_METHODS: dict[str, Callable[..., torch.Tensor | None]] = {
    **{name: _same for name in ("relu", "sigmoid", "tanh", "contiguous", "clone")},
    **{name: _binary for name in ("add", "sub", "mul", "div", "__add__", "__sub__", "__mul__", "__truediv__")},
    "mean": _reduce,
    "sum": _reduce,
}


def function_output(fn: Any, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The meta output of ``fn(*args, **kwargs)`` for the common functions; None if not handled."""
    try:
        handler = _FUNCTIONS.get(fn)
    except TypeError:  # an unhashable callable
        return None
    return _call(handler, args, kwargs)


def method_output(name: str, args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The meta output of ``args[0].name(*args[1:], **kwargs)``; None if not handled."""
    return _call(_METHODS.get(name), args, kwargs)


def _call(handler: Callable[..., torch.Tensor | None] | None, args: tuple, kwargs: dict) -> torch.Tensor | None:
    if handler is None or not args:
        return None
    try:
        return handler(*args, **kwargs)
    except TypeError:  # an argument these functions do not model (out=, alpha=, memory_format=...)
        return None

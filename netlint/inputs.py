"""Example inputs for a model, from (in this order) the command line, the model's file, its first layer.

The convention in a model's file: a method or staticmethod ``example_inputs()`` on the model class,
or a module-level function ``example_inputs()`` (optionally taking the model's name), returning a
tensor or a tuple of positional inputs. Only shapes and dtypes are used by the static check; the
probe uses the values.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import torch
import torch.nn as nn

from .errors import NetlintError, describe_exception
from .graph.ir import shape_str

BATCH = 2  # batch statistics need more than one value per channel in training mode

_SPATIAL = {
    1: [(1024,), (128,), (256,), (512,), (1000,), (16000,), (64,), (32,), (100,)],
    2: [(224, 224), (32, 32), (28, 28), (64, 64), (96, 96), (128, 128), (256, 256), (299, 299), (384, 384),
        (512, 512), (16, 16), (8, 8)],
    3: [(16, 112, 112), (8, 112, 112), (16, 224, 224), (32, 32, 32), (16, 64, 64), (64, 64, 64)],
}  # fmt: skip
_SEQUENCE = [16, 128, 64, 512, 32, 256]
_DTYPES = {
    "float": torch.float32, "float32": torch.float32, "float16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "float64": torch.float64, "double": torch.float64, "long": torch.int64,
    "int64": torch.int64, "int": torch.int64, "int32": torch.int32, "bool": torch.bool,
}  # fmt: skip


@dataclass(frozen=True)
class TensorTemplate:
    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    high: int | None = None  # exclusive upper bound of integer indices (embeddings)
    value: torch.Tensor | None = None  # real data, from example_inputs() or a saved batch

    def meta(self) -> torch.Tensor:
        return torch.empty(self.shape, dtype=self.dtype, device="meta")

    def real(self, device: torch.device | str, generator: torch.Generator) -> torch.Tensor:
        if self.value is not None:
            return self.value.to(device)
        if self.dtype.is_floating_point:
            return torch.randn(self.shape, generator=generator, dtype=self.dtype).to(device)
        if self.dtype == torch.bool:
            return (torch.rand(self.shape, generator=generator) > 0.5).to(device)
        high = self.high or 2
        return torch.randint(0, high, self.shape, generator=generator, dtype=self.dtype).to(device)

    def describe(self) -> str:
        dtype = str(self.dtype).replace("torch.", "")
        return f"{shape_str(self.shape)} {dtype}"


@dataclass(frozen=True)
class InputSpec:
    items: tuple[Any, ...]  # TensorTemplate or a plain (non-tensor) value per positional input
    source: str

    def meta(self) -> list[Any]:
        return [x.meta() if isinstance(x, TensorTemplate) else x for x in self.items]

    def real(self, device: torch.device | str = "cpu", seed: int = 0, batch_size: int | None = None) -> list[Any]:
        """Real tensors: given values as they are, random ones drawn with ``batch_size`` rows."""
        generator = torch.Generator().manual_seed(seed)
        out = []
        for x in self.items:
            if isinstance(x, TensorTemplate) and x.value is None and batch_size and x.shape:
                x = TensorTemplate((batch_size, *x.shape[1:]), x.dtype, x.high)
            out.append(x.real(device, generator) if isinstance(x, TensorTemplate) else x)
        return out

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [x.shape for x in self.items if isinstance(x, TensorTemplate)]

    def describe(self) -> str:
        return ", ".join(x.describe() if isinstance(x, TensorTemplate) else repr(x) for x in self.items)


def parse_shape(text: str) -> TensorTemplate:
    """``2,3,224,224`` or ``2x128:long`` -> a template."""
    spec, _, dtype_name = text.replace(" ", "").partition(":")
    try:
        shape = tuple(int(p) for p in re.split(r"[,x]", spec))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise ValueError(f"invalid --input-shape {text!r}: expected positive integers such as 2,3,224,224")
    if dtype_name and dtype_name not in _DTYPES:
        raise ValueError(f"invalid dtype {dtype_name!r} in --input-shape {text!r}: use one of {', '.join(_DTYPES)}")
    return TensorTemplate(shape, _DTYPES.get(dtype_name, torch.float32))


def from_values(values: Any, source: str) -> InputSpec:
    """Templates for real values (from ``example_inputs()`` or ``torch.load``)."""
    if isinstance(values, torch.Tensor):
        values = (values,)
    if isinstance(values, list):
        values = tuple(values)
    if not isinstance(values, tuple):
        raise TypeError(f"expected a tensor or a tuple of inputs, got {type(values).__name__}")
    items = tuple(
        TensorTemplate(tuple(v.shape), v.dtype, value=None if v.is_meta else v.detach())
        if isinstance(v, torch.Tensor)
        else v
        for v in values
    )
    return InputSpec(items, source)


def example_inputs_from(model: nn.Module, module: ModuleType | None, name: str) -> InputSpec | None:
    """The file's convention: ``model.example_inputs()`` or a module-level ``example_inputs()``."""
    fn = getattr(type(model), "example_inputs", None) and model.example_inputs
    where = f"{type(model).__name__}.example_inputs()"
    if not callable(fn):
        fn = getattr(module, "example_inputs", None) if module is not None else None
        where = "example_inputs() in the model's file"
    if not callable(fn):
        return None
    try:
        values = fn(name) if _arity(fn) >= 1 else fn()
        return from_values(values, where)
    except Exception as exc:
        raise NetlintError(name, f"{where} failed: {describe_exception(exc)}.") from None


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 0
    required = [p for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required)


def inferred(model: nn.Module) -> list[InputSpec]:
    """Candidates from the first layers that fix an input size, most likely first.

    A size the model declares itself (``img_size``, ``image_size``, timm's
    ``pretrained_cfg["input_size"]``) is tried before the usual ones.
    """
    declared = declared_size(model)
    candidates: list[InputSpec] = []
    image = declared_image(model)
    if image is not None:  # the model states (C, H, W): no need to guess from its first layer
        candidates.append(InputSpec((TensorTemplate((BATCH, *image)),), "declared by the model (input_size)"))
    seen: set[type] = set()
    for path, layer in _input_layers(model):
        if type(layer) in seen:
            continue
        seen.add(type(layer))
        candidates.extend(_candidates_for(path, layer, declared))
        if len(seen) == 3:
            break
    return candidates


def declared_image(model: nn.Module) -> tuple[int, ...] | None:
    """``(C, H, W)`` from timm's ``pretrained_cfg["input_size"]`` (or ``default_cfg``)."""
    for cfg_name in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, cfg_name, None)
        size = cfg.get("input_size") if isinstance(cfg, dict) else None
        if (
            isinstance(size, (tuple, list))
            and len(size) in (2, 3, 4)
            and all(isinstance(v, int) and v > 0 for v in size)
        ):
            return tuple(size)
    return None


def declared_size(model: nn.Module) -> tuple[int, ...] | None:
    """The spatial input size the model states, if it states one."""
    for cfg_name in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, cfg_name, None)
        size = cfg.get("input_size") if isinstance(cfg, dict) else None
        if isinstance(size, (tuple, list)) and len(size) >= 2 and all(isinstance(v, int) for v in size):
            return tuple(size[1:])
    for _, module in model.named_modules():
        for attr in ("img_size", "image_size"):
            size = getattr(module, attr, None)
            if isinstance(size, int) and not isinstance(size, bool) and size > 0:
                return (size, size)
            if isinstance(size, (tuple, list)) and size and all(isinstance(v, int) and v > 0 for v in size):
                return tuple(size)
    return None


def _input_layers(model: nn.Module) -> Iterable[tuple[str, nn.Module]]:
    for path, layer in model.named_modules():
        if isinstance(layer, (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding, nn.EmbeddingBag, nn.RNNBase)):
            yield path, layer


def _candidates_for(path: str, layer: nn.Module, declared: tuple[int, ...] | None = None) -> list[InputSpec]:
    name = path or "<root>"
    if isinstance(layer, nn.modules.conv._ConvNd):
        dims = len(layer.kernel_size)
        channels = layer.in_channels
        why = f"inferred from {name} ({type(layer).__name__}, in_channels={channels})"
        sizes = list(_SPATIAL.get(dims, []))
        if declared is not None and len(declared) == dims:
            sizes = [declared] + [s for s in sizes if s != declared]
        return [InputSpec((TensorTemplate((BATCH, channels, *size)),), why) for size in sizes]
    if isinstance(layer, nn.Linear):
        why = f"inferred from {name} (Linear, in_features={layer.in_features})"
        return [InputSpec((TensorTemplate((BATCH, layer.in_features)),), why)]
    if isinstance(layer, (nn.Embedding, nn.EmbeddingBag)):
        why = f"inferred from {name} ({type(layer).__name__}, num_embeddings={layer.num_embeddings})"
        return [
            InputSpec((TensorTemplate((BATCH, n), torch.int64, high=layer.num_embeddings),), why) for n in _SEQUENCE
        ]
    if isinstance(layer, nn.RNNBase):
        why = f"inferred from {name} ({type(layer).__name__}, input_size={layer.input_size})"
        out = []
        for n in _SEQUENCE[:3]:
            shape = (BATCH, n, layer.input_size) if layer.batch_first else (n, BATCH, layer.input_size)
            out.append(InputSpec((TensorTemplate(shape),), why))
        return out
    return []


def with_embedding_dtype(model: nn.Module, templates: list[TensorTemplate]) -> list[TensorTemplate]:
    """``--input-shape 2,128`` for a model that starts with an Embedding means token indices."""
    first = next(iter(_input_layers(model)), (None, None))[1]
    if isinstance(first, (nn.Embedding, nn.EmbeddingBag)) and len(templates) == 1:
        t = templates[0]
        if t.dtype == torch.float32:
            return [TensorTemplate(t.shape, torch.int64, high=first.num_embeddings)]
    return templates

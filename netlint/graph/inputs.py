"""Example inputs for a model, from (in this order) the command line, the model's file, its first layer.

The convention in a model's file: a method or staticmethod ``example_inputs()`` on the model class,
or a module-level function ``example_inputs()`` (optionally taking the model's name), returning a
tensor, a dict or a list (the single positional input) or a tuple of positional inputs. Only shapes and dtypes are used by the static check; the
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
from torch.utils._pytree import tree_leaves, tree_map

from ..errors import NetlintError, describe_exception
from .eager import CASTS, INPUT_LAYERS, Consumer, run_eager
from .ir import shape_str

BATCH = 2  # batch statistics need more than one value per channel in training mode

_SPATIAL = {
    1: [(1024,), (128,), (256,), (512,), (1000,), (16000,), (64,), (32,), (100,)],
    2: [(224, 224), (32, 32), (28, 28), (64, 64), (96, 96), (128, 128), (256, 256), (299, 299), (384, 384),
        (512, 512), (16, 16), (8, 8)],
    3: [(16, 112, 112), (8, 112, 112), (16, 224, 224), (32, 32, 32), (16, 64, 64), (64, 64, 64)],
}  # fmt: skip
# A transposed convolution upsamples: a model that starts with one decodes a small map, a
# generator's latent (N x 100 x 1 x 1) or a decoder's code (4x4, 7x7, 8x8), into a large one.
_LATENT = {1: [(1,), (4,), (8,)], 2: [(1, 1), (4, 4), (7, 7), (8, 8)], 3: [(1, 1, 1), (4, 4, 4)]}
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
    """Positional inputs: each a TensorTemplate, a plain value, or a dict/list/tuple nesting them."""

    items: tuple[Any, ...]
    source: str
    inferred: bool = False  # a guess: accepted only when the output keeps the batch (see keeps_batch)
    batch_axis: int = 0  # where the batch is in the first input (1 for time-major sequences)

    def meta(self) -> list[Any]:
        return [_map_templates(lambda t: t.meta(), x) for x in self.items]

    def real(self, device: torch.device | str = "cpu", seed: int = 0, batch_size: int | None = None) -> list[Any]:
        """Real tensors: given values as they are, random ones drawn with ``batch_size`` rows."""
        generator = torch.Generator().manual_seed(seed)

        def make(t: TensorTemplate) -> torch.Tensor:
            if t.value is None and batch_size and t.shape:
                t = TensorTemplate((batch_size, *t.shape[1:]), t.dtype, t.high)
            return t.real(device, generator)

        return [_map_templates(make, x) for x in self.items]

    @property
    def templates(self) -> list[TensorTemplate]:
        return [t for x in self.items for t in tree_leaves(x) if isinstance(t, TensorTemplate)]

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        return [t.shape for t in self.templates]

    def describe(self) -> str:
        return ", ".join(_describe(x) for x in self.items)


def _map_templates(fn: Callable[[TensorTemplate], Any], tree: Any) -> Any:
    return tree_map(lambda x: fn(x) if isinstance(x, TensorTemplate) else x, tree)


def _describe(x: Any) -> str:
    """Shapes and dtypes only: never a tensor's values, never a long repr."""
    if isinstance(x, TensorTemplate):
        return x.describe()
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in x.items()) + "}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(_describe(v) for v in x)
        return f"[{inner}]" if isinstance(x, list) else f"({inner}{',' if len(x) == 1 else ''})"
    if x is None or isinstance(x, (bool, int, float)) or (isinstance(x, str) and len(x) <= 40):
        return repr(x)
    return type(x).__name__


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


def parse_shapes(texts: Iterable[str]) -> list[Any]:
    """``--input-shape`` values -> positional inputs: one template each, or one dict of named ones.

    ``image=2,3,224,224 --input-shape label=2:long`` is a single dict input ``{"image": ..., "label": ...}``
    (a ``forward(self, batch)`` reading ``batch["image"]``).
    """
    texts = list(texts)
    named = [t for t in texts if "=" in t]
    if not named:
        return [parse_shape(t) for t in texts]
    if len(named) != len(texts):
        raise ValueError(
            "invalid --input-shape: name every shape (image=2,3,224,224 builds a dict input) or none of them"
        )
    batch: dict[str, TensorTemplate] = {}
    for text in named:
        key, _, spec = text.partition("=")
        key = key.strip()
        if not key or key in batch:
            why = "an empty name" if not key else f"the name {key!r} twice"
            raise ValueError(f"invalid --input-shape {text!r}: {why}")
        batch[key] = parse_shape(spec)
    return [batch]


def from_values(values: Any, source: str) -> InputSpec:
    """Templates for real values (from ``example_inputs()``, ``torch.load`` or the API).

    A tensor, a dict or a list is the single positional input; a tuple lists the positional inputs
    (each may itself nest dicts, lists and tuples of tensors). Keyword inputs are not supported.
    """
    if isinstance(values, (torch.Tensor, dict, list)) or (isinstance(values, tuple) and hasattr(values, "_fields")):
        values = (values,)  # a namedtuple is one structured batch, not a list of inputs
    if not isinstance(values, tuple):
        raise TypeError(
            f"expected a tensor, a dict, a list, or a tuple of positional inputs, got {type(values).__name__}"
        )
    items = tuple(
        tree_map(
            lambda v: (
                TensorTemplate(tuple(v.shape), v.dtype, value=None if v.is_meta else v.detach())
                if isinstance(v, torch.Tensor)
                else v
            ),
            value,
        )
        for value in values
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
    ``pretrained_cfg["input_size"]``) is tried before the usual ones. The first layer is the one
    ``forward`` calls first with the input (found by a dry run, see ``_first_called``), then
    those of other kinds in registration order. A forward that needs several inputs gets each
    from the first layer that consumes it (see ``_several_inputs``).
    """
    names, required, _ = forward_arity(model)
    if required >= 2:
        return _several_inputs(model, names[:required])
    declared = declared_size(model)
    candidates: list[InputSpec] = []
    image = declared_image(model)
    if image is not None:  # the model states (C, H, W): no need to guess from its first layer
        candidates.append(InputSpec((TensorTemplate((BATCH, *image)),), "declared by the model (input_size)", True))
    layers: list[tuple[str, nn.Module]] = []
    for path, layer in _input_layers(model):
        if all(type(layer) is not type(m) for _, m in layers):
            layers.append((path, layer))
        if len(layers) == 3:
            break
    first = _first_called(model, layers, declared)
    if first is not None:
        layers = [first, *[(p, m) for p, m in layers if type(m) is not type(first[1])][:2]]
    for path, layer in layers:
        candidates.extend(_candidates_for(path, layer, declared))
    return candidates


def _first_called(
    model: nn.Module, layers: list[tuple[str, nn.Module]], declared: tuple[int, ...] | None
) -> tuple[str, nn.Module] | None:
    """The input layer ``forward`` reaches first with its input: registration order is not call order
    (a U-Net may register its body before its stem). A dry run on meta with the first guess of each
    registered layer kind, ended at the first input layer the input's data reaches; layers called
    before it on other data (a positional embedding of ``arange``) do not count."""
    for path, layer in layers:
        guesses = _candidates_for(path, layer, declared)[:1]
        if not guesses:
            continue
        found = run_eager(model, guesses[0].meta(), track=True).consumers[0]
        if found is not None:
            return found.path, found.layer
    return None


def forward_arity(model: nn.Module) -> tuple[list[str], int, int | None]:
    """forward's positional parameter names, how many are required, and the most it takes (None: ``*args``)."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return [], 1, None
    if isinstance(model.forward, torch._C.ScriptMethod) and params[:1] and params[0].name == "self":
        params = params[1:]  # a compiled ``@script_method`` shows its ``self``, bound or not
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = sum(1 for p in positional if p.default is p.empty)
    most = None if any(p.kind == p.VAR_POSITIONAL for p in params) else len(positional)
    return [p.name for p in positional], required, most


def keys_read(model: nn.Module) -> list[str]:
    """The string keys ``forward`` reads from its first input (``batch["image"]``, ``batch.get("mask")``),
    in source order: that input is a dict."""
    import ast
    import textwrap

    names = forward_arity(model)[0]
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(type(model).forward)))
    except (OSError, TypeError, SyntaxError, ValueError):
        return []
    if not names:
        return []
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == names[0]:
            key = node.slice
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and isinstance(node.func.value, ast.Name) and node.func.value.id == names[0] and node.args):  # fmt: skip
            key = node.args[0]
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.setdefault(key.value, node.lineno * 10_000 + node.col_offset)
    return sorted(found, key=found.get)


def keeps_batch(spec: InputSpec, outputs: Iterable[tuple[int, ...]]) -> bool:
    """Every output tensor has the input's batch size as its leading dimension.

    A network that folds positions into the batch (``out.view(-1, 640)`` in a CIFAR head) runs at
    224x224 but returns 98 rows for 2 images: that size is not its input. 0-d outputs (a loss)
    carry no batch. Time-major sequences (T, N, C) may keep the batch at dimension 1.
    """
    first = next(iter(spec.templates), None)
    if first is None or len(first.shape) <= spec.batch_axis:
        return True
    batch = first.shape[spec.batch_axis]
    return all(s[0] == batch or (spec.batch_axis == 1 and len(s) > 1 and s[1] == batch) for s in outputs if s)


# -- the size a flatten needs ----------------------------------------------------------------------
MAX_SIDE = 4096  # the largest spatial side solved for


def fitted(model: nn.Module, spec: InputSpec) -> InputSpec | None:
    """The spatial size at which a guessed image-like input fits a Linear after a flatten, if one does.

    A Nature DQN flattens 64x7x7 into ``Linear(3136, 512)``: its 84x84 frames are in no list of
    usual sizes, but the structure fixes them. The features reaching the first Linear that refuses
    its input grow with the input's side (convolutions and pools never shrink a map that grows),
    so a bisection over square sizes, each a short dry run on meta ended at that Linear, finds the
    smallest side that gives exactly ``in_features``. None when no Linear refuses the input, the
    input is not one tensor with 1 or 2 spatial dimensions, or no side fits.
    """
    template = spec.items[0] if len(spec.items) == 1 else None
    if not isinstance(template, TensorTemplate) or len(template.shape) not in (3, 4) or template.value is not None:
        return None
    lead, side = template.shape[:2], template.shape[2:]
    refused: list[tuple[str, int]] = []

    def refusing(path: str, layer: nn.Module, args: tuple, _run: Any) -> bool:
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if isinstance(layer, nn.Linear) and x is not None and x.dim() and x.shape[-1] != layer.in_features:
            refused.append((path, layer.in_features))
            return True
        return False

    run_eager(model, spec.meta(), refusing)
    if not refused:
        return None
    target, want = refused[0]

    def features(n: int) -> int:
        """What reaches the refusing Linear at side ``n``; 0 when the forward fails before it."""
        got: list[int] = []

        def at_target(path: str, layer: nn.Module, args: tuple, _run: Any) -> bool:
            if path == target and args and isinstance(args[0], torch.Tensor) and args[0].dim():
                got.append(args[0].shape[-1])
                return True
            return False

        run_eager(model, [torch.empty((*lead, *(n,) * len(side)), dtype=template.dtype, device="meta")], at_target)
        return got[0] if got else 0

    low, high = 1, max(side)
    while features(high) < want:  # grow until the Linear gets enough
        if high >= MAX_SIDE:
            return None
        low, high = high, min(high * 2, MAX_SIDE)
    while low < high:  # the smallest side that gets enough
        middle = (low + high) // 2
        if features(middle) >= want:
            high = middle
        else:
            low = middle + 1
    if features(high) != want:
        return None
    size = (high,) * len(side)
    why = f"{spec.source}, {shape_str(size)} to fit {target} (Linear, in_features={want})"
    return InputSpec((TensorTemplate((*lead, *size), template.dtype, template.high),), why, True, spec.batch_axis)


# -- several inputs --------------------------------------------------------------------------------
MAX_COMBINATIONS = 4  # alternatives tried per spatial size when several inputs are guessed


def _several_inputs(model: nn.Module, names: list[str]) -> list[InputSpec]:
    """One guess per input, each from the first layer that consumes it in forward's data flow.

    Registration order misleads here: a diffusion U-Net registers its time embedding before its
    first convolution. The data flow is read from a dry run of forward on meta (see
    ``eager.run_eager``), fed the guesses that a symbolic trace gives, where the trace works, or
    registration order; what the dry run does not reach (it stopped on a data-dependent branch)
    keeps the trace's answer. An input that reaches its layer through other ops first (a
    sinusoidal embedding of a time step) is tried as one value per sample before the layer's own shape.
    """
    consumers, traced = _first_consumers(model, names)
    specs = _guesses(model, names, consumers, traced)
    if specs:
        ran = run_eager(model, specs[0].meta(), track=True)
        merged = [r if r is not None else c for r, c in zip(ran.consumers, consumers)]
        if merged != consumers or (ran.error is None and not traced):
            specs = _guesses(model, names, merged, traced or ran.error is None)
    return specs


def _guesses(model: nn.Module, names: list[str], consumers: list[Consumer | None], complete: bool) -> list[InputSpec]:
    """Input candidates from each input's first layer; ``complete``: the whole data flow was seen, so an
    input without a layer reaches none (otherwise the other registered input layers are guesses for it)."""
    import itertools

    consumers = list(consumers)
    if all(c is None for c in consumers):  # nothing known: the first registered layer feeds the first input
        path, layer = next(iter(_input_layers(model)), ("", None))
        consumers[0] = Consumer(path, layer, True) if layer is not None else None
    convs = [i for i, c in enumerate(consumers) if c is not None and isinstance(c.layer, nn.modules.conv._ConvNd)]
    primary = convs[0] if convs else 0
    lead = consumers[primary]
    sizes: list[tuple[int, ...] | None] = [None]
    if lead is not None and isinstance(lead.layer, nn.modules.conv._ConvNd):
        sizes = list(_spatial_sizes(lead.layer, declared_size(model))) or [None]
    used = {id(c.layer) for c in consumers if c is not None}
    others = [] if complete else [Consumer(p, m, True) for p, m in _input_layers(model) if id(m) not in used]
    specs = []
    for size in sizes:
        own = _alternatives(lead, size, None)
        options = []
        for i, c in enumerate(consumers):
            if i == primary:
                options.append(own)
            else:
                guesses = _alternatives(c, size, own[0][0])
                if c is None:
                    guesses += [g for o in others[:2] for g in _alternatives(o, size, None)[:1]]
                options.append(guesses)
        for combo in itertools.islice(itertools.product(*options), MAX_COMBINATIONS):
            why = "inferred per input: " + ", ".join(f"{n} {w}" for n, (_, w) in zip(names, combo))
            specs.append(InputSpec(tuple(t for t, _ in combo), why, inferred=True))
    return specs


def _alternatives(
    consumer: Consumer | None, size: tuple[int, ...] | None, like: TensorTemplate | None
) -> list[tuple[TensorTemplate, str]]:
    """Likely shapes for one input, most likely first, each with the reason shown in the report."""
    if consumer is None:
        same = [(like, "like the first input (no layer consumes it directly)")] if like is not None else []
        return [*same, (TensorTemplate((BATCH,)), "as one value per sample (no layer consumes it directly)")]
    layer, name = consumer.layer, consumer.path or "<root>"
    kind = type(layer).__name__
    if isinstance(layer, nn.modules.conv._ConvNd):
        dims = len(layer.kernel_size)
        spatial = size if size is not None and len(size) == dims else _spatial_sizes(layer, None)[0]
        why = f"from {name} ({kind}, in_channels={layer.in_channels})"
        return [(TensorTemplate((BATCH, layer.in_channels, *spatial)), why)]
    if isinstance(layer, nn.Linear):
        why = f"from {name} (Linear, in_features={layer.in_features})"
        shaped = (TensorTemplate((BATCH, layer.in_features)), why)
        per_sample = (TensorTemplate((BATCH,)), f"as one value per sample, embedded before {name}")
        return [shaped, per_sample] if consumer.direct else [per_sample, shaped]
    if isinstance(layer, (nn.Embedding, nn.EmbeddingBag)):
        why = f"from {name} ({kind}, num_embeddings={layer.num_embeddings})"
        n = layer.num_embeddings
        return [
            (TensorTemplate((BATCH,), torch.int64, high=n), f"{why} as one index per sample"),
            (TensorTemplate((BATCH, _SEQUENCE[0]), torch.int64, high=n), f"{why} as a sequence"),
        ]
    if isinstance(layer, nn.RNNBase):
        n, width = _SEQUENCE[0], layer.input_size
        shape = (BATCH, n, width) if layer.batch_first else (n, BATCH, width)
        return [(TensorTemplate(shape), f"from {name} ({kind}, input_size={width})")]
    return [(TensorTemplate((BATCH,)), "as one value per sample")]


def _first_consumers(model: nn.Module, names: list[str]) -> tuple[list[Consumer | None], bool]:
    """For each named input, the first input layer (conv, linear, embedding, RNN) its data reaches,
    and whether forward could be traced.

    Read from a symbolic trace of forward (no tensor runs); None for every input when the trace
    fails, or for an input that reaches no such layer.
    """
    import torch.fx as fx

    from .ops import is_leaf

    class _Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
            return isinstance(m, INPUT_LAYERS) or is_leaf(m)

    found: list[Consumer | None] = [None] * len(names)
    try:
        params = inspect.signature(model.forward).parameters.values()
        concrete = {p.name: p.default for p in params if p.name not in names and p.default is not p.empty}
        tracer = _Tracer()
        graph = tracer.trace(model, concrete_args=concrete or None)
    except Exception:
        return found, False
    reaches: dict[fx.Node, set[int]] = {}
    unchanged: dict[fx.Node, int] = {}  # the input a node still is (itself, or a dtype cast of it)
    for node in graph.nodes:
        if node.op == "placeholder":
            index = names.index(node.target) if node.target in names else None
            reaches[node] = {index} if index is not None else set()
            if index is not None:
                unchanged[node] = index
            continue
        sources = set().union(*(reaches.get(a, set()) for a in node.all_input_nodes))
        reaches[node] = sources
        if node.op == "call_method" and node.target in CASTS and node.args and node.args[0] in unchanged:
            unchanged[node] = unchanged[node.args[0]]
        if node.op == "call_module":
            layer = model.get_submodule(node.target)
            if isinstance(layer, INPUT_LAYERS):
                direct = {unchanged[a] for a in node.all_input_nodes if a in unchanged}
                for i in sorted(sources):
                    if found[i] is None:
                        found[i] = Consumer(node.target, layer, i in direct)
    return found, True


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
        if isinstance(layer, INPUT_LAYERS):
            yield path, layer


def _spatial_sizes(layer: nn.modules.conv._ConvNd, declared: tuple[int, ...] | None) -> list[tuple[int, ...]]:
    """Spatial sizes to try for a convolution's input, most likely first."""
    dims = len(layer.kernel_size)
    sizes = list(_SPATIAL.get(dims, []))
    if layer.transposed:
        latent = _LATENT.get(dims, [])
        sizes = latent + [s for s in sizes if s not in latent]
    if declared is not None and len(declared) == dims:
        sizes = [declared] + [s for s in sizes if s != declared]
    return sizes


def _candidates_for(path: str, layer: nn.Module, declared: tuple[int, ...] | None = None) -> list[InputSpec]:
    name = path or "<root>"
    if isinstance(layer, nn.modules.conv._ConvNd):
        channels = layer.in_channels
        why = f"inferred from {name} ({type(layer).__name__}, in_channels={channels})"
        return [
            InputSpec((TensorTemplate((BATCH, channels, *size)),), why, True)
            for size in _spatial_sizes(layer, declared)
        ]
    if isinstance(layer, nn.Linear):
        why = f"inferred from {name} (Linear, in_features={layer.in_features})"
        return [InputSpec((TensorTemplate((BATCH, layer.in_features)),), why, True)]
    if isinstance(layer, (nn.Embedding, nn.EmbeddingBag)):
        why = f"inferred from {name} ({type(layer).__name__}, num_embeddings={layer.num_embeddings})"
        return [
            InputSpec((TensorTemplate((BATCH, n), torch.int64, high=layer.num_embeddings),), why, True)
            for n in _SEQUENCE
        ]
    if isinstance(layer, nn.RNNBase):
        why = f"inferred from {name} ({type(layer).__name__}, input_size={layer.input_size})"
        out = []
        for n in _SEQUENCE[:3]:
            shape = (BATCH, n, layer.input_size) if layer.batch_first else (n, BATCH, layer.input_size)
            out.append(InputSpec((TensorTemplate(shape),), why, True, 0 if layer.batch_first else 1))
        return out
    return []


def with_embedding_dtype(model: nn.Module, templates: list[TensorTemplate]) -> list[TensorTemplate]:
    """``--input-shape 2,128`` for a model whose input first reaches an Embedding means token indices.

    The first layer is the one a dry run reaches with the given shape (registration order where it
    reaches none)."""
    t = templates[0] if len(templates) == 1 else None
    if not isinstance(t, TensorTemplate) or t.dtype != torch.float32:
        return templates
    reached = run_eager(model, [t.meta()], track=True).consumers[0]
    first = reached.layer if reached is not None else next(iter(_input_layers(model)), (None, None))[1]
    if isinstance(first, (nn.Embedding, nn.EmbeddingBag)):
        return [TensorTemplate(t.shape, torch.int64, high=first.num_embeddings)]
    return templates

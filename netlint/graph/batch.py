"""Which dimension of each tensor carries the batch, op by op, and which ops mix samples (NL009).

Dimension 0 of every input carries the batch. Each op maps that to its output symbolically, from its
arguments and its input and output shapes: a permute moves the dimension, a reshape is read as a
change of mixed radix over the row-major layout (so ``B*heads``, ``B*H*W`` and ``heads*B`` are
told apart by where the sample index sits inside the merged dimension, not by sizes), a reduction
drops it. An op that reduces, normalises or mixes along a dimension that carries the batch, or that
combines samples along two dimensions (an outer product of samples), mixes samples. A reshape whose
rows straddle two samples mixes nothing by itself; the first op that then mixes within a row does.

Unknown ops follow an element-wise assumption when shapes allow it and stop the tracking
otherwise: an op the tables do not know is never reported. No torch here.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .ir import Graph, Node, Op, TensorArg


@dataclass(frozen=True)
class Axis:
    """The batch sits in dimension ``dim``: sample = (index // inner) % size along it."""

    dim: int
    inner: int
    size: int


@dataclass(frozen=True)
class Straddle:
    """A reshape put samples across row boundaries: ``dims`` hold elements of several samples."""

    dims: frozenset[int]
    size: int  # the number of samples


UNKNOWN = "unknown"  # tracking lost: nothing downstream is reported
MIXED = "mixed"  # already mixed upstream, in a way no fix would keep the batch through: nothing below is reported
State = Any  # Axis | Straddle | None (no batch) | UNKNOWN | MIXED | tuple of states (a tuple output)


@dataclass
class Mixing:
    node: Node
    dim: int | None  # the dimension mixed, when there is one
    how: str  # a short description for the message
    batch: int  # the number of samples


# Per-element ops (BatchNorm too: its batch statistics in training are its purpose, not a finding).
_ELEMENTWISE = {Op.ACTIVATION, Op.DROPOUT, Op.CHANNEL_DROPOUT, Op.DROPBLOCK, Op.DROP_PATH, Op.IDENTITY, Op.ADD,
                Op.MUL, Op.BATCHNORM}  # fmt: skip
_REDUCTIONS = {"sum", "mean", "nansum", "nanmean", "amax", "amin", "max", "min", "std", "var", "prod",
               "logsumexp", "median", "nanmedian", "argmax", "argmin", "std_mean", "var_mean", "count_nonzero",
               "all", "any", "norm", "mode"}  # fmt: skip
_ALONG = {"cumsum", "cumprod", "cummax", "cummin", "logcumsumexp", "sort", "argsort", "topk", "kthvalue",
          "softmin", "normalize", "log_softmax", "softmax"}  # fmt: skip


# Loss functionals (and ``nn.*Loss`` modules): with reduction 'mean', 'sum' or 'batchmean' (their
# default is 'mean') they reduce over every dimension, the batch included.
_LOSSES = {"cross_entropy", "nll_loss", "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "cosine_embedding_loss",
           "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss", "hinge_embedding_loss",
           "multilabel_margin_loss", "soft_margin_loss", "multilabel_soft_margin_loss", "multi_margin_loss",
           "triplet_margin_loss", "triplet_margin_with_distance_loss", "ctc_loss"}  # fmt: skip


def _norm_dim(d: Any, ndim: int) -> int | None:
    if isinstance(d, bool) or not isinstance(d, int) or ndim == 0:
        return None
    return d + ndim if d < 0 else d


def operand_args(node: Node) -> tuple:
    """A call's arguments after the tensor it acts on (``x.sum(1)`` and ``torch.sum(x, 1)`` alike)."""
    args = node.args
    if node.kind == "function" and args and isinstance(args[0], (TensorArg, tuple, list)):
        return tuple(args[1:])
    return tuple(args)


def _arg(node: Node, position: int, name: str, default: Any = None) -> Any:
    if name in node.kwargs:
        return node.kwargs[name]
    rest = operand_args(node)
    return rest[position] if len(rest) > position else default


class BatchFlow:
    """Propagates batch states through ``graph`` in execution order; ``mixing`` lists the first mixers."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.states: dict[int, State] = {}
        self.mixing: list[Mixing] = []
        for node in graph.nodes:
            try:
                state = self._step(node)
            except Exception:  # an argument form the tables do not expect: never crash, never report
                state = UNKNOWN
            self.states[node.index] = state

    # -- helpers ---------------------------------------------------------------------------
    def _in(self, node: Node) -> list[tuple[Node, State]]:
        return [(i, self.states.get(i.index, UNKNOWN)) for i in node.inputs if i.is_tensor and i.op != Op.SHAPE]

    def _mix(self, node: Node, dim: int | None, how: str, axis: Axis | None) -> State:
        """Record a mixer; downstream, the batch is followed as if this op were fixed, so that every
        mixer is reported, not only the first on a path (two attention layers with the same mistake)."""
        self.mixing.append(Mixing(node, dim, how, axis.size if axis else 0))
        carrying = [n for n in node.inputs if n.is_tensor and self.states.get(n.index) == axis]
        if dim is None or not isinstance(axis, Axis) or len(carrying) != 1 or carrying[0].shape is None:
            return MIXED  # samples combined with each other (a Gram matrix of the batch): no fix keeps this shape
        shape = carrying[0].shape

        def fixed(out: tuple[int, ...]) -> State:
            """The batch stays where it was when the op's output is laid out like its input (a softmax, an
            attention layer), or like it up to the features (a recurrent layer): what the fixed op returns."""
            same = out == shape or (node.op == Op.RNN and len(out) == len(shape) and out[:-1] == shape[:-1])
            return axis if same else UNKNOWN

        if node.shape is not None:
            return fixed(node.shape)
        return tuple(fixed(out) for out in node.shapes) if node.shapes else MIXED

    def _step(self, node: Node) -> State:
        if node.op == Op.INPUT:
            shape = node.shape
            if shape and shape[0] >= 2:
                return Axis(0, 1, shape[0])
            return UNKNOWN if shape else None
        if node.op in (Op.PARAM, Op.CONSTANT, Op.RANDOM, Op.SHAPE, Op.CONTROL, Op.OUTPUT):
            return None
        ins = self._in(node)
        states = [s for _, s in ins]
        if any(s == MIXED for s in states):
            return MIXED
        if all(s is None for s in states):
            return None
        if node.op == Op.GETITEM:
            return self._getitem(node, ins)
        if any(s == UNKNOWN or isinstance(s, tuple) for s in states):
            return UNKNOWN
        handler = _HANDLERS.get(node.op)
        if handler is not None:
            return handler(self, node, ins)
        return self._other(node, ins)

    def _single(self, ins: list[tuple[Node, State]]) -> tuple[Node, Axis] | None:
        """The one activation input that carries the batch (others carry none)."""
        carrying = [(n, s) for n, s in ins if s is not None]
        if len(carrying) == 1 and isinstance(carrying[0][1], Axis) and carrying[0][0].shape is not None:
            return carrying[0]
        return None

    def elementwise(self, node: Node, ins: list[tuple[Node, State]]) -> State:
        """Broadcasting ops: each input's batch dimension lines up from the right."""
        out = node.shape
        if out is None:
            return UNKNOWN
        axes, straddles = set(), set()
        for n, s in ins:
            if s is None:
                continue
            if n.shape is None:
                return UNKNOWN
            shift = len(out) - len(n.shape)
            if isinstance(s, Straddle):
                if n.shape != out:
                    return UNKNOWN
                straddles.add(s)
                continue
            d = s.dim + shift
            if d < 0 or out[d] != n.shape[s.dim]:
                return UNKNOWN
            axes.add(Axis(d, s.inner, s.size))
        if straddles:
            return straddles.pop() if len(straddles) == 1 and not axes else UNKNOWN
        if len(axes) == 1:
            return axes.pop()
        dims = {a.dim for a in axes}
        if len(dims) > 1:
            a = min(axes, key=lambda x: x.dim)
            return self._mix(node, None, "combines every sample with every other (the batch on two dimensions)", a)
        return UNKNOWN

    def _mixes_along(self, node: Node, ins, dims: set[int], how: str) -> State:
        """An op that mixes values along ``dims`` of its (single batch-carrying) input, keeping its shape."""
        single = [(n, s) for n, s in ins if s is not None]
        if len(single) != 1 or single[0][0].shape is None:
            return UNKNOWN
        n, s = single[0]
        if isinstance(s, Straddle):
            if s.dims & dims:
                how = f"{how} along rows that straddle samples (after a reshape)"
                return self._mix(node, min(s.dims & dims), how, Axis(-1, 1, s.size))
            return s if node.shape == n.shape else UNKNOWN
        if s.dim in dims:
            return self._mix(node, s.dim, f"{how} along {_dimension(s, n)}, which carries the batch", s)
        return self.elementwise(node, ins)

    # -- ops -------------------------------------------------------------------------------
    def _norm(self, node: Node, ins) -> State:
        if node.op == Op.NORM and node.kind != "module":  # F.normalize: along its ``dim`` argument
            return self._other(node, ins)
        x = self._single(ins) or next(((n, s) for n, s in ins if isinstance(s, Straddle)), None)
        if x is None or x[0].shape is None:
            return UNKNOWN
        ndim = len(x[0].shape)
        if node.op == Op.INSTANCENORM:
            dims = set(range(2, ndim))
        elif node.op == Op.GROUPNORM:
            dims = set(range(1, ndim))
        elif node.op == Op.LAYERNORM:
            shape = node.params.get("normalized_shape") or _arg(node, 0, "normalized_shape")
            k = len(shape) if isinstance(shape, (tuple, list)) else 1
            dims = set(range(ndim - k, ndim))
        else:
            return UNKNOWN if x[1].dim != 0 else self.elementwise(node, ins)
        return self._mixes_along(node, ins, dims, "normalises")

    def _conv(self, node: Node, ins) -> State:
        x = self._single(ins)
        if x is None:
            return self._straddled(node, ins, "convolves")
        n, s = x
        ndim = len(n.shape)
        dims = node.params.get("dims") or (len(node.params.get("kernel_size", ())) or None)
        if dims is None or ndim != dims + 2:
            return UNKNOWN
        if s.dim >= 2:
            return self._mix(node, s.dim, f"convolves along dimension {s.dim}, which carries the batch", s)
        if s.dim == 0 and node.shape is not None and node.shape[0] == n.shape[0]:
            return s
        return UNKNOWN

    def _linear(self, node: Node, ins) -> State:
        x = self._single(ins)
        if x is None:
            return self._straddled(node, ins, "a Linear layer mixes")
        n, s = x
        if s.dim == len(n.shape) - 1:
            return self._mix(node, s.dim, f"a linear layer mixes the last dimension ({s.dim}), which carries the batch",
                             s)  # fmt: skip
        return s if node.shape is not None and len(node.shape) == len(n.shape) else UNKNOWN

    def _straddled(self, node: Node, ins, how: str) -> State:
        """A weight layer on a straddled tensor: it mixes along its feature rows (the last dims)."""
        for n, s in ins:
            if isinstance(s, Straddle) and n.shape is not None and (len(n.shape) - 1) in s.dims:
                return self._mix(node, len(n.shape) - 1, f"{how} rows that straddle samples", Axis(-1, 1, s.size))
        return UNKNOWN

    def _pool(self, node: Node, ins) -> State:
        x = self._single(ins)
        if x is None:
            return UNKNOWN
        n, s = x
        if s.dim >= 2 and len(n.shape) >= 3:
            return self._mix(node, s.dim, f"pools along dimension {s.dim}, which carries the batch", s)
        return Axis(s.dim, s.inner, s.size) if node.shapes and node.shapes[0][s.dim] == n.shape[s.dim] else UNKNOWN

    def _softmax(self, node: Node, ins) -> State:
        x = self._single(ins) or next(((n, s) for n, s in ins if isinstance(s, Straddle)), None)
        if x is None or x[0].shape is None:
            return UNKNOWN
        ndim = len(x[0].shape)
        dim = node.params["dim"] if "dim" in node.params else _arg(node, 0, "dim")
        implicit = dim is None
        if implicit:
            dim = 0 if ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit dimension
        dim = _norm_dim(dim, ndim)
        if dim is None:
            return UNKNOWN
        how = f"without dim (PyTorch's implicit choice for {ndim}-D input is {dim}) normalises" if implicit else ""
        return self._mixes_along(node, ins, {dim}, how or "normalises")

    def _attention(self, node: Node, ins) -> State:
        carrying = {s for _, s in ins if s is not None}
        if len(carrying) != 1 or not isinstance(next(iter(carrying)), Axis):
            return UNKNOWN
        s = next(iter(carrying))
        n = next(n for n, st in ins if st == s)
        ndim = len(n.shape) if n.shape else 0
        if node.kind == "module" or node.type_name == "multi_head_attention_forward":
            batch_first = node.params.get("batch_first", False)
            batch_dim = (0 if batch_first else 1) if ndim == 3 else None
        else:  # scaled_dot_product_attention: (..., L, E)
            batch_dim = s.dim if s.dim < ndim - 2 else None
        if batch_dim != s.dim:
            return self._mix(node, s.dim, f"attends across dimension {s.dim}, which carries the batch", s)
        if node.shape is not None:
            return s
        weights = Axis(0, s.inner, s.size)  # (N, L, S) whatever the layout of the values
        return tuple(s if i == 0 else weights if len(sh) == 3 else UNKNOWN for i, sh in enumerate(node.shapes))

    def _rnn(self, node: Node, ins) -> State:
        x = self._single(ins)
        if x is None:
            return UNKNOWN
        n, s = x
        batch_dim = (0 if node.params.get("batch_first") else 1) if len(n.shape) == 3 else None
        if batch_dim != s.dim:
            return self._mix(node, s.dim, f"runs the recurrence along dimension {s.dim}, which carries the batch", s)
        return tuple(Axis(s.dim if i == 0 else 1, s.inner, s.size) if len(sh) == 3 else UNKNOWN
                     for i, sh in enumerate(node.shapes))  # fmt: skip

    def _reshape(self, node: Node, ins) -> State:
        x = self._single(ins) or next(((n, s) for n, s in ins if s is not None), None)
        if x is None or not isinstance(x[1], Axis) or node.shape is None or x[0].shape is None:
            return UNKNOWN
        n, s = x
        shape_in, out = n.shape, node.shape
        if math.prod(shape_in) != math.prod(out) or shape_in[s.dim] % (s.inner * s.size):
            return UNKNOWN
        stride = s.inner * math.prod(shape_in[s.dim + 1 :])  # flat distance between consecutive samples
        block = stride * s.size
        for j, size in enumerate(out):
            t = math.prod(out[j + 1 :])
            if size > 1 and stride % t == 0 and (t * size) % block == 0:
                return Axis(j, stride // t, s.size)
        dims = frozenset(
            j
            for j, size in enumerate(out)
            if size > 1 and math.prod(out[j + 1 :]) % block and stride % (math.prod(out[j:]))
        )
        return Straddle(dims, s.size) if dims else UNKNOWN

    def _permute(self, node: Node, ins) -> State:
        x = self._single(ins)
        if x is None or node.shape is None:
            return UNKNOWN
        n, s = x
        ndim = len(n.shape)
        perm = permutation(node, ndim)
        if perm is None or sorted(perm) != list(range(ndim)):
            return UNKNOWN
        return Axis(perm.index(s.dim), s.inner, s.size)

    def _cat(self, node: Node, ins) -> State:
        axes = {s for _, s in ins if s is not None}
        if node.shape is None or len(axes) != 1 or not isinstance(next(iter(axes)), Axis):
            return UNKNOWN
        s = next(iter(axes))
        ndim = len(node.shape)
        stack = node.type_name == "stack"
        dim = _norm_dim(_arg(node, 0, "dim", 0), ndim)
        if dim is None:
            return UNKNOWN
        if stack:
            return Axis(s.dim + (s.dim >= dim), s.inner, s.size)
        if dim == s.dim:  # batches joined: every row still holds one sample
            return Axis(dim, 1, node.shape[dim]) if s.inner == 1 else UNKNOWN
        return s

    def _split(self, node: Node, ins) -> State:
        x = self._single(ins)
        if x is None:
            return UNKNOWN
        n, s = x
        unbind = node.type_name == "unbind"
        dim = _norm_dim(_arg(node, 0 if unbind else 1, "dim", 0), len(n.shape))
        if dim is None or dim == s.dim:
            return UNKNOWN
        out = Axis(s.dim - (unbind and dim < s.dim), s.inner, s.size)
        return tuple(out for _ in node.shapes)

    def _getitem(self, node: Node, ins) -> State:
        if len(ins) != 1:
            return UNKNOWN
        src, s = ins[0]
        index = node.args[-1] if node.args else None
        if src.shape is None:  # an element of a tuple output
            if isinstance(s, tuple) and isinstance(index, int) and -len(s) <= index < len(s):
                return s[index]
            return s if isinstance(s, Axis) and node.shape is not None else UNKNOWN
        if not isinstance(s, Axis) or node.shape is None:
            return UNKNOWN
        items = list(index) if isinstance(index, tuple) else [index]
        if any(isinstance(i, (TensorArg, bool)) or i == "?" for i in items):
            return UNKNOWN
        if items.count(Ellipsis) > 1:
            return UNKNOWN
        if Ellipsis in items:
            used = sum(1 for i in items if i is not None and i is not Ellipsis)
            at = items.index(Ellipsis)
            items[at : at + 1] = [slice(None)] * (len(src.shape) - used)
        out_dim = 0
        for in_dim, item in _dims_of(items):
            if item is None:
                out_dim += 1
                continue
            if isinstance(item, int):
                if in_dim == s.dim:
                    return UNKNOWN  # one sample picked out
                continue
            if in_dim == s.dim:
                if out_dim < len(node.shape) and node.shape[out_dim] == src.shape[s.dim]:
                    return Axis(out_dim, s.inner, s.size)
                return UNKNOWN
            out_dim += 1
        if s.dim >= sum(1 for _, i in _dims_of(items) if i is not None):  # dimensions after the index
            d = out_dim + s.dim - sum(1 for _, i in _dims_of(items) if i is not None)
            if d < len(node.shape) and node.shape[d] == src.shape[s.dim]:
                return Axis(d, s.inner, s.size)
        return UNKNOWN

    def _matmul(self, node: Node, ins) -> State:
        if node.type_name == "einsum":
            return self._einsum(node, ins)
        if node.shape is None or node.type_name.startswith("__r"):
            return UNKNOWN
        nodes = [n for n, _ in ins]
        if len(nodes) == 1:
            nodes = nodes * 2
        if len(nodes) != 2 or any(n.shape is None or len(n.shape) < 2 for n in nodes):
            return UNKNOWN
        out_nd = len(node.shape)
        axes = set()
        for side, n in enumerate(nodes):
            s = self.states.get(n.index)
            if s is None:
                continue
            if not isinstance(s, Axis):
                return UNKNOWN
            nd = len(n.shape)
            contracted = nd - 1 if side == 0 else nd - 2
            if s.dim == contracted:
                return self._mix(node, s.dim, "multiplies along a dimension that carries the batch", s)
            d = out_nd - nd + s.dim
            axes.add(Axis(d, s.inner, s.size))
        if len({a.dim for a in axes}) > 1:
            return self._mix(node, None, "multiplies every sample with every other (a Gram matrix of the batch)",
                             min(axes, key=lambda a: a.dim))  # fmt: skip
        return axes.pop() if len(axes) == 1 else UNKNOWN

    def _einsum(self, node: Node, ins) -> State:
        equation = node.args[0] if node.args and isinstance(node.args[0], str) else None
        if equation is None or "..." in equation or "->" not in equation:
            return UNKNOWN
        lhs, rhs = equation.replace(" ", "").split("->")
        terms = lhs.split(",")
        nodes = [n for n, _ in ins]
        if len(nodes) == 1:
            nodes = nodes * len(terms)
        if len(nodes) != len(terms):
            return UNKNOWN
        letters = set()
        axis = None
        for term, n in zip(terms, nodes):
            s = self.states.get(n.index)
            if s is None:
                continue
            if not isinstance(s, Axis) or s.dim >= len(term):
                return UNKNOWN
            letters.add(term[s.dim])
            axis = s
        if not letters:
            return None
        if any(letter not in rhs for letter in letters):
            return self._mix(node, None, "sums over the batch in einsum", axis)
        if len(letters) > 1:
            return self._mix(node, None, "pairs every sample with every other in einsum", axis)
        return Axis(rhs.index(letters.pop()), axis.inner, axis.size)

    def _embedding(self, node: Node, ins) -> State:
        x = self._single(ins)
        return x[1] if x is not None and node.shape is not None and len(node.shape) == len(x[0].shape) + 1 else UNKNOWN

    def _other(self, node: Node, ins) -> State:
        name = node.type_name.strip("_")
        if name in _REDUCTIONS or name in _ALONG:
            return self._reduce(node, ins, name)
        if is_loss(node):
            return self._loss(node, ins)
        if node.shape is None:  # a container built from tensors (a namedtuple of outputs)
            carrying = {s for _, s in ins if s is not None}
            return carrying.pop() if len(carrying) == 1 and isinstance(next(iter(carrying)), Axis) else UNKNOWN
        return self.elementwise(node, ins)

    def _loss(self, node: Node, ins) -> State:
        """A loss: per sample with ``reduction='none'``, else one value over the whole batch."""
        reduction = node.params.get("reduction", node.kwargs.get("reduction", "mean"))
        if node.kwargs.get("reduce") is False or node.kwargs.get("size_average") is not None:
            return UNKNOWN  # the deprecated spellings: not worth reading
        if reduction == "none":
            return self.elementwise(node, ins)
        axis = next((s for _, s in ins if isinstance(s, Axis)), None)
        if axis is None or not isinstance(reduction, str):
            return UNKNOWN
        how = f"reduces over every dimension (reduction='{reduction}'), which includes the batch"
        return self._mix(node, axis.dim, how, axis)

    def _reduce(self, node: Node, ins, name: str) -> State:
        x = self._single(ins) or next(((n, s) for n, s in ins if isinstance(s, Straddle)), None)
        if x is None:
            if name in ("max", "min") and len([s for _, s in ins if s is not None]) > 1:
                return self.elementwise(node, ins)  # torch.max(a, b): element-wise
            return UNKNOWN
        n, s = x
        if n.shape is None:
            return UNKNOWN
        ndim = len(n.shape)
        if name in ("max", "min") and len(ins) > 1:
            return self.elementwise(node, ins)
        position = 1 if name in ("norm", "normalize") else 0  # after p: norm(x, p, dim), normalize(x, p, dim)
        dim = _arg(node, position, "dim", 1 if name == "normalize" else None)
        if dim is None:
            if name in _ALONG and name not in ("sort", "argsort"):
                return UNKNOWN
            dims = set(range(ndim))
        else:
            listed = dim if isinstance(dim, (tuple, list)) else (dim,)
            normed = [_norm_dim(d, ndim) for d in listed]
            if any(d is None for d in normed):
                return UNKNOWN
            dims = set(normed)
        verb = "reduces" if name in _REDUCTIONS else "normalises" if name in ("normalize", "softmin") else "works"
        if name in _ALONG or _arg(node, position + 1, "keepdim", False) is True:
            return self._mixes_along(node, ins, dims, verb)
        if isinstance(s, Straddle):
            return self._mixes_along(node, ins, dims, verb)
        if s.dim in dims:
            over = "every dimension" if dims == set(range(ndim)) else f"dimension {s.dim}"
            return self._mix(node, s.dim, f"reduces over {over}, which includes the batch", s)
        d = s.dim - sum(1 for k in dims if k < s.dim)
        shape = node.shape if node.shape is not None else (node.shapes[0] if node.shapes else None)
        if shape is None or d >= len(shape) or shape[d] != n.shape[s.dim]:
            return UNKNOWN
        out = Axis(d, s.inner, s.size)
        return out if node.shape is not None else tuple(out for _ in node.shapes)


def _dimension(s: Axis, node: Node) -> str:
    """``dimension 0`` or ``dimension 0 (the batch merged with other dimensions, B*4)``."""
    size = node.shape[s.dim] if node.shape is not None else s.size
    if size == s.size:
        return f"dimension {s.dim}"
    return f"dimension {s.dim} (the batch merged with other dimensions: {size} = {s.size}*{size // s.size})"


def _dims_of(items: list) -> list[tuple[int, Any]]:
    """``(input dimension, index item)`` pairs; ``None`` items consume no input dimension."""
    out, d = [], 0
    for item in items:
        out.append((d, item))
        if item is not None:
            d += 1
    return out


def permutation(node: Node, ndim: int) -> list[int] | None:
    """Where each output dimension of a permute-like op comes from: ``x.transpose(1, 2)`` of a 3-D tensor -> [0, 2, 1]."""
    name = node.type_name
    rest = operand_args(node)
    if name in ("permute",):
        dims = rest[0] if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else rest
        dims = node.kwargs.get("dims", dims)
        out = [_norm_dim(d, ndim) for d in dims]
        return None if any(d is None for d in out) else out
    perm = list(range(ndim))
    if name in ("transpose", "swapaxes", "swapdims"):
        a = _norm_dim(_arg(node, 0, "dim0"), ndim)
        b = _norm_dim(_arg(node, 1, "dim1"), ndim)
        if a is None or b is None:
            return None
        perm[a], perm[b] = perm[b], perm[a]
        return perm
    if name in ("t", "mT") or name == "T":
        if ndim < 2:
            return perm
        perm[-1], perm[-2] = perm[-2], perm[-1]
        return perm
    if name in ("movedim", "moveaxis"):
        src, dst = _arg(node, 0, "source"), _arg(node, 1, "destination")
        src = src if isinstance(src, (tuple, list)) else (src,)
        dst = dst if isinstance(dst, (tuple, list)) else (dst,)
        src = [_norm_dim(d, ndim) for d in src]
        dst = [_norm_dim(d, ndim) for d in dst]
        if None in src or None in dst:
            return None
        result: list[int | None] = [None] * ndim
        for a, b in zip(src, dst):
            result[b] = a
        remaining = iter(d for d in range(ndim) if d not in src)
        return [r if r is not None else next(remaining) for r in result]
    return None


_HANDLERS = {
    **dict.fromkeys(_ELEMENTWISE, BatchFlow.elementwise),
    **dict.fromkeys((Op.INSTANCENORM, Op.GROUPNORM, Op.LAYERNORM, Op.NORM), BatchFlow._norm),
    Op.CONV: BatchFlow._conv,
    Op.LINEAR: BatchFlow._linear,
    Op.POOL: BatchFlow._pool,
    Op.SOFTMAX: BatchFlow._softmax,
    Op.ATTENTION: BatchFlow._attention,
    Op.RNN: BatchFlow._rnn,
    Op.RESHAPE: BatchFlow._reshape,
    Op.PERMUTE: BatchFlow._permute,
    Op.CAT: BatchFlow._cat,
    Op.SPLIT: BatchFlow._split,
    Op.MATMUL: BatchFlow._matmul,
    Op.EMBEDDING: BatchFlow._embedding,
}


def returned_statistic(node: Node, states: dict[int, State]) -> bool:
    """A reduction over the batch that reaches the outputs only as a batch statistic returned beside a
    per-sample prediction (a VQ commitment loss, a VAE's batch-mean KL): it is combined with no
    per-sample value on the way, and some output carries the batch without it. A loss (a loss
    functional or module) is a batch statistic by design: returned alone too (a wrapper whose forward
    returns the training loss), it mixes no prediction.
    """
    loss = is_loss(node)
    if node.op != Op.REDUCE and not loss:
        return False
    outputs: list[Node] = []
    for n in _values_fed(node):
        if n.op == Op.OUTPUT:
            outputs.append(n)
        elif any(isinstance(states.get(i.index), (Axis, Straddle)) for i in n.inputs):
            return False  # ``pred - stat``: a per-sample value depends on the other samples
    return loss or any(isinstance(states.get(i.index), Axis) for out in outputs for i in out.inputs)


def is_loss(node: Node) -> bool:
    """A loss functional or module (``F.mse_loss``, ``nn.CrossEntropyLoss``): what reduces per-sample errors."""
    return node.type_name.strip("_") in _LOSSES or "reduction" in node.params


def reaches_output(node: Node) -> bool:
    """Whether ``node``'s value flows into a model output (not only into control flow or a buffer write)."""
    return any(n.op == Op.OUTPUT for n in _values_fed(node))


def _values_fed(node: Node) -> Iterator[Node]:
    """The nodes ``node``'s value flows into, outputs included; the walk stops at outputs, at what is not a
    tensor value (shapes, control flow) and at in-place writes into a parameter or buffer. A caller may
    stop early: each node is yielded before the walk goes past it."""
    seen = {node.index}
    frontier = list(node.users)
    while frontier:
        n = frontier.pop()
        if n.index in seen:
            continue
        seen.add(n.index)
        if n.op == Op.OUTPUT:
            yield n
            continue
        if not n.is_tensor or n.op in (Op.SHAPE, Op.CONTROL) or _writes_buffer(n):
            continue
        yield n
        frontier.extend(n.users)


def _writes_buffer(node: Node) -> bool:
    """An in-place op on a parameter or buffer (``self.running.mul_(m).add_(x.mean(0))``)."""
    while node.kind == "method" and node.target.endswith("_") and not node.target.endswith("__") and node.inputs:
        node = node.inputs[0]
        if node.op == Op.PARAM:
            return True
    return False

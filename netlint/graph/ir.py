"""The engine-neutral graph that rules see.

Rules never learn whether torch.fx or the runtime capture built a graph: both produce these
nodes. Nothing here imports torch, so rules (and ``netlint rules`` / ``explain``) stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..source import shown_path

Shape = tuple[int, ...]


class Op:
    """Semantic categories of nodes; ``node.op`` is one of these strings."""

    INPUT = "input"
    OUTPUT = "output"
    PARAM = "param"  # a parameter, buffer or attribute tensor read in forward
    CONSTANT = "constant"  # a tensor created in forward (torch.zeros, torch.rand...)
    CONV = "conv"
    LINEAR = "linear"
    EMBEDDING = "embedding"
    ATTENTION = "attention"
    RNN = "rnn"
    BATCHNORM = "batchnorm"
    INSTANCENORM = "instancenorm"
    GROUPNORM = "groupnorm"
    LAYERNORM = "layernorm"
    NORM = "norm"  # any other normalisation (LocalResponseNorm, RMSNorm...)
    DROPOUT = "dropout"  # element-wise dropout (Dropout, AlphaDropout, F.dropout)
    CHANNEL_DROPOUT = "channel_dropout"  # Dropout1d/2d/3d, FeatureAlphaDropout
    DROPBLOCK = "dropblock"
    DROP_PATH = "drop_path"  # stochastic depth
    ACTIVATION = "activation"
    POOL = "pool"
    RESHAPE = "reshape"  # view, reshape, flatten, nn.Flatten, (un)squeeze, expand, repeat
    PERMUTE = "permute"  # permute, transpose, movedim, roll, flip, pixel_shuffle
    PAD = "pad"  # F.pad, nn.ZeroPad2d, nn.ReflectionPad2d...: moves data, mixes no channels
    RESAMPLE = "resample"  # F.interpolate, nn.Upsample, grid_sample: resizes each channel on its own
    ADD = "add"  # add, sub
    MUL = "mul"  # mul, div
    CAT = "cat"  # cat, stack
    SPLIT = "split"  # chunk, split, unbind
    GETITEM = "getitem"  # indexing, slicing, gather, index_select, x[i] = y
    IDENTITY = "identity"  # nn.Identity, contiguous, clone, dtype casts
    MATMUL = "matmul"
    SOFTMAX = "softmax"
    REDUCE = "reduce"  # mean, sum, amax, std, norm...: reduces dimensions
    MATH = "math"  # element-wise arithmetic without weights: exp, pow, clamp, where, comparisons
    SHAPE = "shape"  # size(), dim(), .shape: metadata, not data
    RANDOM = "random"  # a random draw in forward (torch.rand, bernoulli): hand-written stochastic ops
    CONTROL = "control"  # a Python decision on a tensor's value (bool(x), x.item()): recorded at runtime
    OPAQUE = "opaque"  # a module whose inside neither engine could see
    OTHER = "other"


#: Dropout-family ops that rescale kept units by 1/(1-p) in training.
DROPOUT_OPS = frozenset({Op.DROPOUT, Op.CHANNEL_DROPOUT, Op.DROPBLOCK})
#: Everything that draws a random mask in training and so shifts the variance a BatchNorm sees.
STOCHASTIC_OPS = DROPOUT_OPS | {Op.DROP_PATH}
#: Normalisation layers of any kind.
NORM_OPS = frozenset({Op.BATCHNORM, Op.INSTANCENORM, Op.GROUPNORM, Op.LAYERNORM, Op.NORM})
#: Ops that move, copy, pad, resample or slice data without mixing channels.
LAYOUT_OPS = frozenset({Op.RESHAPE, Op.PERMUTE, Op.PAD, Op.RESAMPLE, Op.GETITEM, Op.SPLIT, Op.IDENTITY})
#: Layers with learned weights that mix features: the "nearest weight layer" of a path.
WEIGHT_OPS = frozenset({Op.CONV, Op.LINEAR, Op.EMBEDDING, Op.ATTENTION, Op.RNN, Op.MATMUL})


@dataclass(eq=False)
class Node:
    """One operation: a module call, a functional call or a tensor method call."""

    index: int
    kind: str  # "input" | "module" | "function" | "method" | "param" | "output"
    op: str  # an Op category
    target: str  # qualified type of a module, or the function / method name
    module: str  # layer path for a module call; for a functional call, the owning module
    params: dict[str, Any] = field(default_factory=dict)
    inputs: list[Node] = field(default_factory=list)
    users: list[Node] = field(default_factory=list)
    shape: Shape | None = None  # output shape when the output is one tensor
    shapes: tuple[Shape, ...] = ()  # every tensor in the output, in order
    file: str | None = None  # where to act: the user's line for this layer or call
    line: int | None = None
    origin: tuple[str, int] | None = None  # where the layer was created, if elsewhere
    engine: str = "fx"
    call: int | None = None  # key in Graph.calls: this layer's own call, or the call of the module running this op
    grad: bool | None = None  # whether the output depends differentiably on a trainable parameter (autograd's view)
    args: tuple[Any, ...] = ()  # the call's non-tensor arguments (dims, sizes, indices); tensors as TensorArg
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def type_name(self) -> str:
        """``Conv2d`` for ``torch.nn.modules.conv.Conv2d``; the function name otherwise."""
        return self.target.rsplit(".", 1)[-1]

    @property
    def is_tensor(self) -> bool:
        """Whether the output carries tensor data (``x.size()`` does not)."""
        return bool(self.shapes)

    @property
    def in_shape(self) -> Shape | None:
        """Shape of the first tensor input."""
        for producer in self.inputs:
            if producer.shape is not None:
                return producer.shape
        return None

    @property
    def data_inputs(self) -> list[Node]:
        """Producers that carry activations (not parameters or shape metadata)."""
        return [n for n in self.inputs if n.is_tensor and n.op not in (Op.PARAM, Op.SHAPE)]

    @property
    def label(self) -> str:
        """``features.3 (Dropout)`` or ``add in layer1.0`` for messages."""
        if self.kind == "module":
            return f"{shown_path(self.module)} ({self.type_name})"
        where = f" in {shown_path(self.module)}" if self.module else ""
        return f"{self.type_name}(){where}"

    def __repr__(self) -> str:
        return f"<Node {self.index} {self.kind}:{self.op} {self.target} @{self.module!r} {self.shape}>"


@dataclass(frozen=True)
class TensorArg:
    """A tensor among a call's arguments (``Node.args``): only its shape is kept."""

    shape: Shape | None


@dataclass(frozen=True)
class ParamInfo:
    """One parameter of the model, whether the forward used it or not."""

    path: str
    numel: int
    trainable: bool  # requires_grad
    alias: str  # the first path of the same tensor (tied weights share it)


@dataclass
class AnalysisPart:
    """Which engine analysed which part of a model, and why a fallback was needed."""

    module: str  # module path ("" is the whole model)
    engine: str  # "torch.fx" | "capture (meta)" | "capture (cpu)"
    reason: str = ""  # why fx could not trace this part


@dataclass
class ModuleCall:
    """One call of a module during the recorded forward: which module, made by which call, from where."""

    module: str  # the called module's path
    parent: int | None  # key of the call whose forward made this one (None for the root's call)
    file: str | None = None  # the line that made the call
    line: int | None = None


@dataclass
class Graph:
    """A model as nodes in execution order, with where each part came from."""

    name: str
    nodes: list[Node] = field(default_factory=list)
    parts: list[AnalysisPart] = field(default_factory=list)
    unused: tuple[str, ...] = ()  # leaf layers the analysed forward never called
    training: bool = True  # the mode the graph was recorded in
    calls: dict[int, ModuleCall] = field(default_factory=dict)  # every module call, leaf or not, by key
    context: dict[str, Any] = field(default_factory=dict)  # facts from outside the model ("losses": names in sight)
    parameters: tuple[ParamInfo, ...] = ()  # every parameter of the model, used or not
    # Where each module (and each parameter that is set directly on a module) is defined: path -> (file, line,
    # origin): for findings about layers that have no node (never called).
    locations: dict[str, tuple[str | None, int | None, tuple[str, int] | None]] = field(default_factory=dict)

    def add(self, node: Node) -> Node:
        node.index = len(self.nodes)
        self.nodes.append(node)
        for producer in node.inputs:
            producer.users.append(node)
        return node

    def ops(self, *ops: str) -> Iterator[Node]:
        """Nodes whose op is one of ``ops``, in execution order."""
        return (n for n in self.nodes if n.op in ops)

    @property
    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.op == Op.INPUT]


def walk(
    start: Node,
    *,
    stop: Callable[[Node], bool],
    through: Callable[[Node], bool] = lambda n: True,
    upstream: bool = False,
    follow: Callable[[Node], bool] = lambda n: True,
) -> tuple[list[Node], bool]:
    """Follow data edges from ``start`` (excluded) downstream or upstream.

    Returns the nodes where ``stop`` held, in order of discovery, each once, and whether some
    path ended elsewhere: at a node that is neither ``stop`` nor ``through``, or at the graph's
    edge. A path never continues past a ``stop`` node, nor through metadata (``x.size()``).
    ``follow`` prunes neighbours: a pruned one is neither visited nor an open end (a broadcast
    bias that carries no part of the feature map).
    """
    found: list[Node] = []
    seen: set[int] = {start.index}
    open_end = False
    neighbours = _neighbours(start, upstream)
    frontier = [n for n in neighbours if follow(n)]
    if not neighbours:
        open_end = True
    while frontier:
        node = frontier.pop()
        if node.index in seen:
            continue
        seen.add(node.index)
        if not node.is_tensor or node.op in (Op.PARAM, Op.SHAPE):
            continue  # metadata and weights are not data paths
        if stop(node):
            found.append(node)
            continue
        nxt = _neighbours(node, upstream)
        if not through(node) or not nxt:
            open_end = True
            continue
        frontier.extend(n for n in nxt if follow(n))
    found.sort(key=lambda n: n.index)
    return found, open_end


def data_path(
    start: Node,
    end: Node | Callable[[Node], bool],
    *,
    through: Callable[[Node], bool] = lambda n: True,
    upstream: bool = False,
    follow: Callable[[Node], bool] = lambda n: True,
) -> list[Node]:
    """The shortest data path from ``start`` to ``end`` (or the nearest node where ``end`` holds), both included,
    along the edges ``walk`` follows (in walking order: against the data flow when ``upstream``);
    [] when there is none. What reports show as "the path from source to sink"."""
    is_end = end if callable(end) else lambda n: n is end
    parent: dict[int, Node | None] = {start.index: None}
    frontier = [start]
    while frontier:
        nxt: list[Node] = []
        for node in frontier:
            for n in _neighbours(node, upstream):
                if n.index in parent or not follow(n) or not n.is_tensor or n.op in (Op.PARAM, Op.SHAPE):
                    continue
                parent[n.index] = node
                if is_end(n):
                    path = [n]
                    while (back := parent[path[-1].index]) is not None:
                        path.append(back)
                    return path[::-1]
                if through(n):
                    nxt.append(n)
        frontier = sorted(nxt, key=lambda n: n.index)  # the same path on every run
    return []


def _neighbours(node: Node, upstream: bool) -> list[Node]:
    return node.data_inputs if upstream else node.users


def format_count(n: int) -> str:
    """``102764544`` -> ``102.8 M``; ``2101248`` -> ``2.1 M``; ``4096`` -> ``4,096``."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f} G"
    if n >= 1_000_000:
        return f"{n / 1e6:.1f} M"
    if n >= 10_000:
        return f"{n / 1e3:.1f} k"
    return f"{n:,}"


def shape_str(shape: Iterable[int] | None) -> str:
    return "x".join(str(d) for d in shape) if shape is not None else "?"


def per_dim(value: Any, dims: int | None, *, none: bool = False) -> tuple[Any, ...] | None:
    """``3`` / ``(3,)`` / ``(3, 3)`` as one int per spatial dimension; None when it is not that.

    A sequence of the wrong length is not that (PyTorch rejects it). ``none``: entries may be None
    (an adaptive pool's ``output_size=(None, 7)`` keeps that dimension).
    """
    if dims is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * dims
    allowed = (int, type(None)) if none else int
    if (
        isinstance(value, (tuple, list))
        and value
        and all(isinstance(v, allowed) and v is not True and v is not False for v in value)
    ):
        return tuple(value) * dims if len(value) == 1 else (tuple(value) if len(value) == dims else None)
    return None

"""The model's own forward, run eagerly on meta tensors: what it really calls, cheaply.

Three questions need the model as Python runs it rather than as a trace sees it: which layer
``forward`` reaches first with each input (registration order is not call order), at which
spatial size a flatten fits the Linear after it, and whether a traced graph is the model at all
(a Python ``isinstance(x, torch.Tensor)`` is False for an fx proxy, so a branch can vanish).

No kernel runs where netlint has a shape function: torch's own layers and the common functions
give their meta output directly (graph/shapes.py, the same functions the fx interpreter uses),
so a run costs about what shape propagation costs; the outputs of the layers without one are
kept for the recording to reuse. Global module hooks see every layer call; a
``TorchFunctionMode`` follows which input each tensor came from. A watcher may end the run
early (``Stop``) once it has what it needs.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

from . import ops, shapes
from .capture import method_name
from .ir import Graph, Op, shape_str

INPUT_LAYERS = (nn.modules.conv._ConvNd, nn.Linear, nn.Embedding, nn.EmbeddingBag, nn.RNNBase)
# Tensor methods after which a value is still the input itself (a dtype or layout change).
CASTS = frozenset({"float", "double", "half", "long", "int", "to", "type", "contiguous"})


class Stop(BaseException):
    """Raised by a watcher to end the run: it has what it needs. A BaseException, so that a
    ``try: ... except Exception:`` in the user's forward does not swallow it."""


@dataclass(frozen=True)
class Consumer:
    """The first input layer (conv, linear, embedding, RNN) that a positional input reaches."""

    path: str
    layer: nn.Module
    direct: bool  # the input reaches the layer unchanged (a dtype cast at most)


@dataclass(frozen=True)
class LeafCall:
    path: str
    owner: str  # the module whose forward made the call ("" for the root)
    shapes: tuple[tuple[int, ...], ...]  # output tensor shapes; () while the call has not returned


@dataclass
class Run:
    calls: list[LeafCall] = field(default_factory=list)  # leaf layer calls in execution order
    outputs: tuple[tuple[int, ...], ...] | None = None  # the model's output shapes (None: did not finish)
    error: Exception | None = None  # what ended the run, if not the end of forward or a Stop
    consumers: list[Consumer | None] = field(default_factory=list)  # per positional input
    # (path, k) -> (signature of the arguments, output) of the k-th call of each leaf layer, for ``reuse``
    values: dict[tuple[str, int], tuple[tuple, Any]] = field(default_factory=dict)

    def reuse(self, path: str, k: int, args: tuple, kwargs: dict) -> Any:
        """The output this run's k-th call of layer ``path`` gave for the same arguments, or None.

        A layer without a shape function (``nn.MultiheadAttention``, an RNN) runs its meta kernels
        once, here, not again while the graph is recorded."""
        found = self.values.get((path, k))
        return found[1] if found is not None and found[0] == signature(args, kwargs) else None


def signature(args: tuple, kwargs: dict) -> tuple:
    """What a layer's output depends on, short of values: tensor shapes and dtypes, plain constants."""
    return tuple(_described(x) for x in tree_leaves((args, kwargs)))


def _described(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return tuple(x.shape), x.dtype
    return x if x is None or isinstance(x, (int, float, bool, str)) else type(x)


# A watcher sees every leaf layer call before it runs: (path, layer, args, the run so far); True ends the run.
Watcher = Callable[[str, nn.Module, tuple, "Run"], bool]


def run_eager(model: nn.Module, inputs: list[Any], watch: Watcher | None = None, track: bool = False) -> Run:
    """Run ``model(*inputs)`` (meta tensors) in training mode, recording leaf calls and output shapes.

    ``track``: follow each positional input's data to the first input layer it reaches
    (``Run.consumers``) and stop once every input has one. The model's training flags are
    restored; its weights, being meta, hold no values to change.
    """
    run = Run(consumers=[None] * len(inputs))
    recorder = _Recorder(model, run, watch, inputs if track else None)
    flags = [(m, m.training) for m in model.modules()]
    model.train()
    try:
        # The user's warnings come once, from the recording; a dry run repeats none of them.
        with recorder, torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = model(*inputs)
        run.outputs = tuple(tuple(t.shape) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
    except Stop:
        pass
    except Exception as exc:
        run.error = exc
    finally:
        for m, training in flags:
            m.training = training
    return run


class _Recorder(TorchFunctionMode):
    def __init__(self, model: nn.Module, run: Run, watch: Watcher | None, inputs: list[Any] | None):
        super().__init__()
        self.model, self.run, self.watch = model, run, watch
        self.paths: dict[int, str] = {}  # a shared layer goes by its first path, as in both engines
        for path, m in model.named_modules(remove_duplicate=False):
            self.paths.setdefault(id(m), path)
        self.owners = [""]
        self.leaf: nn.Module | None = None
        self.depth = 0  # calls nested inside the running leaf layer
        self.open: list[int] = []  # index in run.calls of the running leaf call
        self.labels: WeakIdKeyDictionary | None = None  # tensor -> the positional inputs it derives from
        self.same: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> the input it still is
        if inputs is not None:
            self.labels = WeakIdKeyDictionary()
            for i, x in enumerate(inputs):
                for t in tree_leaves(x):
                    if isinstance(t, torch.Tensor):
                        self.labels[t] = frozenset({i})
                        self.same[t] = i
        self.leaves: set[int] = set()
        self.done: dict[str, int] = {}  # leaf path -> index of its last finished call
        self._hooks: list[Any] = []
        self._patched: list[nn.Module] = []

    # -- torch functions: shape functions first, then the input each result derives from ----------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.labels is None and getattr(func, "__name__", "") == "__get__":
            return func(*args, **kwargs)  # ``x.shape``, ``x.dtype``: most calls, none with a shape function
        method = method_name(func)
        out = shapes.method_output(method, args, kwargs) if method else shapes.function_output(func, args, kwargs)
        out = func(*args, **kwargs) if out is None else shapes.as_output(out, (args, kwargs))
        if self.labels is not None:
            self._label(out, (args, kwargs))
            cast = method in CASTS and isinstance(out, torch.Tensor) and args and isinstance(args[0], torch.Tensor)
            if cast and args[0] in self.same:
                self.same[out] = self.same[args[0]]
        return out

    def _label(self, out: Any, sources: Any) -> None:
        found: frozenset[int] = frozenset()
        for t in tree_leaves(sources):
            if isinstance(t, torch.Tensor):
                found |= self.labels.get(t, frozenset())
        if found:
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    self.labels[t] = self.labels.get(t, frozenset()) | found

    # -- module calls ---------------------------------------------------------------------------
    def _pre(self, module, args, kwargs):
        if self.depth:
            self.depth += 1
            return
        path = self.paths.get(id(module))
        if path is None:
            return
        if id(module) not in self.leaves:
            self.owners.append(path)
            return
        self.leaf, self.depth = module, 1
        self.open.append(len(self.run.calls))
        self.run.calls.append(LeafCall(path, self.owners[-1], ()))
        if self.labels is not None and isinstance(module, INPUT_LAYERS):
            self._consumed(path, module, (args, kwargs))
        if self.watch is not None and self.watch(path, module, args, self.run):
            raise Stop

    def _consumed(self, path: str, module: nn.Module, args: Any) -> None:
        tensors = [t for t in tree_leaves(args) if isinstance(t, torch.Tensor)]
        reached = frozenset().union(*(self.labels.get(t, frozenset()) for t in tensors))
        direct = {self.same[t] for t in tensors if t in self.same}
        for i in sorted(reached):
            if self.run.consumers[i] is None:
                self.run.consumers[i] = Consumer(path, module, i in direct)
        if all(c is not None for c in self.run.consumers):
            raise Stop

    def _post(self, module, args, kwargs, out):
        if self.depth > 1:
            self.depth -= 1
            return
        path = self.paths.get(id(module))
        if path is None:
            return
        if self.depth == 1 and module is self.leaf:
            self.leaf, self.depth = None, 0
            index = self.open.pop()
            call = self.run.calls[index]
            shapes_out = tuple(tuple(t.shape) for t in tree_leaves(out) if isinstance(t, torch.Tensor))
            self.run.calls[index] = LeafCall(call.path, call.owner, shapes_out)
            k = self.done[path] = self.done.get(path, -1) + 1
            self.run.values[(path, k)] = (signature(args, kwargs), out)
            if self.labels is not None:
                self._label(out, (args, kwargs))
        elif len(self.owners) > 1 and self.owners[-1] == path:
            self.owners.pop()

    def __enter__(self):
        # torch's own layers give their output from a shape function, without a meta kernel.
        self.leaves = {id(m) for m in self.model.modules() if ops.is_leaf(m)}
        for m in self.model.modules():
            if id(m) in self.leaves and type(m).__module__.startswith("torch.nn.") and "forward" not in vars(m):
                self._patched.append(m)
                m.forward = _shortcut(m, m.forward)
        self._hooks = [
            register_module_forward_pre_hook(lambda m, a: self._pre(m, a, {})),
            register_module_forward_hook(self._post, with_kwargs=True),
        ]
        return super().__enter__()

    def __exit__(self, *exc):
        for handle in self._hooks:
            handle.remove()
        for m in self._patched:
            vars(m).pop("forward", None)
        self._hooks, self._patched = [], []
        return super().__exit__(*exc)


def _shortcut(module: nn.Module, forward: Callable[..., Any]) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        out = shapes.module_output(module, args, kwargs)
        if out is None:  # as the fx interpreter does: PyTorch's checks in netlint's words, then the layer
            shapes.check_module(module, args)
            return forward(*args, **kwargs)
        with torch._C.DisableTorchFunction():  # gradients as autograd would give them (NL012 reads them)
            return shapes.as_output(out, (args, list(module.parameters())))

    return run


# -- a recorded graph against the model ----------------------------------------------------------
def disagreement(graph: Graph, run: Run) -> tuple[str, str] | None:
    """Where a recorded graph is not the model that ``run`` ran: (what differs, the module whose
    forward made the first differing call); None when every leaf layer is called as often with the
    same output shapes and the outputs have the same shapes."""
    traced: dict[str, list[tuple]] = defaultdict(list)
    owners: dict[str, str] = {}
    for n in graph.nodes:
        if n.kind == "module":
            traced[n.module].append(n.shapes)
            owners.setdefault(n.module, _owner(graph, n.call))
    ran: dict[str, list[tuple]] = defaultdict(list)
    for call in run.calls:
        ran[call.path].append(call.shapes)
    seen: dict[str, int] = defaultdict(int)
    for call in run.calls:
        k = seen[call.path]
        seen[call.path] += 1
        mine = traced.get(call.path, [])
        if k >= len(mine):
            return f"{_called(call.path, ran, traced)}", call.owner
        if mine[k] != call.shapes:
            return f"{call.path} returns {_shapes(call.shapes)}, not {_shapes(mine[k])}", call.owner
    for path, calls in traced.items():
        if len(calls) > len(ran.get(path, [])):
            return f"{_called(path, ran, traced)}", owners.get(path, "")
    outputs = tuple(s for n in graph.ops(Op.OUTPUT) for s in n.shapes)
    if run.outputs is not None and outputs != run.outputs:
        return f"the model returns {_shapes(run.outputs)}, not {_shapes(outputs)}", ""
    return None


def _owner(graph: Graph, call: int | None) -> str:
    record = graph.calls.get(call) if call is not None else None
    parent = graph.calls.get(record.parent) if record is not None and record.parent is not None else None
    return parent.module if parent is not None else ""


def _called(path: str, ran: dict[str, list], traced: dict[str, list]) -> str:
    times = lambda n: {0: "never", 1: "once"}.get(n, f"{n} times")  # noqa: E731
    return f"the model calls {path} {times(len(ran.get(path, [])))}, the trace {times(len(traced.get(path, [])))}"


def _shapes(shapes: tuple) -> str:
    return " and ".join(shape_str(s) for s in shapes) or "no tensor"

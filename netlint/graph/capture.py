"""The runtime-capture engine: record one forward call as IR nodes.

Used for whatever torch.fx cannot trace. A ``TorchFunctionMode`` sees every torch function and
tensor method (so ``F.dropout`` in a forward is seen as such), global module hooks see every layer
call; data edges follow tensor identity. Leaf layers are recorded whole and what runs inside them
is ignored. It runs on meta tensors when it can (no memory, no compute) and on real CPU tensors
when the forward depends on data (``if x.mean() > 0``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves, tree_map
from torch.utils.weak import WeakIdKeyDictionary

from ..errors import ForwardFailure
from ..source import call_site, location, stack_lines
from . import functions, ops, shapes
from .builder import Builder
from .guards import running_only_in_training
from .ir import Node
from .scripted import script_functions_in_python


class Recorder(TorchFunctionMode):
    """Records ops into ``builder`` while a forward runs inside ``with recorder:``."""

    def __init__(self, builder: Builder, paths: dict[int, str], owner: str, engine: str, call: int | None = None):
        super().__init__()
        self.builder = builder
        self.paths = paths  # id(module) -> module path in the analysed model
        self.engine = engine
        self.producers: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self.owners = [owner]
        self.calls: list[tuple[str, int | None]] = [(owner, call)]  # (path, key in graph.calls) of running modules
        self.leaf: torch.nn.Module | None = None  # the leaf layer now running, if any
        self.leaf_depth = 0
        self._hooks: list[Any] = []
        self._functions: Any = None

    # -- data edges -----------------------------------------------------------------------
    def seed(self, value: Any, node: Node | None) -> None:
        if node is None:
            return
        for t in tree_leaves(value):
            if isinstance(t, torch.Tensor):
                self.producers[t] = node

    def inputs_of(self, *values: Any) -> list[Node]:
        found = []
        for t in tree_leaves(values):
            if isinstance(t, torch.Tensor):
                node = self.producers.get(t)
                if node is None and id(t) in self.paths:  # a weight read in forward, as fx's get_attr
                    node = self.builder.param(self.paths[id(t)], t, self.engine)
                    self.producers[t] = node
                if node is not None:
                    found.append(node)
        return found

    def node_of(self, value: Any) -> Any:
        """The IR structure of an output: the producer of each tensor in it."""
        return tree_map(lambda t: self.producers.get(t) if isinstance(t, torch.Tensor) else None, value)

    # -- torch functions and tensor methods --------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.leaf_depth:
            return out
        method = method_name(func)
        if method == "__setitem__":  # x[i] = y writes y's data into x
            inputs = self.inputs_of(args[0], args[2:])
            node = self.builder.method(method, inputs, args[0], self.owners[-1], call_site(), self.engine, args[1:2])
            node.call = self.calls[-1][1]
            self.seed(args[0], node)
            return out
        if method in ops.CONTROL_METHODS and args and isinstance(args[0], torch.Tensor):
            # bool(x) or x.item(): forward decides on a value (a random draw skipping a block).
            node = self.builder.method(method, self.inputs_of(args[0]), out, self.owners[-1], call_site(), self.engine)
            node.call = self.calls[-1][1]
            node.params["stack"] = stack_lines()
            return out
        if ops.is_decision(func, method):  # torch.equal(a, b), x.allclose(y): a bool from tensors, as bool(x)
            inputs = self.inputs_of(args, kwargs)
            if method is not None:
                node = self.builder.method(method, inputs, out, self.owners[-1], call_site(), self.engine)
            else:
                node = self.builder.function(func, args, kwargs, inputs, out, self.owners[-1], call_site(), self.engine)
            node.params["stack"] = stack_lines()
            return out
        if not any(isinstance(t, torch.Tensor) for t in tree_leaves(out)):
            return out  # sizes, shapes and Python numbers carry no activations
        inputs = self.inputs_of(args, kwargs)
        if method is not None:
            node = self.builder.method(method, inputs, out, self.owners[-1], call_site(), self.engine, args[1:], kwargs)
        else:
            node = self.builder.function(func, args, kwargs, inputs, out, self.owners[-1], call_site(), self.engine)
            if ops.is_functional_dropout(func) and running_only_in_training(getattr(func, "__name__", "")):
                node.params["only_in_training"] = True  # reached through ``if self.training:``
        node.call = self.calls[-1][1]
        if ops.is_value_sized(func, method, args):
            node.params["stack"] = stack_lines()  # which rows a router picked: graph/routing.py reads the lines
        self.seed(out, node)
        self._split_gradients(out, node)
        return out

    def _split_gradients(self, out: Any, node: Node) -> None:
        """``values, indices = x.max(1)``: fx reads each element through a getitem node; give the elements
        without a gradient (the indices) one too, so that nothing downstream of them looks differentiable."""
        if not isinstance(out, (tuple, list)) or not node.grad:
            return
        for i, t in enumerate(out):
            if isinstance(t, torch.Tensor) and not t.requires_grad:
                element = self.builder.method("__getitem__", [node], t, self.owners[-1], call_site(), self.engine, (i,))
                self.producers[t] = element

    def _apply(self, cls: type, args: tuple, kwargs: dict) -> Any:
        """``Fn.apply(...)`` of a custom autograd Function: the ops of its forward, graded as its backward says."""
        apply = functions.original_apply(cls)
        if self.leaf_depth:
            return apply(*args, **kwargs)
        skip = functions.no_gradient_inputs(cls)
        differentiable = self.inputs_of([a for i, a in enumerate(args) if i not in skip], kwargs)
        cut: dict[torch.Tensor, Node] = {}  # arguments backward returns None for: their producers, cut meanwhile
        for t in tree_leaves([a for i, a in enumerate(args) if i in skip]):
            if isinstance(t, torch.Tensor) and (producer := next(iter(self.inputs_of(t)), None)) is not None:
                cut[t] = producer
                self.producers[t] = self._cut(cls, producer, t, "its backward returns None for this input")
        start = len(self.builder.graph.nodes)
        out = apply(*args, **kwargs)
        for t, producer in cut.items():
            self.producers[t] = producer
        functions.regrade(self.builder.graph.nodes[start:], differentiable)
        for t in tree_leaves(out):  # mark_non_differentiable, or no argument requires grad
            producer = self.producers.get(t) if isinstance(t, torch.Tensor) else None
            if producer is not None and producer.index >= start and producer.grad and not t.requires_grad:
                self.producers[t] = self._cut(cls, producer, t, "it returns this output without a gradient")
        return out

    def _cut(self, cls: type, producer: Node, value: torch.Tensor, why: str) -> Node:
        node = self.builder.gradient_cut(cls, producer, value, self.owners[-1], call_site(), self.engine, why)
        node.call = self.calls[-1][1]
        return node

    # -- module calls ---------------------------------------------------------------------
    def _pre(self, module, args):
        if self.leaf_depth:
            self.leaf_depth += 1
            return
        path = self.paths.get(id(module))
        if path is None:
            return
        self.calls.append((path, self.builder.new_call(path, self.calls[-1][1], call_site())))
        if ops.is_leaf(module):
            try:
                shapes.check_module(module, args)  # what PyTorch checks, in netlint's words
            except shapes.ShapeMismatch as exc:
                site = call_site()
                called = f", called at {location(site.file, site.line)}" if site is not None else ""
                raise ForwardFailure(exc, f"layer {path}{called}") from exc
            self.leaf, self.leaf_depth = module, 1
        else:
            self.owners.append(path)

    def _post(self, module, args, kwargs, out):
        if self.leaf_depth > 1:
            self.leaf_depth -= 1
            return
        path = self.paths.get(id(module))
        if path is None:
            return
        if self.leaf_depth == 1 and module is self.leaf:
            self.leaf, self.leaf_depth = None, 0
            node = self.builder.module(path, module, self.inputs_of(args, kwargs), out, self.engine)
            node.call = self.calls.pop()[1]
            self.seed(out, node)
        elif len(self.owners) > 1 and self.owners[-1] == path:
            self.owners.pop()
            self.calls.pop()

    def __enter__(self):
        self._hooks = [
            register_module_forward_pre_hook(self._pre),
            register_module_forward_hook(self._post, with_kwargs=True),
        ]
        self._functions = functions.calls_to(self._apply)
        self._functions.__enter__()
        return super().__enter__()

    def __exit__(self, *exc):
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        self._functions.__exit__(*exc)
        return super().__exit__(*exc)


def method_name(func) -> str | None:
    """``view`` for ``Tensor.view``; ``shape`` for the ``.shape`` getter; None for functions."""
    qual = getattr(func, "__qualname__", "")
    if qual.startswith(("TensorBase.", "Tensor.", "_TensorBase.")):
        return func.__name__
    if getattr(func, "__name__", "") == "__get__":
        owner = getattr(func, "__self__", None)
        return getattr(owner, "__name__", "attribute")
    return None


def module_paths(root: torch.nn.Module) -> dict[int, str]:
    """The path of every module, parameter and buffer of ``root``, by ``id``."""
    paths: dict[int, str] = {}
    for path, module in root.named_modules(remove_duplicate=False):
        paths.setdefault(id(module), path)
    for path, tensor in [*root.named_parameters(remove_duplicate=False), *root.named_buffers(remove_duplicate=False)]:
        paths.setdefault(id(tensor), path)
    return paths


def record_call(
    builder: Builder,
    paths: dict[int, str],
    owner: str,
    call: Callable[[], Any],
    seeds: list[tuple[Any, Node | None]],
    engine: str,
    parent_call: int | None = None,
) -> tuple[Any, Any]:
    """Run ``call`` under a recorder; returns its output and the output's IR (producer per tensor).

    ``parent_call`` is the key in ``graph.calls`` of the call that runs ``call`` (None: the root's).
    """
    recorder = Recorder(builder, paths, owner, engine, parent_call)
    for value, node in seeds:
        recorder.seed(value, node)
    try:
        with script_functions_in_python(builder.root), recorder:
            out = call()
    except Exception as exc:
        if recorder.leaf is not None:
            raise ForwardFailure(exc, f"layer {paths.get(id(recorder.leaf), type(recorder.leaf).__name__)}") from exc
        raise
    return out, recorder.node_of(out)

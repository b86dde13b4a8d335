"""Turns what an engine saw (a module call, a functional call, a tensor method) into IR nodes.

Both engines go through here, so classification, shapes and source locations cannot drift
between torch.fx and the runtime capture.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_leaves

from ..source import Site, is_user_file
from . import ops
from .ir import AnalysisPart, Graph, ModuleCall, Node, Op, TensorArg


def simple_args(value: Any, depth: int = 0) -> Any:
    """A call argument as plain data for ``Node.args``: numbers, strings, slices and nested tuples stay,
    a tensor becomes its ``TensorArg`` (shape only), anything else ``"?"``."""
    if isinstance(value, torch.Tensor):
        return TensorArg(tuple(value.shape))
    if value is None or value is Ellipsis or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, slice):
        return slice(simple_args(value.start, depth + 1), simple_args(value.stop, depth + 1),
                     simple_args(value.step, depth + 1))  # fmt: skip
    if isinstance(value, (tuple, list)) and depth < 3:
        return tuple(simple_args(v, depth + 1) for v in value)
    if isinstance(value, dict) and depth < 3:
        return {str(k): simple_args(v, depth + 1) for k, v in value.items()}
    return "?"


def _requires_grad(value: Any) -> bool:
    return any(isinstance(t, torch.Tensor) and t.requires_grad for t in tree_leaves(value))


def tensor_shapes(value: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(t.shape) for t in tree_leaves(value) if isinstance(t, torch.Tensor))


_LAYER_KINDS: dict[str, tuple[type, ...]] = {
    Op.CONV: (torch.nn.modules.conv._ConvNd,),
    Op.LINEAR: (torch.nn.Linear,),
    Op.BATCHNORM: (torch.nn.modules.batchnorm._BatchNorm,),
    Op.INSTANCENORM: (torch.nn.modules.instancenorm._InstanceNorm,),
    Op.GROUPNORM: (torch.nn.GroupNorm,),
    Op.LAYERNORM: (torch.nn.LayerNorm,),
}


def _training_source(site: Site, target: str) -> str:
    """How the call wrote ``training``: "omitted", "literal True", "literal False", "expression" or "unknown".

    Read from the source: F.dropout's torch-function dispatch passes ``training`` explicitly to the
    tracer even when the caller omitted it, so the recorded arguments cannot tell.
    """
    import ast

    from ..source import call_argument

    name = target.rsplit(".", 1)[-1]
    keyword = "train" if target.startswith("torch.") and not target.startswith("torch.nn.") else "training"
    expr = call_argument(site.file, site.line, name, keyword, 2)
    if expr is False:
        return "unknown"
    if expr is None:
        return "omitted"
    if isinstance(expr, ast.Constant) and isinstance(expr.value, bool):
        return f"literal {expr.value}"
    return "expression"


class Builder:
    def __init__(self, name: str, root: torch.nn.Module, sites: dict[str, Site]):
        self.graph = Graph(name, training=root.training)
        self.root = root
        self.sites = sites

    # -- nodes ----------------------------------------------------------------------------
    def _add(self, kind: str, op: str, target: str, module: str, params: dict[str, Any],
             inputs: list[Node], value: Any, site: Site | None, engine: str) -> Node:  # fmt: skip
        shapes = tensor_shapes(value)
        unique: list[Node] = []
        for producer in inputs:
            if producer not in unique:
                unique.append(producer)
        node = Node(index=-1, kind=kind, op=op, target=target, module=module, params=params, inputs=unique,
                    shape=tuple(value.shape) if isinstance(value, torch.Tensor) else None,
                    shapes=shapes, engine=engine, grad=_requires_grad(value))  # fmt: skip
        if site is not None:
            node.file, node.line = site.best
            node.origin = site.origin
        return self.graph.add(node)

    def input(self, name: str, value: Any) -> Node:
        return self._add("input", Op.INPUT, name, "", {}, [], value, None, "-")

    def inputs(self, name: str, value: Any) -> Any:
        """Input nodes for one positional input: one per tensor, in the input's own structure."""
        if isinstance(value, torch.Tensor):
            return self.input(name, value)
        if isinstance(value, dict):
            return {k: self.inputs(f"{name}[{k!r}]", v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.inputs(f"{name}[{i}]", v) for i, v in enumerate(value)]
        return None

    def param(self, path: str, value: Any, engine: str) -> Node:
        return self._add("param", Op.PARAM, path, path.rpartition(".")[0], {}, [], value, None, engine)

    def output(self, inputs: list[Node], value: Any) -> Node:
        return self._add("output", Op.OUTPUT, "output", "", {}, inputs, value, None, "-")

    def module(self, path: str, module: torch.nn.Module, inputs: list[Node], value: Any, engine: str) -> Node:
        op, params = ops.classify_module(module)
        target = ops.qualname(type(module)).lstrip(".")
        return self._add("module", op, target, path, params, inputs, value, self.sites.get(path), engine)

    def opaque(self, path: str, module: torch.nn.Module, inputs: list[Node], value: Any, engine: str) -> Node:
        target = ops.qualname(type(module)).lstrip(".")
        return self._add("module", Op.OPAQUE, target, path, {}, inputs, value, self.sites.get(path), engine)

    def function(self, fn: Any, args: tuple, kwargs: dict, inputs: list[Node], value: Any, owner: str,
                 site: Site | None, engine: str) -> Node:  # fmt: skip
        op, target, params = ops.classify_function(fn, args, kwargs)
        call = simple_args(tuple(args)), simple_args(dict(kwargs))
        if op in (Op.DROPOUT, Op.CHANNEL_DROPOUT) and site is not None:
            params = {**params, "training_source": _training_source(site, target)}
        layer = self._layer_of(owner, op)
        if layer is not None:
            # A conv or linear subclass that calls F.conv2d itself (timm's Conv2dSame) is that layer.
            params = {**params, "layer_type": type(layer).__name__}
            node = self._add("function", op, target, owner, params, inputs, value, self.sites.get(owner), engine)
        else:
            node = self._add("function", op, target, owner, params, inputs, value, self._call_site(site, owner), engine)
        node.args, node.kwargs = call
        return node

    def gradient_cut(self, cls: type, producer: Node, value: Any, owner: str, site: Site | None, engine: str,
                     why: str) -> Node:  # fmt: skip
        """A value that a custom autograd Function passes on without a gradient (graph/functions.py)."""
        name = ops.qualname(cls).lstrip(".")
        params = {"autograd_function": cls.__name__, "why": why}
        node = self._add("function", Op.IDENTITY, f"{name}.apply", owner, params, [producer], value,
                         self._call_site(site, owner), engine)  # fmt: skip
        node.grad = False
        return node

    def _layer_of(self, owner: str, op: str):
        """The layer whose own forward made this call: a subclass of the matching torch layer."""
        kinds = _LAYER_KINDS.get(op)
        if kinds is None:
            return None
        try:
            module = self.root.get_submodule(owner) if owner else self.root
        except AttributeError:
            return None
        return module if isinstance(module, kinds) else None

    def method(self, name: str, inputs: list[Node], value: Any, owner: str, site: Site | None, engine: str,
               args: tuple = (), kwargs: dict | None = None) -> Node:  # fmt: skip
        """A tensor method call; ``args`` are the arguments after the tensor itself."""
        op, params = ops.classify_method(name)
        node = self._add("method", op, name, owner, params, inputs, value, self._call_site(site, owner), engine)
        node.args, node.kwargs = simple_args(tuple(args)), simple_args(dict(kwargs or {}))
        return node

    def _call_site(self, site: Site | None, owner: str) -> Site | None:
        """A call in library code points at the user's line for the layer that made it."""
        if site is None:
            return self.sites.get(owner)
        if is_user_file(site.file):
            return Site(site.file, site.line)
        owner_site = self.sites.get(owner)
        if owner_site is not None:
            user_file, user_line = owner_site.best
            if is_user_file(user_file):
                return Site(site.file, site.line, user_file, user_line)
        return Site(site.file, site.line)

    def new_call(self, module: str, parent: int | None, site: Site | None) -> int:
        """Record one call of ``module`` made by call ``parent``; returns its key in ``graph.calls``."""
        key = len(self.graph.calls)
        file, line = site.best if site is not None else (None, None)
        self.graph.calls[key] = ModuleCall(module, parent, file, line)
        return key

    def part(self, module: str, engine: str, reason: str = "") -> None:
        self.graph.parts.append(AnalysisPart(module, engine, reason))

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
from .ir import AnalysisPart, Graph, Node, Op


def tensor_shapes(value: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(t.shape) for t in tree_leaves(value) if isinstance(t, torch.Tensor))


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
                    shapes=shapes, engine=engine)  # fmt: skip
        if site is not None:
            node.file, node.line = site.best
            node.origin = site.origin
        return self.graph.add(node)

    def input(self, name: str, value: Any) -> Node:
        return self._add("input", Op.INPUT, name, "", {}, [], value, None, "-")

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
        return self._add("function", op, target, owner, params, inputs, value, self._call_site(site, owner), engine)

    def method(self, name: str, inputs: list[Node], value: Any, owner: str, site: Site | None, engine: str) -> Node:
        op, params = ops.classify_method(name)
        return self._add("method", op, name, owner, params, inputs, value, self._call_site(site, owner), engine)

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

    def part(self, module: str, engine: str, reason: str = "") -> None:
        self.graph.parts.append(AnalysisPart(module, engine, reason))

"""Layers a recording on real values did not call because the values chose others (a router's experts).

A forward that decides on tensor values which layers to call (a mixture of experts sends each
token to the experts its router scores highest) is recorded on real CPU values, with one input:
the layers it left out on that input are not dead, and which ones they are depends on the
weights. A layer counts as routed when both of these hold:

- the recording: the forward of the module that refers to it decided on values (``bool(t)``,
  ``t.item()``, ``t.tolist()``, an index taken from a tensor) or sized tensors by them
  (``nonzero``, one-argument ``where``, a boolean index); such nodes carry the lines that ran them;
- the source: on those lines the forward decides whether the code that refers to the layer runs:
  the body of an ``if``, ``while`` or ``for`` whose test or iteration they compute (directly or
  through names assigned from them), what follows such an ``if`` that leaves the loop or the
  function, or the index of ``self.experts[i]``; a loop variable over a container (``for e in
  self.experts``) or a name bound to an element stands for the container.

A layer that no such code refers to (a spare expert no loop reaches, a layer behind an instance
flag) is still "never called".
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable

import torch

from . import syntax
from .ir import Graph
from .queries import trained_parameters, used_parameters


def routed(root: torch.nn.Module, graph: Graph) -> dict[str, str]:
    """``{module or parameter path: why}`` for the untrained parameters that a forward calls or not as
    tensor values decide."""
    lines: dict[str, set[tuple[str, int]]] = {}  # module path -> lines of its forward's value decisions
    for node in graph.nodes:
        if "stack" in node.params:
            lines.setdefault(node.module, set()).update(node.params["stack"])
    if not lines:
        return {}
    trainable = {p.path for p in graph.parameters if p.trainable}
    untrained = sorted(trainable - trained_parameters(graph))
    called = {c.module for c in graph.calls.values()} | {n.module for n in graph.nodes if n.kind == "module"}
    read = used_parameters(graph)
    found: dict[str, str] = {}
    for owner in sorted(lines):
        try:
            module = root.get_submodule(owner)
        except AttributeError:
            continue
        prefix = owner + "." if owner else ""
        below = [p[len(prefix) :] for p in untrained if p.startswith(prefix)]
        if not below:
            continue
        for chain, why in _decided_references(type(module), frozenset(lines[owner])):
            reached = syntax.through_containers(module, chain)
            for rel in below:
                covered = syntax.covers(reached, rel.split("."))
                if covered is not None and prefix + covered not in called and prefix + rel not in read:
                    found.setdefault(prefix + covered, why)
    return found


@functools.lru_cache(maxsize=256)
def _decided_references(cls: type, lines: frozenset[tuple[str, int]]) -> tuple[tuple[tuple[str, ...], str], ...]:
    """``(chain, why)`` for the layer references of ``cls``'s forward (and the methods it reaches) on code
    that the value decisions at ``lines`` decide."""
    methods = syntax.methods(cls)
    if "forward" not in methods:
        return ()
    found: list[tuple[tuple[str, ...], str]] = []
    for name in sorted(syntax.reach(methods, ["forward"])):
        here = methods[name].lines_of(lines)
        if not here:
            continue
        reader = _Reader(methods[name].node, here)
        why = f"{cls.__name__}.{name} decides on tensor values whether to call it (line {min(here)})"
        for chain in reader.found:
            found.append((chain, why))
            if chain[0] in methods and len(chain) == 1:  # a helper method called on decided code
                for callee in syntax.reach(methods, [chain[0]]):
                    found.extend((c, why) for c in syntax.chains(methods[callee].node))
    return tuple(dict.fromkeys(found))


class _Reader:
    """The layer references of one function on code that values decide (see the module's docstring)."""

    def __init__(self, fn: ast.FunctionDef, lines: set[int]):
        self.lines = lines
        self.valued = self._valued(fn)
        self.aliases = syntax.aliases(fn)
        self.found: list[tuple[str, ...]] = []
        self._block(fn.body, False)

    def _at_decision(self, node: ast.AST) -> bool:
        first, last = getattr(node, "lineno", 0), getattr(node, "end_lineno", None) or getattr(node, "lineno", 0)
        return any(first <= line <= last for line in self.lines)

    def _decides(self, node: ast.AST) -> bool:
        return self._at_decision(node) or syntax.mentions(node, self.valued)

    def _valued(self, fn: ast.FunctionDef) -> set[str]:
        """Names that hold what a value decision computed, directly or through other such names."""
        bindings = [(t, v) for n in ast.walk(fn) for t, v in _bindings(n)]
        valued: set[str] = set()
        changed = True
        while changed:
            changed = False
            for targets, value in bindings:
                if (self._at_decision(value) or syntax.mentions(value, valued)) and not targets <= valued:
                    valued |= targets
                    changed = True
        return valued

    def _block(self, stmts: list[ast.stmt], decided: bool) -> None:
        for stmt in stmts:
            self._stmt(stmt, decided)
            if not decided and isinstance(stmt, ast.If) and self._decides(stmt.test):
                decided = _leaves(stmt.body) or _leaves(stmt.orelse)  # ``if not hit: continue``

    def _stmt(self, stmt: ast.stmt, decided: bool) -> None:
        if isinstance(stmt, (ast.If, ast.While, ast.For, ast.AsyncFor)):
            head = stmt.test if isinstance(stmt, (ast.If, ast.While)) else stmt.iter
            inner = decided or self._decides(head)
            self._expr(head, decided)
            self._block(stmt.body, inner)
            self._block(stmt.orelse, inner)
            return
        for _, value in ast.iter_fields(stmt):
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self._block(value, decided)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self._any(item, decided)
            elif isinstance(value, ast.AST):
                self._any(value, decided)

    def _any(self, node: ast.AST, decided: bool) -> None:
        if isinstance(node, ast.stmt):
            self._stmt(node, decided)
        elif isinstance(node, ast.excepthandler):
            self._block(node.body, decided)
        else:
            self._expr(node, decided)

    def _expr(self, node: ast.AST, decided: bool) -> None:
        chain = syntax.chain(node)
        if chain is not None:  # ``self.experts[i]`` with ``i`` from a tensor is itself a decision
            if decided or any(self._decides(s) for s in syntax.subscripts(node)):
                self.found.append(chain)
            for part in syntax.subscripts(node):
                self._expr(part, decided)
            return
        if isinstance(node, ast.Name) and decided and isinstance(node.ctx, ast.Load):
            self.found.extend(self.aliases.get(node.id, ()))
        elif isinstance(node, ast.IfExp):
            self._expr(node.test, decided)
            inner = decided or self._decides(node.test)
            self._expr(node.body, inner)
            self._expr(node.orelse, inner)
            return
        elif isinstance(node, ast.BoolOp):  # ``hit.any() and self.expert(x)``
            inner = decided
            for value in node.values:
                self._expr(value, inner)
                inner = inner or self._decides(value)
            return
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = decided or any(self._decides(g.iter) or any(map(self._decides, g.ifs)) for g in node.generators)
            for g in node.generators:
                self._expr(g.iter, decided)
                for test in g.ifs:
                    self._expr(test, decided)
            for part in (node.key, node.value) if isinstance(node, ast.DictComp) else (node.elt,):
                self._expr(part, inner)
            return
        for child in ast.iter_child_nodes(node):
            self._any(child, decided)


def _bindings(node: ast.AST) -> Iterable[tuple[set[str], ast.AST]]:
    """``(names bound, the value they come from)`` of an assignment, a loop or a walrus."""
    if isinstance(node, ast.Assign):
        yield {n for t in node.targets for n in syntax.bound_names(t)}, node.value
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
        yield syntax.bound_names(node.target), node.value
    elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        yield syntax.bound_names(node.target), node.iter
    elif isinstance(node, ast.NamedExpr):
        yield syntax.bound_names(node.target), node.value


def _leaves(stmts: list[ast.stmt]) -> bool:
    """A block that ends by leaving the loop or the function: what follows it runs only when it does not."""
    return bool(stmts) and isinstance(stmts[-1], (ast.Continue, ast.Break, ast.Return, ast.Raise))

"""Code the recorded forward did not run, read as syntax trees: layers that may train there.

netlint records one forward call, with the inputs it chose. A layer that forward uses only when an
argument netlint left at its default is passed (``if labels is not None: loss += ce(self.aux(f))``),
or that another method uses (a LightningModule's ``training_step`` calling ``self.projection``),
may train all the same: NL012 must not call it dead. This module finds the modules such code
refers to (``self.aux``, ``self.heads[i]``), by path; what it cannot read counts for nothing, so
a layer no code refers to stays a finding.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from . import syntax
from .ir import Graph
from .queries import trained_parameters, used_parameters


def trained_elsewhere(root: torch.nn.Module, graph: Graph, given: int) -> tuple[dict[str, str], dict[str, str]]:
    """``{module or parameter path: why it may train}`` for the parameters the recorded forward
    leaves without a gradient that code it did not run refers to: those other methods use, and
    (the second) those forward uses only when an argument left at its default is passed.

    ``given``: how many positional arguments of the root's ``forward`` netlint passed; the others
    kept their defaults, so a branch on them is a path the recording did not take.
    """
    trainable = {p.path for p in graph.parameters if p.trainable}
    trained = trained_parameters(graph)
    untrained = sorted(trainable - trained)
    if not untrained:
        return {}, {}
    called = {c.module for c in graph.calls.values()} | {n.module for n in graph.nodes if n.kind == "module"}
    read = used_parameters(graph)
    found: dict[str, str] = {}
    optional: dict[str, str] = {}
    # (submodule path, whether optional) -> its forward's parameters given a value of a default argument
    passed: dict[tuple[str, bool], set[str]] = {}
    for path, module in root.named_modules():  # parents first: what a parent passes down is known
        prefix = path + "." if path else ""
        below = [p[len(prefix) :] for p in untrained if p.startswith(prefix)]
        if not below:
            continue
        uses = _class_uses(type(module), given if not path else None)
        for info in (False, True):
            if (path, info) in passed:
                uses += _passed_uses(type(module), frozenset(passed[path, info]), info)
        for use in uses:
            if use.call is not None:
                for sub, params in _passed_to(module, use):
                    passed.setdefault((prefix + sub, use.optional), set()).update(params)
        for rel in below:
            for use in uses:
                if use.call is not None:
                    continue
                covered = syntax.covers(syntax.through_containers(module, use.chain), rel.split("."))
                if covered is None:
                    continue
                # A value kept for an untaken branch is one the recording computed and dropped: the layer
                # ran. Code that calls a layer the recording called too uses no more of it than the
                # recording did: the layer's own code decides (a mask token its forward reads only when masked).
                ran = prefix + rel in read
                if use.kept and _partly_trained(prefix + covered, trained):
                    continue  # part of what it computed trained: the kept value is not what the recording dropped
                if ran if use.kept else (prefix + covered not in called or ran):
                    (optional if use.optional else found).setdefault(prefix + covered, use.why)
    return found, {k: v for k, v in optional.items() if k not in found}


def _partly_trained(path: str, trained: set[str]) -> bool:
    """Whether some parameter of the module at ``path`` got a gradient in the recording."""
    return any(p.startswith(path + ".") for p in trained)


def _passed_to(module: torch.nn.Module, use: _Use) -> Iterator[tuple[str, set[str]]]:
    """``(submodule path, its forward's parameters)`` that a call of ``use`` gives a value of a default argument."""
    pattern = syntax.through_containers(module, use.chain)
    for path, sub in module.named_modules():
        parts = path.split(".") if path else []
        if len(parts) != len(pattern) or not all(p in (q, syntax.ANY) for p, q in zip(pattern, parts)):
            continue
        forward = syntax.methods(type(sub)).get("forward")
        if forward is not None:
            params = _tainted_params(forward, use.call, use.tainted)
            if params:
                yield path, params


@dataclass(frozen=True)
class _Use:
    chain: tuple[str, ...]  # attributes below self: ("aux_head",), ("heads", "*")
    why: str
    kept: bool = False  # its value is kept in a name for an untaken branch, rather than used there
    optional: bool = False  # on a branch on an optional argument (not another method): trains only when passed
    # A call of the layer on a taken path that passes it values of default arguments (``tainted``): its
    # own forward's branches on them did not run either (``self.layer(h, seg_mat=seg_mat)``).
    call: ast.Call | None = field(default=None, compare=False)
    tainted: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=512)
def _class_uses(cls: type, given: int | None) -> tuple[_Use, ...]:
    """The layer references of ``cls`` in code the recording did not run.

    ``given`` is None for a submodule: none, as what its caller passes is unknown (a branch of its
    forward counts through the arguments the root passes down, ``_passed_uses``), and its other
    methods run only when called (timm's ``forward_intermediates``, an unused ``extract_features``);
    a call from one of the root's methods covers that submodule whole.
    """
    methods = syntax.methods(cls)
    if "forward" not in methods or given is None:
        return ()
    init = syntax.reach(methods, ["__init__"])
    forward = syntax.reach(methods, ["forward"])
    uses: list[_Use] = []
    # The root's other methods (a training step, a loss): what they read; ``self.head = ...`` in a
    # reset_classifier re-binds, it trains nothing.
    others = [m for m in methods if m not in init and m not in forward and not m.startswith("__")]
    for name in syntax.reach(methods, others) - init:
        uses.extend(_Use(chain, f"{cls.__name__}.{name} uses it") for chain in _read_chains(methods[name].node))
    fwd = methods["forward"]
    defaults = set(fwd.params[given:]) | syntax.star_params(fwd.node)
    known = _defaults(cls, fwd, defaults)
    # A branch on a target (an argument that reaches a loss: ``labels``) is how the model trains; a
    # branch on another input (``bool_masked_pos``) trains only if training passes it: an info.
    targets = _targets(methods, defaults - syntax.star_params(fwd.node))  # **kwargs: anything, not a target
    for use in _guarded_uses(methods, "forward", targets, cls.__name__, set(), known):
        uses.append(dataclasses.replace(use, optional=False))
    uses.extend(_guarded_uses(methods, "forward", defaults, cls.__name__, set(), known))
    return tuple(uses)


def _read_chains(tree: ast.AST) -> Iterator[tuple[str, ...]]:
    """The ``self...`` chains ``tree`` reads (not those it assigns or deletes)."""
    for node in syntax.chain_nodes(tree):
        found = syntax.chain(node)
        if found is not None and isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            yield found


# What a loss is called by: ``F.cross_entropy``, ``F.mse_loss``, ``loss_fct = CrossEntropyLoss()``,
# ``self.criterion``, ``self.compute_loss``.
_LOSS_WORDS = ("loss", "cross_entropy", "criterion", "kl_div")


def _targets(methods: dict[str, syntax.Method], defaults: set[str]) -> set[str]:
    """The arguments in ``defaults`` that forward (or a method it passes them to) gives a loss."""
    return {name for name in defaults if _reaches_loss(methods, "forward", {name}, set())}


def _reaches_loss(methods: dict[str, syntax.Method], name: str, params: set[str], seen: set[str]) -> bool:
    if name in seen:
        return False
    seen.add(name)
    fn = methods[name].node
    tainted = _tainted(fn, params, set(syntax.aliases(fn)))  # not through layers: what reaches the loss as given
    for call in (n for n in ast.walk(fn) if isinstance(n, ast.Call)):
        if not _passes(call, tainted):
            continue
        func = call.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if any(word in called.lower() for word in _LOSS_WORDS):
            return True
        chain = syntax.chain(func)
        helper = chain[0] if chain is not None and len(chain) == 1 and chain[0] in methods else None
        if helper and _reaches_loss(methods, helper, _tainted_params(methods[helper], call, tainted), seen):
            return True
    return False


@functools.lru_cache(maxsize=512)
def _passed_uses(cls: type, params: frozenset[str], optional: bool) -> tuple[_Use, ...]:
    """The layer references of a submodule's forward on branches decided by ``params``, which its
    caller gave values of the root's default arguments."""
    methods = syntax.methods(cls)
    if "forward" not in methods:
        return ()
    uses = _guarded_uses(methods, "forward", set(params), cls.__name__, set())
    return tuple(dataclasses.replace(use, optional=optional) for use in uses)


def _defaults(cls: type, method: syntax.Method, names: set[str]) -> dict[str, Any]:
    """The default values of ``names`` that forward never reassigns: what the recorded call saw."""
    try:
        params = inspect.signature(cls.forward).parameters
    except (TypeError, ValueError):
        return {}
    reassigned = {n for a in ast.walk(method.node) for n in syntax.assigned(a)}
    return {
        name: p.default for name, p in params.items()
        if name in names and name not in reassigned and p.default is not inspect.Parameter.empty
    }  # fmt: skip


@dataclass(frozen=True)
class _Scope:
    """What decides a branch: names computed from arguments left at their defaults, and the defaults
    that are known (the recorded call saw them)."""

    tainted: frozenset[str] = frozenset()
    known: tuple[tuple[str, Any], ...] = ()


_UNKNOWN = object()


def _walk(node: ast.AST, unrun: frozenset[str], scope: _Scope) -> Iterator[tuple[ast.AST, frozenset[str]]]:
    """Every node with whether it may lie on a branch the recorded call did not take: the tainted names
    that decide it (none: it ran).

    A branch (``if``/``while``, a conditional expression, the right side of ``and``/``or``, what
    follows an ``if`` that returns) counts when its test depends on a tainted name and, evaluated
    with the known defaults, does not take it (or cannot be evaluated). A ``self...`` chain is
    yielded whole (its inner attributes are not).
    """
    if syntax.chain(node) is not None:
        yield node, unrun
        for part in syntax.subscripts(node):
            yield from _walk(part, unrun, scope)
        return
    yield node, unrun
    if isinstance(node, (ast.If, ast.While, ast.IfExp)):
        taken = _taken(node.test, scope)
        yield from _walk(node.test, unrun, scope)
        for part, skipped in ((node.body, taken is not True), (node.orelse, taken is not False)):
            inner = unrun | (_deciding(node.test, scope.tainted) if skipped else frozenset())
            yield from (_block(part, inner, scope) if isinstance(part, list) else _walk(part, inner, scope))
        return
    if isinstance(node, ast.BoolOp):
        inner = unrun
        for value in node.values:
            yield from _walk(value, inner, scope)
            taken = _taken(value, scope)  # ``a and b`` runs b when a holds; ``a or b`` when it does not
            runs_next = taken if isinstance(node.op, ast.And) else (None if taken is None else not taken)
            inner = inner | (_deciding(value, scope.tainted) if runs_next is not True else frozenset())
        return
    for _, value in ast.iter_fields(node):
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            yield from _block(value, unrun, scope)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, ast.AST):
                    yield from _walk(item, unrun, scope)
        elif isinstance(value, ast.AST):
            yield from _walk(value, unrun, scope)


def _block(stmts: list[ast.stmt], unrun: frozenset[str], scope: _Scope) -> Iterator[tuple[ast.AST, frozenset[str]]]:
    for stmt in stmts:
        yield from _walk(stmt, unrun, scope)
        if isinstance(stmt, ast.If) and not unrun:
            taken = _taken(stmt.test, scope)
            if taken is None and _raises(stmt.body):
                continue  # the recorded call did not raise: it went on past this statement
            exits = (_exits(stmt.body) and taken is not False) or (_exits(stmt.orelse) and taken is not True)
            if exits and syntax.mentions(stmt.test, scope.tainted):
                unrun = _deciding(
                    stmt.test, scope.tainted
                )  # ``if labels is None: return out``: what follows runs only when labels is passed


def _deciding(test: ast.AST, tainted: frozenset[str]) -> frozenset[str]:
    return frozenset(n.id for n in ast.walk(test) if isinstance(n, ast.Name) and n.id in tainted)


def _taken(test: ast.AST, scope: _Scope) -> bool | None:
    """Whether the recorded call took a branch on ``test``; None when that cannot be told."""
    value = _evaluate(test, dict(scope.known))
    if value is _UNKNOWN:
        return None
    try:
        return bool(value)
    except Exception:  # a default whose truth value raises (a tensor)
        return None


def _evaluate(node: ast.AST, known: dict[str, Any]) -> Any:
    """``labels is not None``, ``not flag``, ``mode == "train"``, ``and``/``or``: evaluated with the known
    defaults; ``_UNKNOWN`` for anything else."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return known.get(node.id, _UNKNOWN)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        value = _evaluate(node.operand, known)
        return _UNKNOWN if value is _UNKNOWN else _truth(value, negate=True)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _evaluate(node.left, known), _evaluate(node.comparators[0], known)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        op = node.ops[0]
        if isinstance(op, (ast.Is, ast.IsNot)):
            return (left is right) == isinstance(op, ast.Is)
        if isinstance(op, (ast.Eq, ast.NotEq)) and all(
            isinstance(v, (int, float, str, bool, type(None))) for v in (left, right)
        ):
            return (left == right) == isinstance(op, ast.Eq)
        return _UNKNOWN
    if isinstance(node, ast.BoolOp):
        unknown = False
        for value_node in node.values:
            value = _evaluate(value_node, known)
            truth = _UNKNOWN if value is _UNKNOWN else _truth(value)
            if truth is _UNKNOWN:
                unknown = True
            elif truth is (not isinstance(node.op, ast.And)):
                return value  # ``False and ...`` / ``True or ...``: decided whatever follows
        return _UNKNOWN if unknown else value
    return _UNKNOWN


def _truth(value: Any, negate: bool = False) -> Any:
    try:
        return bool(value) != negate
    except Exception:
        return _UNKNOWN


def _exits(stmts: list[ast.stmt]) -> bool:
    return bool(stmts) and isinstance(stmts[-1], (ast.Return, ast.Raise))


def _raises(stmts: list[ast.stmt]) -> bool:
    return bool(stmts) and isinstance(stmts[-1], ast.Raise)


def _tainted(fn: ast.FunctionDef, names: set[str], layers: set[str] | None = None) -> frozenset[str]:
    """``names`` and the local names computed from them (``has_labels = labels is not None``).

    With ``layers`` (the names that stand for layers), not through a layer's output: ``h = layer(h,
    seg_mat=seg_mat)`` is the activation, whatever decides the layer's branches.
    """
    tainted = set(names)
    assigns = [n for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))]
    if layers is not None:
        assigns = [a for a in assigns if not _layer_call(a.value, layers)]
    changed = True
    while changed:
        changed = False
        for a in assigns:
            if a.value is None or not syntax.mentions(a.value, frozenset(tainted)):
                continue
            for target in a.targets if isinstance(a, ast.Assign) else [a.target]:
                for n in ast.walk(target):
                    if isinstance(n, ast.Name) and n.id not in tainted:
                        tainted.add(n.id)
                        changed = True
    return frozenset(tainted)


def _guarded_uses(
    methods: dict[str, syntax.Method],
    name: str,
    defaults: set[str],
    owner: str,
    seen: set[tuple[str, frozenset[str]]],
    known: dict[str, Any] | None = None,
) -> Iterator[_Use]:
    """Layer references of method ``name`` on branches decided by arguments left at their defaults.

    A layer whose output is kept in names that such a branch reads counts too
    (``aux = self.aux(f)`` ... ``if labels is not None: loss += ce(aux, labels)``), and so do the
    methods such a branch calls; a method called elsewhere is read with the arguments it is given.
    """
    method = methods[name]
    tainted = _tainted(method.node, defaults)
    key = (name, tainted)
    if key in seen or not tainted:
        return
    seen.add(key)
    why = f"{owner}.{name} uses it when {_listing(sorted(defaults))} is passed"
    walked = list(_walk(method.node, frozenset(), _Scope(tainted, tuple((known or {}).items()))))
    kept = _kept_for_branches(walked)
    aliases = syntax.aliases(method.node)
    passing = _tainted(method.node, defaults, set(aliases))  # what is passed down to layers
    origins: dict[str, frozenset[str]] = {}
    for node, guarded in walked:
        if not guarded and syntax.assigned(node) & kept:
            yield from (_Use(c, why, kept=True, optional=True) for c in syntax.chains(node.value))
        chain = syntax.chain(node)
        if chain is None:
            continue
        if guarded:
            # Name the arguments that decide this branch (``has_labels`` stands for ``labels``).
            deciding = sorted(d for d in defaults if origins.setdefault(d, _tainted(method.node, {d})) & guarded)
            here = f"{owner}.{name} uses it when {_listing(deciding or sorted(defaults))} is passed"
            yield _Use(chain, here, optional=True)
            if chain[0] in methods:
                for callee in syntax.reach(methods, [chain[0]]):
                    yield from (_Use(c, here, optional=True) for c in syntax.chains(methods[callee].node))
        elif chain[0] in methods and len(chain) == 1:
            call = _call_of(method.node, node)
            if call is not None:
                passed = _tainted_params(methods[chain[0]], call, tainted)
                yield from _guarded_uses(methods, chain[0], passed, owner, seen)
        else:  # a layer called on the taken path: what it is given may decide its own branches
            call = _call_of(method.node, node)
            if call is not None and _passes(call, passing):
                yield _Use(chain, why, optional=True, call=call, tainted=passing)
    for node, guarded in walked:  # ``for layer in self.layers: h = layer(h, seg_mat=seg_mat)``
        if not guarded and isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and _passes(node, passing):
            for chain in aliases.get(node.func.id, ()):
                yield _Use(chain, why, optional=True, call=node, tainted=passing)


def _kept_for_branches(walked: list[tuple[ast.AST, bool]]) -> set[str]:
    """Names whose values reach a read on an untaken branch, through assignments outside such branches."""
    kept = {n.id for n, g in walked if g and isinstance(n, ast.Name) and _loads(n)}
    assigns = [n for n, g in walked if not g and syntax.assigned(n)]
    changed = True
    while changed:
        changed = False
        for a in assigns:
            if not syntax.assigned(a) & kept:
                continue
            new = {n.id for n in ast.walk(a.value) if isinstance(n, ast.Name) and _loads(n)} - kept - {"self"}
            if new:
                kept |= new
                changed = True
    return kept


def _loads(node: ast.Name) -> bool:
    return isinstance(node.ctx, ast.Load)


def _call_of(tree: ast.AST, func: ast.AST) -> ast.Call | None:
    return next((n for n in ast.walk(tree) if isinstance(n, ast.Call) and n.func is func), None)


def _tainted_params(callee: syntax.Method, call: ast.Call, tainted: frozenset[str]) -> set[str]:
    """The callee's parameters that receive a value decided by a tainted name."""
    out = set()
    for param, arg in zip(callee.params, call.args):
        if isinstance(arg, ast.Starred):
            break
        if syntax.mentions(arg, tainted):
            out.add(param)
    for kw in call.keywords:
        if kw.arg is not None and kw.arg in callee.params and syntax.mentions(kw.value, tainted):
            out.add(kw.arg)
    # ``*args`` / ``**kwargs`` of tainted names fill what the call does not name: those parameters.
    star = next((i for i, a in enumerate(call.args) if isinstance(a, ast.Starred)), None)
    named = set(callee.params[: len(call.args) if star is None else star]) | {kw.arg for kw in call.keywords}
    if (star is not None and syntax.mentions(call.args[star], tainted)) or any(
        kw.arg is None and syntax.mentions(kw.value, tainted) for kw in call.keywords
    ):
        out |= (set(callee.params) - named) | syntax.star_params(callee.node)
    return out


def _layer_call(node: ast.AST | None, layers: set[str]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    return syntax.chain(node.func) is not None or (isinstance(node.func, ast.Name) and node.func.id in layers)


def _passes(call: ast.Call, tainted: frozenset[str]) -> bool:
    return any(syntax.mentions(a, tainted) for a in [*call.args, *(k.value for k in call.keywords)])


def _listing(names: list[str]) -> str:
    return " or ".join(f"`{n}`" for n in names[:3]) + (" ..." if len(names) > 3 else "")

"""Custom ``torch.autograd.Function``s: recorded op by op, differentiable as their backward says.

``Fn.apply(x)`` runs ``Fn.forward`` with gradients off and connects its outputs to ``Fn.backward``:
the ops inside carry no gradient, yet the outputs do (a memory-saving Swish, a straight-through
estimator). Both engines see the call through ``calls_to(handler)``, which routes every ``apply``
to the handler while a graph is recorded: torch.fx keeps the call as one node (``Apply``), and the
capture engine records the ops inside and then grades them with ``regrade``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .ir import Node, Op

_FUNCTION = torch.autograd.Function


class Apply:
    """``Fn.apply`` as an fx call target: the interpreter records what it runs (fx_engine)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.__name__ = "apply"
        self.__qualname__ = f"{cls.__qualname__}.apply"
        self.__module__ = cls.__module__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.cls.apply(*args, **kwargs)


def original_apply(cls: type) -> Callable[..., Any]:
    """``cls.apply`` as PyTorch defines it, whatever ``calls_to`` has put in its place."""
    return _ORIGINAL.__get__(None, cls)


_ORIGINAL = _FUNCTION.__dict__["apply"]


@contextlib.contextmanager
def calls_to(handler: Callable[..., Any]) -> Iterator[None]:
    """Route ``Fn.apply(*args, **kwargs)`` of every custom Function to ``handler(cls, args, kwargs)``.

    A Function that defines its own ``apply`` keeps it (and reaches the handler through ``super()``).
    """
    previous = _FUNCTION.__dict__["apply"]
    _FUNCTION.apply = classmethod(lambda cls, *args, **kwargs: handler(cls, args, kwargs))
    try:
        yield
    finally:
        _FUNCTION.apply = previous


@functools.lru_cache(maxsize=512)
def no_gradient_inputs(cls: type) -> frozenset[int]:
    """Positions of ``apply``'s arguments for which every ``return`` of ``cls.backward`` is a literal None.

    Read from the source; what cannot be read (no source, a computed return value) counts as
    differentiable, as autograd itself assumes until backward runs.
    """
    try:
        backward = inspect.unwrap(inspect.getattr_static(cls, "backward").__func__)
        tree = ast.parse(textwrap.dedent(inspect.getsource(backward)))
    except Exception:  # no source (built by exec, a C extension), or source that does not parse alone
        return frozenset()
    body = tree.body[0] if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) else None
    if body is None:
        return frozenset()
    nones: frozenset[int] | None = None
    for ret in _returns(body):
        values = ret.value.elts if isinstance(ret.value, ast.Tuple) else [ret.value]
        if any(isinstance(v, ast.Starred) for v in values):
            return frozenset()
        here = frozenset(i for i, v in enumerate(values) if v is None or _is_none(v))
        nones = here if nones is None else nones & here
    return nones or frozenset()


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _returns(fn: ast.AST) -> Iterator[ast.Return]:
    """The ``return`` statements of ``fn`` itself, not of functions defined inside it."""
    stack = list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            yield node
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(node))


def regrade(inner: list[Node], differentiable: list[Node]) -> None:
    """Gradients of the ops ``forward`` ran, as ``backward`` defines them.

    ``inner``: the nodes recorded while forward ran (with gradients off: none carries one);
    ``differentiable``: the producers of the arguments backward returns a gradient for. An op inside
    carries a gradient when it depends on a differentiable argument that does: a comparison inside
    a straight-through estimator too.
    """
    live = {n.index for n in differentiable if n.grad}
    for node in inner:
        if node.op in (Op.PARAM, Op.INPUT, Op.CONSTANT) or not node.is_tensor:
            continue  # a weight forward reads by itself is no argument: backward returns it nothing
        if any(i.index in live for i in node.inputs):
            node.grad = True
            live.add(node.index)

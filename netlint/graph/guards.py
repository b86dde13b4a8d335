"""Whether a call in ``forward`` only runs in training mode, read from its source.

``if self.training: x = F.dropout(x, p)`` is correct code: the call never runs after
``model.eval()``. The graph is recorded in training mode, where the call does run, so the guard is
read from the syntax tree around the call, and around each user call on the stack that led to it:
enclosing ``if`` / ``while`` / conditional expressions whose test implies ``self.training`` on
the branch taken, and earlier ``if not self.training: return ...`` exits of the same function.
"""

from __future__ import annotations

import ast
import functools
import os
import sys

from ..source import _callee, is_user_file
from ..source import _parse as parse_source

_NETLINT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_ENTRY_POINTS = frozenset({"trace", "record_call"})  # netlint's functions that run the model's forward


def running_only_in_training(name: str) -> bool:
    """Whether the call to ``name`` running now was reached through a training-only guard.

    Looks at every user frame on the stack (called while tracing or recording): the call itself
    under ``if self.training:``, or a call under one that led to it (``if self.training: x =
    self.noise(x)``, with the dropout inside ``noise``).
    """
    frame = sys._getframe(1)
    innermost = True
    while frame is not None:
        if frame.f_code.co_filename.startswith(_NETLINT) and frame.f_code.co_name in _ENTRY_POINTS:
            return False  # past the model's forward: whoever called netlint is not the model's code
        if is_user_file(frame.f_code.co_filename):
            if only_in_training(frame.f_code.co_filename, frame.f_lineno, name if innermost else None):
                return True
            innermost = False
        frame = frame.f_back
    return False


def only_in_training(file: str | None, line: int | None, name: str | None) -> bool:
    """Whether the call ``...name(...)`` at ``file:line`` (any call there: None) runs only in training.

    False when the source or the call cannot be found: unknown is not guarded.
    """
    if not file or not line:
        return False
    parents = _parents(file)
    if parents is None:
        return False
    calls = [
        n
        for n in parents
        if isinstance(n, ast.Call)
        and n.lineno <= line <= (n.end_lineno or n.lineno)
        and (name is None or _callee(n) == name)
    ]
    if len(calls) > 1:
        calls = [c for c in calls if c.lineno == line] or calls
    return bool(calls) and all(_guarded(c, parents) for c in calls)


def _guarded(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> bool:
    child: ast.AST = call
    while child in parents:
        parent = parents[child]
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Module)):
            return isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) and _exits_before(parent.body, child)
        if isinstance(parent, (ast.If, ast.While, ast.IfExp)) and child is not parent.test:
            in_body = child in parent.body if isinstance(parent.body, list) else child is parent.body
            if _implies_training(parent.test, in_body) is True:
                return True
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if isinstance(block, list) and child in block and _exits_before(block, child):
                return True
        child = parent
    return False


@functools.lru_cache(maxsize=64)
def _parents(file: str) -> dict[ast.AST, ast.AST] | None:
    tree = parse_source(file)
    if tree is None:
        return None
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _exits_before(block: list[ast.stmt], stmt: ast.AST) -> bool:
    """An ``if not self.training: return ...`` (no else) earlier in ``block`` than ``stmt``."""
    for earlier in block:
        if earlier is stmt:
            return False
        if (
            isinstance(earlier, ast.If)
            and not earlier.orelse
            and earlier.body
            and isinstance(earlier.body[-1], (ast.Return, ast.Raise))
            and _implies_training(earlier.test, False) is True
        ):
            return True
    return False


def _implies_training(test: ast.expr, value: bool) -> bool | None:
    """What ``test`` evaluating to ``value`` says about ``self.training``: True, False or None."""
    if _is_training_flag(test):
        return value
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _implies_training(test.operand, not value)
    if isinstance(test, ast.BoolOp):
        # ``a and b`` true: both are; ``a or b`` false: both are false. Otherwise nothing is known.
        if isinstance(test.op, ast.And) == value:
            for operand in test.values:
                implied = _implies_training(operand, value)
                if implied is not None:
                    return implied
        return None
    if (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and _is_training_flag(test.left)
        and isinstance(test.comparators[0], ast.Constant)
        and isinstance(test.comparators[0].value, bool)
    ):
        op, constant = test.ops[0], test.comparators[0].value
        if isinstance(op, (ast.Is, ast.Eq)):
            return constant if value else (not constant)
        if isinstance(op, (ast.IsNot, ast.NotEq)):
            return (not constant) if value else constant
    return None


def _is_training_flag(expr: ast.expr) -> bool:
    """``self.training`` (any object's ``.training``) or a local named ``training``."""
    return (isinstance(expr, ast.Attribute) and expr.attr == "training") or (
        isinstance(expr, ast.Name) and expr.id == "training"
    )

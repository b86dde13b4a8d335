"""Copies of the user's modules: netlint runs and changes its copies, never the user's model.

``copy.deepcopy`` makes the copy. A module that refuses it (legacy ``torch.nn.utils.weight_norm``
keeps its computed weight as a non-leaf tensor, which deepcopy rejects; a lock, an open file) is
copied module by module instead: each module gets its own parameters, buffers, submodules and
attributes, deep-copied where they can be and shared with the original where they cannot.
"""

from __future__ import annotations

import copy
from typing import Any


def copy_module(model: Any, memo: dict[int, Any] | None = None) -> Any:
    """A copy of ``model``; ``memo`` maps ids of its tensors to what they become (meta tensors)."""
    memo = dict(memo or {})
    trial = dict(memo)
    try:
        return copy.deepcopy(model, trial)
    except Exception:  # deepcopy memoises half-built objects: start again from the caller's memo
        return _copy_tree(model, memo)


def _copy_tree(module: Any, memo: dict[int, Any]) -> Any:
    if id(module) in memo:
        return memo[id(module)]
    whole = _copied(module, memo)
    if whole is not _REFUSED:
        return whole
    cls = type(module)
    new = cls.__new__(cls)
    memo[id(module)] = new
    for key, value in module.__dict__.items():
        if key == "_modules":
            value = type(value)((n, None if m is None else _copy_tree(m, memo)) for n, m in value.items())
        elif key in ("_parameters", "_buffers"):
            value = type(value)((n, _copy_or_share(t, memo)) for n, t in value.items())
        else:
            value = _copy_or_share(value, memo)
        new.__dict__[key] = value
    return new


_REFUSED = object()


def _copied(value: Any, memo: dict[int, Any]) -> Any:
    """``deepcopy(value)``, or ``_REFUSED``; ``memo`` only learns the copies of a deepcopy that succeeded."""
    trial = _Trial(memo)
    try:
        out = copy.deepcopy(value, trial)
    except Exception:
        return _REFUSED
    # deepcopy keeps the temporaries it memoised alive under id(memo): their ids must not be reused
    memo.setdefault(id(memo), []).extend(dict.pop(trial, id(trial), []))
    memo.update(trial)
    return out


def _copy_or_share(value: Any, memo: dict[int, Any]) -> Any:
    out = _copied(value, memo)
    return value if out is _REFUSED else out  # shared: weight_norm recomputes its weight before each forward


class _Trial(dict):
    """A deepcopy memo that reads through to ``base`` and keeps its own writes apart."""

    def __init__(self, base: dict[int, Any]):
        super().__init__()
        self.base = base

    def __missing__(self, key: int) -> Any:
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or key in self.base

    def get(self, key: int, default: Any = None) -> Any:  # deepcopy looks up with memo.get
        return dict.get(self, key, self.base.get(key, default))

"""Small helpers that several rules share (not a rule: no code, no documentation)."""

from __future__ import annotations

from collections.abc import Sequence


def listing(paths: Sequence[str], noun: str, limit: int = 3) -> str:
    """``BatchNorm features.1`` / ``3 BatchNorm layers (a, b, c)`` / ``... and 5 more``."""
    shown = ", ".join(p or "<root>" for p in paths[:limit])
    if len(paths) == 1:
        return f"{noun} {shown}"
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return f"{len(paths)} {noun} layers ({shown}{more})"


def prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out

"""Small helpers that several rules share (not a rule: no code, no documentation)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from netlint.findings import Finding, shown_path


def listing(paths: Sequence[str], noun: str, limit: int = 3) -> str:
    """``BatchNorm features.1`` / ``3 BatchNorm layers (a, b, c)`` / ``... and 5 more``."""
    shown = ", ".join(shown_path(p) for p in paths[:limit])
    if len(paths) == 1:
        return f"{noun} {shown}"
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return f"{len(paths)} {noun} layers ({shown}{more})"


def prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def with_measured_shift(finding: Finding, probe: Any) -> tuple[Finding, bool]:
    """The finding with the probe's ratio for each BatchNorm in ``related``, naming the worst one
    outside [0.9, 1.1]; and whether any lies outside."""
    measured = {bn: layer for bn in finding.related if (layer := probe.layer(bn)) is not None}
    shifted = sorted((x for x in measured.values() if x.shifted), key=lambda x: -abs(math.log(x.ratio_mean)))
    ratios = {bn: float(f"{layer.ratio_mean:.6g}") for bn, layer in measured.items()}
    message = finding.message
    if shifted:
        worst = shifted[0]
        more = f" (and {len(shifted) - 1} more outside [0.9, 1.1])" if len(shifted) > 1 else ""
        message += f" Measured variance shift {worst.ratio_mean:.2f}x at {worst.module}{more}."
    updated = dataclasses.replace(finding, message=message, data={**finding.data, "measured_ratio": ratios})
    return updated, bool(shifted)


def layer_name(node: Any) -> str:
    """``Conv2d`` for a layer (its class, as the source built it), ``conv2d()`` for a functional call."""
    return node.params.get("layer_type") or (node.type_name if node.kind == "module" else f"{node.type_name}()")


def activation_name(node: Any) -> str:
    """``Sigmoid`` for a layer, ``sigmoid()`` for a functional call or a tensor method."""
    return node.type_name if node.kind == "module" else f"{node.params.get('fn', node.type_name)}()"


def path_steps(nodes: Sequence[Any]) -> list[str]:
    """A data path as findings carry it (``data["path"]``): ``input x``, ``features.3 (Dropout)``,
    ``add() in layer1.0``, from source to sink."""
    return [f"input {node.target}" if node.kind == "input" else node.label for node in nodes]

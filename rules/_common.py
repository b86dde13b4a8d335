"""Small helpers that several rules share (not a rule: no code, no documentation)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from netlint.findings import Finding
from netlint.source import shown_path


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
    """The finding with the probe's measurement of each BatchNorm in ``related``; and whether a shift
    is established: some layer's 95 % interval lies wholly outside the neutral band [0.9, 1.1].

    A shift quotes the worst layer with its interval. Without one, layers whose interval overlaps
    the band's edge make the message say that the measurement was inconclusive at this batch and
    which batch would settle it; layers that could not be measured are said so; neutral ones change
    nothing.
    """
    measured = {bn: layer for bn in finding.related if (layer := probe.layer(bn)) is not None}
    data = {
        **finding.data,
        "measured_ratio": {bn: _six(x.ratio_mean) for bn, x in measured.items()},
        "measured_verdict": {bn: x.verdict for bn, x in measured.items()},
    }
    layers = list(measured.values())
    shifted = sorted((x for x in layers if x.verdict == "shift"), key=_distance, reverse=True)
    unsure = sorted((x for x in layers if x.verdict == "inconclusive"), key=_distance, reverse=True)
    lost = [x.module for x in layers if x.verdict == "not measurable"]
    message = finding.message
    if shifted:
        worst = shifted[0]
        more = f" (and {len(shifted) - 1} more outside [0.9, 1.1])" if len(shifted) > 1 else ""
        message += f" Measured variance shift {worst.describe()} at {worst.module}{more}."
    elif unsure:
        worst, batch = unsure[0], probe.batch_size
        settle = max((b for x in unsure if (b := x.settling_batch(batch))), default=None)
        advice = f"; --batch-size {settle} would likely settle it" if settle else ""
        if worst.drawn_once:
            why = (
                f"{worst.ratio_mean:.2f}x at {worst.module} comes from one random decision for the whole batch "
                "(a block skipped in this step), which one probe at any batch size cannot judge"
            )
        elif worst.ratio_low is None:
            why = f"{worst.ratio_mean:.2f}x at {worst.module}, but fewer than 8 samples give no error estimate"
        else:
            why = f"{worst.describe()} at {worst.module} overlaps the edge of the neutral band [0.9, 1.1]"
            advice = advice or "; it sits so close to the edge that no practical batch would settle it"
        message += f" The probe was inconclusive at batch {batch}: {why}{advice}."
    elif lost and len(lost) == len(layers):
        message += (
            f" The probe could not measure {listing(lost, 'BatchNorm')}: every channel's variance is ~0 in "
            "training or inference mode."
        )
    updated = dataclasses.replace(finding, message=message, data=data)
    return updated, bool(shifted)


def _distance(layer: Any) -> float:
    ratio = layer.ratio_mean
    return abs(math.log(ratio)) if ratio else 0.0


def _six(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")


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

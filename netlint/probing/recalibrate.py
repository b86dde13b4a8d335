"""Re-estimate every BatchNorm's running statistics with dropout and drop-path off.

The remedy for a variance shift that training already baked into a checkpoint: run the given
batches with inference behaviour everywhere (dropout, drop-path and other ``self.training``
branches off) except in the BatchNorms, which normalise with batch statistics and average them
cumulatively (``momentum=None``), as ``torch.optim.swa_utils.update_bn`` does but with dropout
off. Only ``running_mean`` and ``running_var`` change; the model given is never touched (the
work happens on a copy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ..load.copying import copy_module
from ..state import preserved_rng
from .shift import _intercept, _Moments, batchnorms, recording_eval_handler, training_flags_restored


@dataclass
class Mismatch:
    """One BatchNorm's running statistics against what evaluation mode feeds it on the batches."""

    module: str
    ratio_mean: float  # mean over channels of running_var / var(eval input)
    ratio_min: float
    ratio_max: float
    mean_gap: float  # mean over channels of |running_mean - mean(eval input)| / std(eval input)

    @property
    def distance(self) -> float:
        """How far from a perfect match: |log ratio| of the mean ratio plus the mean gap."""
        return abs(math.log(self.ratio_mean)) + self.mean_gap if self.ratio_mean > 0 else math.inf


@dataclass
class Recalibration:
    state: dict[str, torch.Tensor]  # path.running_mean / path.running_var -> new tensor (CPU)
    before: list[Mismatch]
    after: list[Mismatch]
    output_drift: float  # relative L2 change of the eval output on the batches, old vs new statistics
    batches: int
    skipped: list[str] = field(default_factory=list)  # BatchNorms the batches never reached (kept)


def as_batches(value: Any) -> list[tuple[Any, ...]]:
    """``--input`` of recalibrate: one tensor (one batch), or a list/tuple of batches (each a tensor or a tuple)."""
    if isinstance(value, torch.Tensor):
        return [(value,)]
    if isinstance(value, (list, tuple)) and value:
        return [tuple(b) if isinstance(b, (list, tuple)) else (b,) for b in value]
    raise ValueError("expected a tensor (one batch) or a non-empty list or tuple of batches")


def recalibrate(model: nn.Module, batches: Sequence[Any], *, device: str | torch.device = "cpu") -> Recalibration:
    """New running statistics for every BatchNorm of ``model`` (left untouched), from ``batches``."""
    return _recalibrated(copy_module(model), batches, torch.device(device))


def _recalibrated(work: nn.Module, batches: Sequence[Any], device: torch.device) -> Recalibration:
    """``recalibrate`` on a model netlint owns: its running statistics are replaced."""
    work = work.to(device)
    runs = [tuple(x.to(device) if isinstance(x, torch.Tensor) else x for x in b) for b in as_batches(list(batches))]
    layers = batchnorms(work)
    with torch.no_grad(), preserved_rng(seed=0, devices=[device]):
        work.eval()
        before, old = mismatch(work, runs)
        saved = {path: (bn.momentum, bn.running_mean.clone(), bn.running_var.clone()) for path, bn in layers}
        counts = {path: int(bn.num_batches_tracked) if bn.num_batches_tracked is not None else 0 for path, bn in layers}
        for _, bn in layers:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the batches
            bn.train()
        for batch in runs:
            work(*batch)
        skipped = []
        for path, bn in layers:
            momentum, mean, var = saved[path]
            bn.momentum = momentum
            bn.eval()
            if int(bn.num_batches_tracked) == 0:  # never reached by these batches: keep what it had
                bn.running_mean.copy_(mean)
                bn.running_var.copy_(var)
                skipped.append(path)
            bn.num_batches_tracked.fill_(counts[path])
        work.eval()
        after, new = mismatch(work, runs)
    state = {}
    for path, bn in layers:
        if path not in skipped:
            prefix = f"{path}." if path else ""
            state[prefix + "running_mean"] = bn.running_mean.detach().cpu()
            state[prefix + "running_var"] = bn.running_var.detach().cpu()
    return Recalibration(state, before, after, _relative(new, old), len(runs), skipped)


def mismatch(model: nn.Module, runs: Sequence[tuple[Any, ...]]) -> tuple[list[Mismatch], torch.Tensor]:
    """For every BatchNorm: running statistics against the inputs that the model's own eval forward
    feeds it; and that forward's outputs on the batches, flattened (one pass serves both)."""
    from torch.utils._pytree import tree_leaves

    layers = batchnorms(model)
    moments = {path: _Moments() for path, _ in layers}
    handler = recording_eval_handler(layers, moments)
    leaves: list[torch.Tensor] = []
    with training_flags_restored(model), torch.no_grad(), _intercept(layers, handler):
        model.eval()
        for batch in runs:
            leaves += [t.double().flatten() for t in tree_leaves(model(*batch)) if isinstance(t, torch.Tensor)]
    out = []
    for path, bn in layers:
        m = moments[path]
        if not m.count:
            continue
        mean, var = m.mean_var()
        valid = var > 0
        if not valid.any():
            continue
        ratio = bn.running_var.double()[valid] / var[valid]
        gap = (bn.running_mean.double()[valid] - mean[valid]).abs() / var[valid].sqrt()
        out.append(Mismatch(path, float(ratio.mean()), float(ratio.min()), float(ratio.max()), float(gap.mean())))
    return out, torch.cat(leaves) if leaves else torch.zeros(0, dtype=torch.float64)


def _relative(new: torch.Tensor, old: torch.Tensor) -> float:
    norm = float(old.norm())
    diff = float((new - old).norm())
    return diff / norm if norm > 0 else (0.0 if diff == 0 else math.inf)


def summary_lines(result: Recalibration, rows: int = 12) -> list[str]:
    """The per-BatchNorm mismatch before and after, worst first, and the output drift."""
    after = {m.module: m for m in result.after}
    lines = [
        f"recalibrated {len(result.state) // 2} BatchNorm layer(s) over {result.batches} batch(es); "
        f"output drift (eval output, old vs new statistics): {result.output_drift:.2%}",
        f"{'BatchNorm':<32} {'running/eval var before':>24} {'after':>8} {'mean gap before':>16} {'after':>8}",
    ]
    for m in sorted(result.before, key=lambda m: -m.distance)[:rows]:
        a = after.get(m.module)
        lines.append(
            f"{m.module:<32} {m.ratio_mean:>23.3f}x {a.ratio_mean if a else math.nan:>7.3f}x "
            f"{m.mean_gap:>13.3f} sd {a.mean_gap if a else math.nan:>5.3f} sd"
        )
    if len(result.before) > rows:
        lines.append(f"... and {len(result.before) - rows} more BatchNorm layers")
    if result.skipped:
        lines.append(f"not reached by the batches (statistics kept): {', '.join(result.skipped[:5])}")
    return lines


class RecalibrateError(Exception):
    """Bad input to ``netlint recalibrate``: one paragraph, exit status 2."""


def recalibrated_checkpoint(target: str, weights: str, input_file: str, device: str = "cpu") -> tuple[list[str], dict]:
    """What ``netlint recalibrate`` computes (in its worker): load TARGET with WEIGHTS, recalibrate on
    INPUT's batches; the summary lines and the new statistics under the checkpoint's own (unprefixed)
    keys, in its dtypes. Nothing is written here.

    Refused: a checkpoint or batch file that would have to run code to load, batches with NaN or Inf,
    and statistics that come out non-finite (the forward overflows on these batches).
    """
    from ..errors import NetlintError, describe_exception
    from ..load.checkpoint import CheckpointError, check_keys, load_into, read_checkpoint
    from ..load.models import resolve, user_code
    from .shift import ProbeError, resolve_device

    try:
        torch_device = resolve_device(device)
    except ProbeError as exc:
        raise RecalibrateError(str(exc)) from None
    try:
        loaded = resolve(target)
    except NetlintError as exc:
        raise RecalibrateError(exc.text) from None
    if loaded.errors:
        raise RecalibrateError(loaded.errors[0].text)
    if len(loaded.models) != 1:
        names = ", ".join(m.name for m in loaded.models[:5]) or "none"
        raise RecalibrateError(f"{target} holds {len(loaded.models)} models ({names}): name one, as file.py:Name")
    spec = loaded.models[0]
    try:
        checkpoint = read_checkpoint(weights)
        check_keys(spec.meta(), checkpoint.state, weights)
    except CheckpointError as exc:
        raise RecalibrateError(str(exc)) from None
    batches = read_batches(input_file)
    with user_code():
        try:
            model = spec.real(str(torch_device))
            load_into(model, checkpoint.state)
        except Exception as exc:
            raise RecalibrateError(
                f"{spec.name} cannot be built with --weights {weights}: {describe_exception(exc)}"
            ) from None
        try:
            result = _recalibrated(model, batches, torch_device)  # netlint's own model: no copy
        except Exception as exc:
            raise RecalibrateError(
                f"the forward pass fails on --input {input_file}: {describe_exception(exc)}"
            ) from None
    bad = [key for key, value in result.state.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise RecalibrateError(
            f"the new statistics of {len(bad)} tensor(s) are not finite ({', '.join(bad[:3])}): the forward overflows "
            f"on --input {input_file}; nothing was written"
        )
    originals = checkpoint.state
    replaced = {k: v.to(originals[k].dtype) for k, v in result.state.items()}
    return summary_lines(result), replaced


def read_batches(path: str) -> list[tuple[Any, ...]]:
    """``--input``: the batches, read with ``torch.load(weights_only=True)`` (never running code from the
    file, nor advising to), each tensor finite."""
    from ..errors import describe_exception
    from ..messages import safe_torch_message

    try:
        batches = as_batches(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as exc:
        safe = safe_torch_message(str(exc))
        why = describe_exception(exc) if safe == str(exc) else " ".join(safe.split())
        raise RecalibrateError(f"cannot use --input {path}: {why}") from None
    for i, batch in enumerate(batches):
        for x in batch:
            if isinstance(x, torch.Tensor) and x.is_floating_point() and not bool(torch.isfinite(x).all()):
                where = f"batch {i} of {len(batches)}" if len(batches) > 1 else "its batch"
                raise RecalibrateError(
                    f"--input {path}: {where} holds NaN or Inf values, which would make every statistic they reach "
                    "NaN; nothing was written"
                )
    return batches

"""When the probe runs, at which batch, and when it is skipped: the static sites, memory and time.

- ``not_needed(graph)``: the probe measures for a static finding only (an NL001 or NL005 site that
  reaches a BatchNorm with running statistics, or an NL006 candidate); otherwise why not.
- ``memory_plan``: from the meta build (no weights allocated) and the graph's shapes, the bytes
  one probe needs at a batch, against half the memory this process may use.
- ``time_plan``: one timed forward at a small batch, scaled to the probe's passes, against
  ``--probe-budget`` seconds.

Both pick the largest batch up to the requested one that fits, or say why even the smallest does
not (a ``ProbeSkipped``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..graph.ir import DROPOUT_OPS, Graph, Op
from ..graph.queries import active_at_inference, batchnorms_reached, gating_sites, is_active_dropout
from ..memory import Size, available_memory, gb, size_of
from .shift import ProbeError

DEFAULT_BUDGET = 10.0  # seconds; 0 means no limit (neither time nor memory)
NOT_NEEDED = "no dropout reaches a BatchNorm"
_VIEWS = frozenset({Op.RESHAPE, Op.IDENTITY, Op.SHAPE, Op.PARAM})  # outputs that allocate nothing new


class ProbeSkipped(ProbeError):
    """The probe would not fit the time budget or the memory: the message says why and how to force it."""


@contextlib.contextmanager
def deadline(at: float | None, why: str) -> Iterator[None]:
    """Stop a forward at the next module call once ``time.perf_counter()`` passes ``at`` (None: no deadline).

    A forward cannot be interrupted safely in the middle of an op; between module calls it can, and
    the probe restores the model whatever happens. This is what keeps a probe within twice its budget
    when one forward is slower than the budget itself.
    """
    if at is None:
        yield
        return
    from torch.nn.modules.module import register_module_forward_pre_hook

    def check(module, args):
        if time.perf_counter() > at:
            raise ProbeSkipped(f"{why} (--probe-budget 0 runs it without a limit)")

    handle = register_module_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


def not_needed(graph: Graph) -> str | None:
    """None when a static finding asks for a measurement (the sites of NL001, NL005 and NL006), else why not."""
    for node in graph.ops(*DROPOUT_OPS):
        if (is_active_dropout(node) and batchnorms_reached(node)) or active_at_inference(node):
            return None
    for _, gated, _ in gating_sites(graph):
        if any(batchnorms_reached(start) for start in gated):
            return None
    return NOT_NEEDED


def smallest_batch(shapes: Sequence[tuple[int, ...]]) -> int:
    """The smallest batch worth measuring: 2 for spatial inputs (N*H*W values per channel), 16 for flat ones."""
    return 2 if any(len(s) >= 3 for s in shapes) else 16


# -- memory ------------------------------------------------------------------------------------


@dataclass
class MemoryEstimate:
    fixed: int  # bytes independent of the batch: parameters, buffers and their saved copy
    per_sample: float  # bytes of the forward's peak live activations per sample
    weights: Size | None = None  # what the probe's real build or copy allocates
    rebuild: bool = False  # whether that build imports the model's file again (its other models too)

    def at(self, batch: int) -> int:
        return int(self.fixed + self.per_sample * batch)


def estimate_memory(
    graph: Graph, model: Any, traced_batch: int, copies_weights: bool = True, real_cost: tuple[Size, bool] | None = None
) -> MemoryEstimate:
    """What one probe forward needs, from the meta build and the graph's output shapes (float32 assumed).

    ``real_cost``: what building the model for real allocates (``ModelSpec.real_cost``), when it builds one.

    Activations: the largest total of tensors alive at once in execution order (a tensor lives from
    its node to its last user), as ``torch.no_grad`` frees them; views allocate nothing.
    """
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    weights, rebuild = (real_cost or (size_of(model), False)) if copies_weights else (None, False)
    fixed = (weights.bytes if weights is not None else 0) + buffers  # the probe saves every buffer to restore it
    last_use = {n.index: max((u.index for u in n.users), default=n.index) for n in graph.nodes}
    freed_at: dict[int, int] = {}
    live = peak = 0
    for node in graph.nodes:
        if node.op not in _VIEWS and node.shapes:
            size = sum(math.prod(s) for s in node.shapes) * 4
            live += size
            freed_at[last_use[node.index]] = freed_at.get(last_use[node.index], 0) + size
        peak = max(peak, live)
        live -= freed_at.pop(node.index, 0)
    return MemoryEstimate(fixed, peak / max(traced_batch, 1), weights, rebuild)


def memory_plan(estimate: MemoryEstimate, batch: int, smallest: int, fixed_batch: bool, device: Any) -> tuple[int, str]:
    """The largest batch up to ``batch`` whose estimate fits half the available memory, and why it was chosen."""
    room, bound = available_memory(device)
    if room is None:
        return batch, ""
    half = room // 2
    if estimate.at(batch) <= half:
        return batch, ""
    if estimate.weights is not None and estimate.weights.bytes > half:  # no batch helps: say how big the model is
        again = " (its file imported again with real tensors, every module-level model of it)" * estimate.rebuild
        raise ProbeSkipped(
            f"{estimate.weights.describe()}{again}, more than half of the {gb(room)} that {bound} leaves; the "
            "probe needs a real build (--probe-budget 0 forces it)"
        )
    fits = _power_of_two(math.floor((half - estimate.fixed) / estimate.per_sample)) if estimate.per_sample else batch
    if fixed_batch or fits < smallest:
        at = batch if fixed_batch else smallest
        raise ProbeSkipped(
            f"it needs about {gb(estimate.at(at))} at batch {at}, more than half of the {gb(room)} "
            f"that {bound} leaves (--probe-budget 0 runs it anyway)"
        )
    return fits, f"memory: about {gb(estimate.at(fits))} at batch {fits} fits half of {gb(room)} ({bound})"


def _power_of_two(n: int) -> int:
    """The largest power of two up to ``n`` (0 below 1): a cut batch that does not jitter with the machine's load."""
    return 1 << (n.bit_length() - 1) if n >= 1 else 0


# -- time --------------------------------------------------------------------------------------


def time_forward(model: Any, inputs: Sequence[Any], device: Any, repeat_below: float) -> float:
    """Seconds of one inference forward: the faster of two when the first (which pays for lazy
    initialisation and kernel selection) took less than ``repeat_below``. The model's flags, buffers
    and the generators are left as they were."""
    import torch

    from ..state import preserved_rng
    from .shift import _run, training_flags_restored

    def once() -> float:
        start = time.perf_counter()
        _run(model, inputs, 0)
        if getattr(device, "type", "") == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    with training_flags_restored(model), torch.no_grad(), preserved_rng(devices=[device]):
        model.eval()
        first = once()
        return min(first, once()) if first < repeat_below else first


# A probe pass costs more than the plain inference forward that is timed: the training-mode pass
# draws dropout masks and every BatchNorm is instrumented (benchmarks/probe.py: 1.1x to 1.4x).
PASS_OVERHEAD = 1.15
# And a CPU forward costs more per sample at a large batch than at the timed 2 rows (activations
# outgrow the caches): measured per sample at 32 rows against 2, 224x224, torch 2.14.1 on this
# 2-core machine: efficientnet_b0 1.3x, vgg16_bn 1.3x, resnet50 1.6x, densenet121 1.75x. Assumed:
# 1 + 0.2 per doubling of the batch beyond the timed rows (1.8x at 16 times the rows).
GROWTH_PER_DOUBLING = 0.2


def probe_seconds(seconds_per_sample: float, n_passes: int, batch: int, timed_rows: int) -> float:
    """The probe's predicted seconds at ``batch``, from a forward timed at ``timed_rows`` rows."""
    growth = 1.0 + GROWTH_PER_DOUBLING * max(0.0, math.log2(batch / max(1, timed_rows)))
    return n_passes * seconds_per_sample * batch * growth * PASS_OVERHEAD


def time_plan(seconds_per_sample: float, n_passes: int, batch: int, smallest: int, fixed_batch: bool,
              left: float, budget: float, timed_rows: int = 2) -> tuple[int, str]:  # fmt: skip
    """The largest batch up to ``batch`` (itself, or a power of two) whose passes fit the ``left``
    seconds of the budget, and why."""
    if probe_seconds(seconds_per_sample, n_passes, batch, timed_rows) <= left:
        return batch, ""
    fits = _power_of_two(batch - 1) if batch > 1 else 0
    while fits >= 1 and probe_seconds(seconds_per_sample, n_passes, fits, timed_rows) > left:
        fits //= 2
    if fixed_batch or fits < smallest:
        at = batch if fixed_batch else smallest
        needed = probe_seconds(seconds_per_sample, n_passes, at, timed_rows) + (budget - left)
        raise ProbeSkipped(
            f"it would take about {math.ceil(needed)} s at batch {at} ({n_passes} forward passes of "
            f"{seconds_per_sample * at:.2g} s), over the --probe-budget of {budget:g} s "
            f"(--probe-budget {math.ceil(needed * 1.2)} or --probe-budget 0 runs it)"
        )
    return fits, f"time: {n_passes} passes at batch {fits} fit the {budget:g} s budget"


def small_inputs(inputs: Sequence[Any], batch: int, rows: int) -> list[Any]:
    """The first ``rows`` samples of every tensor whose first dimension is the batch."""
    import torch

    return [x[:rows] if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == batch else x for x in inputs]

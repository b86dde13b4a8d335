"""When the probe runs, at which batch, and when it is skipped: the static sites, the model's cost, memory, a deadline.

- ``not_needed(graph)``: the probe measures for a static finding only (an NL001 or NL005 site that
  reaches a BatchNorm with running statistics, or an NL006 candidate); otherwise why not.
- ``default_batch``: from the graph alone (its FLOPs, bytes written and live activations per sample,
  ``estimate_cost`` and ``estimate_memory``), the largest power of two up to ``MAX_BATCH`` whose
  passes would take at most half the ``--probe-budget`` on an assumed slow machine
  (``ASSUMED_SPEED``) and whose activations stay under ``ACTIVATION_CAP``. Nothing is timed: the
  same model and options give the same batch on a quiet laptop and on a loaded CI runner.
- ``memory_plan``: a guard against the memory this process may use now (cuts the batch, with a note).
- ``deadline``: the clock only guards: a probe still running at twice the budget is stopped and
  skipped with a note (the machine is far slower than assumed).
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
    its node to its last user), as ``torch.no_grad`` frees them; views allocate nothing. Without a
    meta build (``model`` None), the graph's parameters in float32 and no buffers.
    """
    if model is None:  # a model object that refuses a meta copy: the graph's parameters, in float32
        buffers, numel = 0, sum(p.numel for p in graph.parameters)
        own = Size(numel, numel * 4, ("float32",))
    else:
        buffers, own = sum(b.numel() * b.element_size() for b in model.buffers()), size_of(model)
    weights, rebuild = (real_cost or (own, False)) if copies_weights else (None, False)
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


def memory_plan(estimate: MemoryEstimate, batch: int, smallest: int, what: str, device: Any) -> tuple[int, str]:
    """The largest batch up to ``batch`` whose estimate fits half the memory available now, and a note
    when that cut it (``what``: the batch's origin, for the note); a skip when not even ``smallest`` fits."""
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
    if fits < smallest:
        raise ProbeSkipped(
            f"it needs about {gb(estimate.at(smallest))} at batch {smallest}, more than half of the {gb(room)} "
            f"that {bound} leaves (--probe-budget 0 runs it anyway)"
        )
    return fits, (
        f"memory: {what} ({batch}) needs about {gb(estimate.at(batch))}, more than half of the {gb(room)} that "
        f"{bound} leaves; measured at batch {fits} instead"
    )


def _power_of_two(n: int) -> int:
    """The largest power of two up to ``n`` (0 below 1): a cut batch that does not jitter with the machine's load."""
    return 1 << (n.bit_length() - 1) if n >= 1 else 0


def small_inputs(inputs: Sequence[Any], batch: int, rows: int) -> list[Any]:
    """The first ``rows`` samples of every tensor whose first dimension is the batch."""
    import torch

    return [x[:rows] if isinstance(x, torch.Tensor) and x.dim() and x.shape[0] == batch else x for x in inputs]


# -- cost and the default batch ----------------------------------------------------------------

MAX_BATCH = 4096  # the largest default batch: beyond it a ratio gains nothing worth the passes
ACTIVATION_CAP = 1 << 30  # bytes of live activations a default batch may need (a laptop's share)


@dataclass(frozen=True)
class Speed:
    """An assumed slow machine: what the default batch is planned for (a faster one finishes sooner)."""

    flops: float  # floating-point operations per second
    bandwidth: float  # bytes of activations written per second
    call: float  # seconds per op call (Python and dispatch)
    name: str


# A 2-core CPU (a CI runner; probes on this 2-core machine run at about that while quiet, convolutions
# faster and depthwise ones slower), a modest GPU, Apple silicon.
ASSUMED_SPEED = {
    "cpu": Speed(5e10, 5e9, 2e-5, "an assumed 2-core CPU (50 GFLOP/s)"),
    "cuda": Speed(1e12, 1e11, 2e-5, "an assumed small GPU (1 TFLOP/s)"),
    "mps": Speed(2e11, 2e10, 5e-5, "an assumed Apple GPU (200 GFLOP/s)"),
}


@dataclass(frozen=True)
class Cost:
    """What one forward costs, from the graph's shapes: the basis of the default batch."""

    flops: float  # floating-point operations per sample
    written: float  # bytes of outputs written per sample (float32 assumed)
    calls: int  # ops per forward

    def seconds(self, batch: int, n_passes: int, speed: Speed) -> float:
        """The probe's passes at ``batch`` on the assumed machine."""
        per_pass = batch * (self.flops / speed.flops + self.written / speed.bandwidth) + self.calls * speed.call
        return n_passes * per_pass


def estimate_cost(graph: Graph, traced_batch: int) -> Cost:
    """FLOPs and bytes written per sample of one forward: convolutions, linear layers, matrix products
    and attention counted from their shapes and hyper-parameters, other layers with weights (RNNs)
    as two operations per weight and token, everything else as one per output value."""
    params: dict[str, int] = {}
    for p in graph.parameters:
        parts = p.path.split(".")
        for i in range(len(parts)):
            prefix = ".".join(parts[:i])
            params[prefix] = params.get(prefix, 0) + p.numel
    flops = written = 0.0
    for node in graph.nodes:
        if node.op in _VIEWS or not node.shapes:
            continue
        out = sum(math.prod(s) for s in node.shapes)
        written += 4 * out
        try:
            flops += _flops(node, out, params)
        except (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError):
            flops += out  # hyper-parameters of an unexpected form: one operation per value
    batch = max(traced_batch, 1)
    return Cost(flops / batch, written / batch, len(graph.nodes))


def _flops(node: Any, out: int, params: dict[str, int]) -> float:
    p, first = node.params, node.shapes[0]
    if node.op == Op.CONV:
        kernel = math.prod(_tuple(p["kernel_size"]))
        if p.get("transposed"):
            return 2 * math.prod(node.in_shape or ()) * (p["out_channels"] // p["groups"]) * kernel
        return 2 * math.prod(first) * (p["in_channels"] // p["groups"]) * kernel
    if node.op == Op.LINEAR:
        return 2 * math.prod(first) * p["in_features"]
    if node.op == Op.MATMUL and node.in_shape:
        return 2 * math.prod(first) * node.in_shape[-1]
    if node.op == Op.ATTENTION and node.in_shape:
        query = node.in_shape
        keys = next((n.shape for n in node.data_inputs[1:] if n.shape), query)
        if "embed_dim" in p:  # nn.MultiheadAttention: four projections and the attention itself
            width, tokens = p["embed_dim"], math.prod(query) // p["embed_dim"]
            length = keys[1] if p.get("batch_first") else keys[0]
            return 8 * tokens * width * width + 4 * tokens * length * width
        return 4 * math.prod(query) * keys[-2]  # scaled_dot_product_attention: (..., L, E) x (..., S, E)
    weights = params.get(node.module, 0) if node.kind == "module" and node.op != Op.EMBEDDING else 0
    if weights and node.op not in (Op.BATCHNORM, Op.LAYERNORM, Op.GROUPNORM, Op.INSTANCENORM, Op.NORM):
        return 2 * weights * (math.prod(first) // max(first[-1], 1))
    return out


def _tuple(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def default_batch(cost: Cost, memory: MemoryEstimate, shapes: Sequence[tuple[int, ...]], n_passes: int,
                  budget: float, device: Any) -> tuple[int, str]:  # fmt: skip
    """The default batch and why: the largest power of two up to ``MAX_BATCH`` whose ``n_passes``
    take at most half the budget on the assumed machine (``DEFAULT_BUDGET`` when there is no limit)
    and whose live activations stay under ``ACTIVATION_CAP``; at least the smallest useful batch.

    Only the graph and the options decide it. A model that would take longer than the whole budget
    even at the smallest batch is skipped, with the estimate in the note.
    """
    speed = ASSUMED_SPEED.get(getattr(device, "type", str(device)), ASSUMED_SPEED["cpu"])
    target = (budget if budget > 0 else DEFAULT_BUDGET) / 2
    smallest = smallest_batch(shapes)
    activations = memory.per_sample
    batch, limit = MAX_BATCH, f"{MAX_BATCH} is the largest default batch"
    while batch > smallest:  # ``limit``: why the batch twice as large was not taken
        if cost.seconds(batch, n_passes, speed) > target:
            limit = f"batch {batch} would take over half the {target * 2:g} s budget"
        elif activations * batch > ACTIVATION_CAP:
            limit = f"batch {batch} would hold over {gb(ACTIVATION_CAP)} of activations"
        else:
            break
        batch //= 2
    seconds = cost.seconds(batch, n_passes, speed)
    if budget > 0 and batch == smallest and seconds > budget:
        raise ProbeSkipped(
            f"it would take about {math.ceil(seconds)} s at batch {smallest} on {speed.name}: {cost.flops / 1e9:.3g} "
            f"GFLOP per sample and pass, over the --probe-budget of {budget:g} s (--probe-budget "
            f"{math.ceil(seconds * 2)} or --probe-budget 0 runs it)"
        )
    return batch, (
        f"planned from the model's cost ({cost.flops / 1e9:.3g} GFLOP per sample): about {seconds:.2g} s for "
        f"{n_passes} passes at batch {batch} on {speed.name}; {limit}"
    )

"""The probe's plan: the batch (planned from the model's cost, or given), guarded by the memory, the model
built (or borrowed) on its device, then measured within a deadline."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from ..graph.ir import Graph
from ..options import Options

if TYPE_CHECKING:
    import torch
    import torch.nn as nn

    from .shift import ProbeResult


def probe_model(spec, used, graph: Graph, options: Options, device, state=None):
    """Measure on a model netlint owns (built with real weights), or on the user's, then restored.

    The batch: a real batch whole, ``--batch-size`` as given, or else planned from the graph alone
    (``budget.default_batch``). With a budget, the memory available now may cut it (with a note),
    estimated from the meta build before any weight is allocated, and a probe still running at
    twice the budget is stopped and skipped: the clock guards, it never chooses.
    """
    from ..graph.ir import DROPOUT_OPS
    from ..graph.queries import active_at_inference, dropout_sources, random_decisions
    from ..load.models import holds_meta, user_code
    from ..state import preserved_rng
    from . import budget as plan
    from .shift import batchnorms, has_trained_stats, measure, on_device, passes

    start = time.perf_counter()
    real_batch = any(t.value is not None for t in used.templates)  # nested in a dict or list too
    traced = next((s[0] for s in used.shapes if s), 1)
    budget = options.probe_budget
    sources = {bn: sorted({n.module for n in nodes}) for bn, nodes in dropout_sources(graph).items()}
    check_eval = any(active_at_inference(n) for n in graph.ops(*DROPOUT_OPS))
    # netlint builds (or copies) the model it measures; an instance imported on meta is built again, for real
    on_meta = spec.instance is not None and holds_meta(spec.instance)
    own = spec.instance is None or state is not None or on_meta
    # (an instance on meta has no statistics to read yet: planned as untrained)
    instance_trained = (
        spec.instance is not None and not on_meta and any(has_trained_stats(bn) for _, bn in batchnorms(spec.instance))
    )
    n_passes = passes(check_eval, state is not None or instance_trained)
    where = next((p.device for p in spec.instance.parameters()), device) if not own else device
    copies = own or not (where == device or (where.type == device.type == "cuda" and device.index is None))
    meta = _meta_or_none(spec)
    built = spec.real_cost() if own and meta is not None else None  # real_cost reads the meta build too
    memory = plan.estimate_memory(graph, meta, traced, copies_weights=copies, real_cost=built)
    if real_batch:
        batch, reason, what = traced, "a real batch, used whole", "the real batch"
    elif options.batch_size:
        batch, reason, what = options.batch_size, "--batch-size", "--batch-size"
    else:
        cost = plan.estimate_cost(graph, traced)
        batch, reason = plan.default_batch(cost, memory, used.shapes, n_passes, budget, device)
        what = "the planned batch"
    notes = []
    if budget > 0:
        smallest = min(plan.smallest_batch(used.shapes), batch)
        cut, why = plan.memory_plan(memory, batch, smallest, what, device)
        if cut != batch:
            batch, reason = cut, why
            notes.append(why)
    with user_code(), contextlib.ExitStack() as stack:
        if own:
            with preserved_rng(devices=[device]):
                model = _build_for_probe(spec, device)
            if state is not None:
                from ..load.checkpoint import load_into

                load_into(model, state)
        else:
            model = stack.enter_context(on_device(spec.instance, device))
        inputs = used.real(device, seed=options.seed, batch_size=batch)
        if real_batch and traced != batch:  # a real batch cut to fit the memory: its first rows
            inputs = plan.small_inputs(inputs, traced, batch)
        from ..progress import Progress

        progress = Progress(f"probing {spec.name}", "passes", options.progress)
        try:
            stop = start + 2 * budget if budget > 0 else None
            over = (
                f"it ran past twice the --probe-budget of {budget:g} s at batch {batch} and was stopped: this "
                "machine is far slower than assumed, or heavily loaded"
            )
            with plan.deadline(stop, over):
                result = measure(model, inputs, seed=options.seed, sources=sources, check_eval=check_eval,
                                 batch_reason=reason, progress=progress,
                                 drawn_once={n.module for n in random_decisions(graph)})  # fmt: skip
        finally:
            progress.close()
    result.notes[:0] = notes
    return result


def probe(
    model: nn.Module,
    inputs: Any = None,
    *,
    device: str | torch.device | None = "auto",
    batch_size: int | None = None,
    seed: int = 0,
) -> ProbeResult:
    """Measure the variance shift at every BatchNorm of ``model`` (never changed): ``netlint.probe``.

    ``inputs``: a tensor or a tuple of positional inputs (a real batch, used as it is; meta tensors
    give only the shape). None infers an input as ``netlint check`` does and draws a random batch of
    ``batch_size`` rows, by default the batch planned from the model's cost (without a deadline).
    """
    from ..graph.queries import dropout_sources, random_decisions
    from ..graph.static import static_graph
    from . import budget as plan
    from .shift import batchnorms, has_trained_stats, measure, on_device, passes, resolve_device

    target = resolve_device(device)
    graph, spec = static_graph(model, inputs)
    sources = {bn: sorted({n.module for n in nodes}) for bn, nodes in dropout_sources(graph).items()}
    reason = "given" if inputs is not None else "--batch-size"
    if inputs is None and batch_size is None:
        from ..graph.ir import DROPOUT_OPS
        from ..graph.queries import active_at_inference

        traced = next((s[0] for s in spec.shapes if s), 1)
        check_eval = any(active_at_inference(n) for n in graph.ops(*DROPOUT_OPS))
        n_passes = passes(check_eval, any(has_trained_stats(bn) for _, bn in batchnorms(model)))
        memory = plan.estimate_memory(graph, model, traced)
        batch_size, reason = plan.default_batch(plan.estimate_cost(graph, traced), memory, spec.shapes, n_passes, 0,
                                                target)  # fmt: skip
    real_inputs = spec.real(target, seed=seed, batch_size=batch_size)
    with on_device(model, target) as runnable:
        return measure(runnable, real_inputs, seed=seed, sources=sources, batch_reason=reason,
                       drawn_once={n.module for n in random_decisions(graph)})  # fmt: skip


def _meta_or_none(spec):
    """The meta build for the memory estimate; None for a model object that refuses a meta copy (the
    estimate then counts the graph's parameters)."""
    try:
        return spec.meta()
    except Exception:
        if spec.instance is None:
            raise
        return None


def _build_for_probe(spec, device):
    """The model with real weights on ``device``; running out of memory there is the probe's failure, not a bug."""
    from .shift import ProbeError

    try:
        return spec.real(device)
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if "out of memory" not in str(exc).lower():
            raise
        raise ProbeError(f"out of memory building the model on {device}: {str(exc).splitlines()[0]}") from None

"""The probe's plan: the batch cut to the memory and the time budget, the model built (or borrowed) on its device, then measured."""

from __future__ import annotations

import contextlib
import time

from ..graph.ir import Graph
from ..options import Options


def probe_model(spec, used, graph: Graph, options: Options, device, state=None):
    """Measure on a model netlint owns (built with real weights), or on the user's, then restored.

    With a budget, the batch is first cut to what half the available memory holds (estimated from
    the meta build, before any weight is allocated), then to what the time budget allows (from one
    timed forward at a small batch); a batch that cannot be cut that far skips the probe.
    """
    from ..graph.ir import DROPOUT_OPS
    from ..graph.queries import active_at_inference, dropout_sources
    from ..load.models import holds_meta, user_code
    from ..state import preserved_rng
    from . import budget as plan
    from .shift import batchnorms, default_batch_size, has_trained_stats, measure, on_device, passes

    start = time.perf_counter()
    real_batch = any(t.value is not None for t in used.templates)  # nested in a dict or list too
    traced = next((s[0] for s in used.shapes if s), 1)
    if real_batch:
        batch, reason = traced, "a real batch, used whole"
    elif options.batch_size:
        batch, reason = options.batch_size, "--batch-size"
    else:
        batch, reason = default_batch_size(used.shapes), "the default"
    fixed = bool(options.batch_size) and not real_batch  # the user's --batch-size is not cut, only skipped
    smallest = min(plan.smallest_batch(used.shapes), batch)
    budget = options.probe_budget
    sources = {bn: sorted({n.module for n in nodes}) for bn, nodes in dropout_sources(graph).items()}
    check_eval = any(active_at_inference(n) for n in graph.ops(*DROPOUT_OPS))
    # netlint builds (or copies) the model it measures; an instance imported on meta is built again, for real
    own = spec.instance is None or state is not None or holds_meta(spec.instance)
    if budget > 0:
        where = next((p.device for p in spec.instance.parameters()), device) if not own else device
        copies = own or not (where == device or (where.type == device.type == "cuda" and device.index is None))
        cost = spec.real_cost() if own else None
        estimate = plan.estimate_memory(graph, spec.meta(), traced, copies_weights=copies, real_cost=cost)
        batch, why = plan.memory_plan(estimate, batch, smallest, fixed, device)
        reason = why or reason
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
        if budget > 0:
            rows = min(2, batch)
            left = budget - (time.perf_counter() - start)
            over = f"one forward at batch {rows} did not finish within the --probe-budget of {budget:g} s"
            with plan.deadline(start + budget, over):
                seconds = plan.time_forward(model, plan.small_inputs(inputs, batch, rows), device, left / 20)
            trained = any(has_trained_stats(bn) for _, bn in batchnorms(model))
            left = budget - (time.perf_counter() - start)
            chosen, why = plan.time_plan(
                seconds / rows, passes(check_eval, trained), batch, smallest, fixed, left, budget, rows
            )
            if chosen != batch:
                inputs = plan.small_inputs(inputs, batch, chosen)
            reason = why or reason
        from ..progress import Progress

        progress = Progress(f"probing {spec.name}", "passes", options.progress)
        try:
            stop = start + 2 * budget if budget > 0 else None
            with plan.deadline(stop, f"it ran past twice the --probe-budget of {budget:g} s and was stopped"):
                return measure(model, inputs, seed=options.seed, sources=sources, check_eval=check_eval,
                               batch_reason=reason, progress=progress)  # fmt: skip
        finally:
            progress.close()


def _build_for_probe(spec, device):
    """The model with real weights on ``device``; running out of memory there is the probe's failure, not a bug."""
    from .shift import ProbeError

    try:
        return spec.real(device)
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if "out of memory" not in str(exc).lower():
            raise
        raise ProbeError(f"out of memory building the model on {device}: {str(exc).splitlines()[0]}") from None

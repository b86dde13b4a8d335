"""Build the engine-neutral graph of a model: torch.fx first, runtime capture for the rest."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils._pytree import tree_leaves

from ..errors import ForwardFailure, describe_exception
from ..inputs import InputSpec
from ..source import Site
from ..state import preserved_rng
from . import fx_engine, ops
from .builder import Builder
from .capture import module_paths, record_call
from .ir import Graph, Node, ParamInfo


@dataclass
class GraphFailure(Exception):
    """No candidate input ran through the model; ``attempts`` holds (input, error) per try."""

    attempts: list[tuple[InputSpec, str]]


def needs_real_data(exc: BaseException) -> bool:
    """Meta tensors have shapes but no values: ``.item()``, ``bool(x)`` and ``.tolist()`` fail."""
    if isinstance(exc, ForwardFailure):
        exc = exc.original
    text = str(exc).lower()
    return "meta" in text or "data-dependent" in text or "data dependent" in text


def build_graph(
    name: str,
    model: torch.nn.Module,
    candidates: list[InputSpec],
    sites: dict[str, Site],
    materialize: Callable[[], torch.nn.Module] | None = None,
) -> tuple[Graph, InputSpec]:
    """The graph of ``model`` (owned by netlint, in training mode) for the first input that runs.

    ``model`` lives on the meta device; ``materialize`` gives a real CPU copy for forwards that
    depend on data. Training mode is what the rules need: it is where dropout acts.
    """
    model.train()
    traces: dict[tuple, fx_engine.Trace] = {}
    attempts: list[tuple[InputSpec, str]] = []
    real: torch.nn.Module | None = None
    for spec in candidates:
        key = tuple(type(x).__name__ if not _is_template(x) else "T" for x in spec.items)
        if key not in traces:
            traces[key] = fx_engine.trace(model, spec.meta())
        t = traces[key]
        if real is None:
            try:
                return _covering(functools.partial(_build, name, t, model, spec.meta(), sites, "meta")), spec
            except Exception as exc:
                if not (needs_real_data(exc) and materialize is not None):
                    attempts.append((spec, describe_exception(exc)))
                    continue
                real = materialize().train()
        try:
            with preserved_rng(seed=0):
                return _covering(functools.partial(_build, name, t, real, spec.real("cpu"), sites, "cpu")), spec
        except Exception as exc:
            attempts.append((spec, describe_exception(exc)))
    raise GraphFailure(attempts)


RECORDING_SEEDS = 8


def _covering(build: Callable[[], Graph]) -> Graph:
    """A recording whose random decisions (stochastic depth) skipped no layer, if a few seeds find one.

    A recorded forward follows one outcome of each random draw; when some layers went unrun
    because of them, the forward is recorded again with other seeds and the one that ran the most
    layers is kept. Deterministic: the seeds are 0 to RECORDING_SEEDS - 1.
    """
    from ..state import seed_generators
    from .queries import random_decisions

    seed_generators(0)
    best = build()
    seed = 1
    while best.unused and random_decisions(best) and seed < RECORDING_SEEDS:
        seed_generators(seed)
        graph = build()
        if len(graph.unused) < len(best.unused):
            best = graph
        seed += 1
    return best


def _is_template(x) -> bool:
    from ..inputs import TensorTemplate

    return isinstance(x, TensorTemplate)


def _build(name, t: fx_engine.Trace, root, inputs, sites, device: str) -> Graph:
    builder = Builder(name, root, sites)
    # Gradients on, as in a training step: each node then records whether it depends differentiably on a
    # trainable parameter, and a ``torch.no_grad()`` or ``.detach()`` in forward shows (NL012).
    with torch.enable_grad():
        if t.graph is not None:
            fx_engine.interpret(t, root, inputs, builder, device)
        else:
            engine = f"capture ({device})"
            builder.part("", engine, t.root_reason)
            nodes = [
                builder.input(f"input_{i}", x) if isinstance(x, torch.Tensor) else None for i, x in enumerate(inputs)
            ]
            out, ir = record_call(
                builder, module_paths(root), "", lambda: root(*inputs), list(zip(inputs, nodes)), engine
            )
            builder.output([n for n in tree_leaves(ir) if isinstance(n, Node)], out)
    # A layer is used when it is called, or when forward reads its weights (F.linear(x, self.qkv.weight)).
    seen = {n.module for n in builder.graph.nodes if n.kind in ("module", "param")}
    # Only layers that hold weights count: an uncalled Dropout or Identity hides nothing.
    builder.graph.unused = tuple(
        path for path, m in root.named_modules()
        if path and ops.is_leaf(m) and path not in seen and not any(path.startswith(s + ".") for s in seen)
        and next(iter([*m.parameters(recurse=False), *m.buffers(recurse=False)]), None) is not None
    )  # fmt: skip
    _record_parameters(builder.graph, root, sites)
    return builder.graph


def _record_parameters(graph: Graph, root: torch.nn.Module, sites: dict[str, Site]) -> None:
    """Every parameter (used or not) and where each module and directly-set parameter is defined."""
    from ..source import attribute_site

    first: dict[int, str] = {}
    params = []
    for path, p in root.named_parameters(remove_duplicate=False):
        params.append(ParamInfo(path, p.numel(), bool(p.requires_grad), first.setdefault(id(p), path)))
    graph.parameters = tuple(params)
    leaves = {path for path, m in root.named_modules() if ops.is_leaf(m)}
    located = {path: (*site.best, site.origin) for path, site in sites.items()}
    root_site = attribute_site(root, "")  # the class, not the line that built this instance
    if root_site is not None:
        located[""] = (*root_site.best, root_site.origin)
    for info in params:
        owner = info.path.rpartition(".")[0]
        if owner not in leaves and not any(owner.startswith(leaf + ".") for leaf in leaves):
            site = attribute_site(root, info.path)  # ``self.gamma = nn.Parameter(...)``
            if site is not None:
                located[info.path] = (*site.best, site.origin)
    graph.locations = located

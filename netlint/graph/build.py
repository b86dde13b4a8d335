"""Build the engine-neutral graph of a model: torch.fx first, runtime capture for the rest."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch.utils._pytree import tree_flatten, tree_leaves

from ..errors import ForwardFailure, describe_exception
from ..source import Site
from ..state import preserved_rng
from . import fx_engine, ops
from .builder import Builder
from .capture import module_paths, record_call
from .inputs import InputSpec, keeps_batch
from .ir import Graph, Node, Op, ParamInfo, shape_str
from .scripted import in_python


@dataclass
class GraphFailure(Exception):
    """No candidate input ran through the model; ``attempts`` holds (input, error) per try."""

    attempts: list[tuple[InputSpec, str]]
    errors: list[BaseException] = field(default_factory=list)  # the exception of each attempt
    arity: str = ""  # forward needs a different number of inputs: no input size can fix it
    device: str = ""  # forward needs a GPU (``x.cuda()``): no input size can fix it either


def needs_real_data(exc: BaseException) -> bool:
    """Meta tensors have shapes but no values: ``.item()``, ``bool(x)`` and ``.tolist()`` fail."""
    if isinstance(exc, ForwardFailure):
        exc = exc.original
    text = str(exc).lower()
    return "meta" in text or "data-dependent" in text or "data dependent" in text


_ARITY = re.compile(
    r"missing \d+ required positional argument|takes (from \d+ to )?\d+ positional arguments? but \d+ (were|was) given"
)


def arity_error(exc: BaseException) -> bool:
    """A call with the wrong number of arguments: no other input size will change that."""
    if isinstance(exc, ForwardFailure):
        exc = exc.original
    return isinstance(exc, TypeError) and _ARITY.search(str(exc)) is not None


_DEVICE = re.compile(r"\bcuda\b|nvidia|found at least two devices", re.IGNORECASE)


def device_error(exc: BaseException) -> bool:
    """The forward wants a GPU (``x.cuda()``, ``device="cuda"``): netlint runs it on meta and CPU tensors."""
    if isinstance(exc, ForwardFailure):
        exc = exc.original
    return isinstance(exc, (RuntimeError, AssertionError, AttributeError)) and _DEVICE.search(str(exc)) is not None


def build_graph(
    name: str,
    model: torch.nn.Module,
    candidates: list[InputSpec],
    sites: dict[str, Site],
    materialize: Callable[[], torch.nn.Module] | None = None,
) -> tuple[Graph, InputSpec]:
    """The graph of ``model`` (owned by netlint, in training mode) for the first input that runs.

    ``model`` lives on the meta device; ``materialize`` gives a real CPU copy for forwards that
    depend on data. Training mode is what the rules need: it is where dropout acts. A guessed
    input (``spec.inferred``) is accepted only when the output keeps its batch size; when no
    guess does, the first that ran is used and its source says so.
    """
    # TorchScript and compiled parts in Python where their source exists; ``scripted`` names them.
    model, sites, materialize, scripted = in_python(model, sites, materialize)
    model.train()
    traces: dict[tuple, fx_engine.Trace] = {}
    failure = GraphFailure([])
    real: torch.nn.Module | None = None
    fallback: tuple[Graph, InputSpec] | None = None
    wrong_arity: set[int] = set()  # numbers of inputs that forward refused
    for spec in candidates:
        if len(spec.items) in wrong_arity or failure.device:
            continue
        key = _trace_key(spec)
        if key not in traces:
            traces[key] = fx_engine.trace(model, spec.meta())
        t = traces[key]
        graph = None
        if real is None:
            try:
                with _warnings_if_it_runs():
                    graph = _covering(functools.partial(_build, name, t, model, spec.meta(), sites, "meta"))
            except Exception as exc:
                if not (needs_real_data(exc) and materialize is not None):
                    _failed(failure, spec, exc, wrong_arity)
                    continue
                real = materialize().train()
        if graph is None:
            try:
                with preserved_rng(seed=0), _warnings_if_it_runs():
                    graph = _covering(functools.partial(_build, name, t, real, spec.real("cpu"), sites, "cpu"))
            except Exception as exc:
                _failed(failure, spec, exc, wrong_arity)
                continue
        graph.parts.extend(scripted)
        outputs = [s for n in graph.ops(Op.OUTPUT) for s in n.shapes]
        if not spec.inferred or keeps_batch(spec, outputs):
            return graph, spec
        if fallback is None:
            first = spec.templates[0].shape
            got = " and ".join(shape_str(s) for s in outputs if s) or "no tensor"
            note = (
                f"; no input size tried keeps the batch: {shape_str(first)} gives {got} "
                "(pass --input-shape if this is not the model's input)"
            )
            fallback = graph, dataclasses.replace(spec, source=spec.source + note)
    if fallback is not None:
        return fallback
    raise failure


@contextlib.contextmanager
def _warnings_if_it_runs() -> Iterator[None]:
    """Warnings of an attempt that fails are dropped: they are about an input the model does not take
    (``batch["image"]`` on a tensor warns before it fails), not about the model."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:  # only reached when the attempt ran
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def _failed(failure: GraphFailure, spec: InputSpec, exc: BaseException, wrong_arity: set[int]) -> None:
    failure.attempts.append((spec, describe_exception(exc)))
    failure.errors.append(exc)
    if arity_error(exc):
        wrong_arity.add(len(spec.items))
        failure.arity = failure.arity or describe_exception(exc)
    elif device_error(exc):  # torch's own words may advise a start method: only where it asked for the GPU
        where = exc.where if isinstance(exc, ForwardFailure) else ""
        failure.device = f"it asks for CUDA in {where}" if where else describe_exception(exc)


def _trace_key(spec: InputSpec) -> tuple:
    """Inputs with the same structure share one fx trace (non-tensor values are traced as constants)."""
    key = []
    for x in spec.items:
        leaves, structure = tree_flatten(x)
        key.append((str(structure), tuple("T" if _is_template(v) else type(v).__name__ for v in leaves)))
    return tuple(key)


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
    from .inputs import TensorTemplate

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
            seeds = [(x, builder.input(name, x)) for name, x in _named_tensors(inputs)]
            out, ir = record_call(builder, module_paths(root), "", lambda: root(*inputs), seeds, engine)
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


def _named_tensors(inputs: list) -> list[tuple[str, torch.Tensor]]:
    """Every tensor of the positional inputs, named by where it sits: ``input_0``, ``input_0["image"]``."""
    found = []

    def walk(name: str, x) -> None:
        if isinstance(x, torch.Tensor):
            found.append((name, x))
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(f"{name}[{k!r}]", v)
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(f"{name}[{i}]", v)

    for i, x in enumerate(inputs):
        walk(f"input_{i}", x)
    return found


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

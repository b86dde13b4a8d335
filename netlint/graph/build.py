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

from ..errors import ForwardFailure, describe_exception, original_error
from ..source import Site
from ..state import preserved_rng
from . import fx_engine, ops
from .builder import Builder
from .capture import module_paths, record_call
from .eager import Run, disagreement, run_eager
from .inputs import InputSpec, keeps_batch
from .ir import AnalysisPart, Graph, Node, Op, ParamInfo, shape_str
from .scripted import in_python
from .shapes import ShapeMismatch


@dataclass
class GraphFailure(Exception):
    """No candidate input ran through the model; ``attempts`` holds (input, error) per try."""

    attempts: list[tuple[InputSpec, str]]
    errors: list[BaseException] = field(default_factory=list)  # the exception of each attempt
    arity: str = ""  # forward needs a different number of inputs: no input size can fix it
    device: str = ""  # forward needs a GPU (``x.cuda()``): no input size can fix it either


def needs_real_data(exc: BaseException) -> bool:
    """Meta tensors have shapes but no values: ``.item()``, ``bool(x)`` and ``.tolist()`` fail."""
    exc = original_error(exc)
    text = str(exc).lower()
    return "meta" in text or "data-dependent" in text or "data dependent" in text


_ARITY = re.compile(
    r"missing \d+ required positional argument|takes (from \d+ to )?\d+ positional arguments? but \d+ (were|was) given"
)


def arity_error(exc: BaseException) -> bool:
    """A call with the wrong number of arguments: no other input size will change that."""
    exc = original_error(exc)
    return isinstance(exc, TypeError) and _ARITY.search(str(exc)) is not None


_DEVICE = re.compile(r"\bcuda\b|nvidia|found at least two devices", re.IGNORECASE)


def device_error(exc: BaseException) -> bool:
    """The forward wants a GPU (``x.cuda()``, ``device="cuda"``): netlint runs it on meta and CPU tensors."""
    exc = original_error(exc)
    return isinstance(exc, (RuntimeError, AssertionError, AttributeError)) and _DEVICE.search(str(exc)) is not None


def build_graph(
    name: str,
    model: torch.nn.Module,
    candidates: list[InputSpec],
    sites: dict[str, Site],
    materialize: Callable[[], torch.nn.Module] | None = None,
    scripted: list[AnalysisPart] | None = None,
    real_cost: Callable[[], tuple] | None = None,
) -> tuple[Graph, InputSpec]:
    """The graph of ``model`` (owned by netlint, in training mode) for the first input that runs.

    ``model`` lives on the meta device; ``materialize`` gives a real CPU copy for forwards that
    depend on data (``real_cost``: what that copy allocates, for the memory guard). Training mode
    is what the rules need: it is where dropout acts. A guessed input (``spec.inferred``) is
    accepted only when the output keeps its batch size; when no guess does, the first that ran is
    used and its source says so. ``scripted``: the parts that ``scripted.in_python`` already turned
    into Python (None: convert here).
    """
    if scripted is None:  # TorchScript and compiled parts in Python where their source exists
        model, sites, materialize, scripted = in_python(model, sites, materialize)
    model.train()
    traces: dict[tuple, fx_engine.Trace] = {}
    failure = GraphFailure([])
    real: torch.nn.Module | None = None
    on_cpu = False  # the meta device cannot run this forward: every candidate runs on the CPU
    genuine: set[str] = set()  # errors of the meta device that the CPU raises too
    solved: set[str] = set()  # guesses whose spatial size was solved for a Linear (inputs.fitted)
    fallback: tuple[Graph, InputSpec] | None = None
    wrong_arity: set[int] = set()  # numbers of inputs that forward refused
    pending = list(candidates)
    while pending:
        spec = pending.pop(0)
        if len(spec.items) in wrong_arity or failure.device:
            continue
        key = _trace_key(spec)
        if key not in traces:
            traces[key] = fx_engine.trace(model, spec.meta())
        graph, meta_error = None, None
        if not on_cpu:
            try:
                with _warnings_if_it_runs():
                    graph, traces[key] = _faithful(name, traces[key], model, spec, sites)
            except Exception as exc:
                meta_error = exc
        if graph is None:
            if materialize is None or not (on_cpu or _may_need_cpu(meta_error, genuine)):
                _failed(failure, spec, meta_error, wrong_arity)
                _solve(model, spec, meta_error, solved, pending)
                continue
            try:
                real = real if real is not None else _real(model, materialize, meta_error, real_cost)
                with preserved_rng(seed=0), _warnings_if_it_runs():
                    t = traces[key]
                    graph = _covering(functools.partial(_build, name, t, real, spec.real("cpu"), sites, "cpu"))
            except Exception as exc:
                if meta_error is not None and _signature(exc) == _signature(meta_error):
                    genuine.add(_signature(exc))  # the CPU fails the same way: the input's fault, not meta's
                else:
                    on_cpu = on_cpu or not isinstance(exc, RealBuildRefused)
                _failed(failure, spec, exc, wrong_arity)
                continue
            on_cpu = True
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


class RealBuildRefused(Exception):
    """The forward needs real tensors, and the model's weights would not fit in memory."""

    def __init__(self, text: str, hint: str = "Run the check where more memory is free."):
        super().__init__(text)
        self.hint = hint


def _real(
    model: torch.nn.Module,
    materialize: Callable[[], torch.nn.Module],
    meta_error: BaseException | None,
    real_cost: Callable[[], tuple] | None,
) -> torch.nn.Module:
    """A real CPU copy of the model, when what building it allocates fits half the memory this process may use.

    ``real_cost``: that size and whether the build imports the model's file again (``ModelSpec.real_cost``);
    without it, the model's own parameters and buffers.
    """
    from .. import memory

    size, again = real_cost() if real_cost is not None else (memory.size_of(model), False)
    room, bound = memory.available_memory("cpu")
    if room is not None and size.bytes > room // 2:
        left = f"more than half of the {memory.gb(room)} that {bound} leaves"
        if meta_error is not None and needs_real_data(meta_error):
            whose = "its file imported again with real tensors" if again else "a real copy of the model"
            raise RealBuildRefused(
                f"its forward needs tensor values (data-dependent control flow), so netlint would run it on "
                f"{whose}: {size.describe()}, {left}",
                "Check a smaller configuration of the same architecture (the findings come from its structure, not "
                "its width), or make the forward's control flow independent of the values.",
            )
        why = f" ({describe_exception(meta_error)})" if meta_error is not None else ""
        raise RealBuildRefused(
            f"the forward cannot run on the meta device{why}, and running it on the CPU needs about "
            f"{memory.gb(size.bytes)} of weights, {left}"
        )
    return materialize().train()


def _may_need_cpu(error: BaseException | None, genuine: set[str]) -> bool:
    """A failure on meta that real tensors may not have: the forward reads values (``.item()``), or a
    kernel exists only on real devices (a grouped matmul that rejects float32 on meta). netlint's own
    shape checks and a wrong number of inputs fail the same everywhere; so does an error the CPU
    already raised for another input."""
    if error is None or arity_error(error):
        return False
    if needs_real_data(error):
        return True
    original = original_error(error)
    return not isinstance(original, (ShapeMismatch, RecursionError)) and _signature(error) not in genuine


def _signature(exc: BaseException) -> str:
    """An error without its numbers: the same failure at another input size."""
    original = original_error(exc)
    return f"{type(original).__name__}: {re.sub(r'[0-9]+', '#', str(original))}"


def _solve(model: torch.nn.Module, spec: InputSpec, error, solved: set[str], pending: list[InputSpec]) -> None:
    """A guessed size refused by a Linear after a flatten: try next the size that fits it (inputs.fitted)."""
    from .inputs import fitted

    original = original_error(error)
    if not spec.inferred or spec.source in solved or not (isinstance(original, ShapeMismatch) and original.any_size):
        return
    solved.add(spec.source)
    found = fitted(model, spec)
    if found is not None:
        pending[:] = [found, *(s for s in pending if s.shapes != found.shapes)]


def _faithful(
    name: str, t: fx_engine.Trace, model: torch.nn.Module, spec: InputSpec, sites: dict[str, Site]
) -> tuple[Graph, fx_engine.Trace]:
    """The graph on meta, and the trace it came from, checked against the model run eagerly.

    A trace can differ from the model without failing (a Python ``isinstance`` of a proxy is False,
    so a branch vanishes): the leaf layers called, how often, their output shapes and the model's
    must agree with an eager run on the same input (eager.py: the same shape functions, and the
    outputs of layers that have none stand in for running them again while recording). Where they
    do not, the module whose forward made the first differing call is recorded while it runs
    instead, or else the whole model, and the analysis says why. A trace that fails where the
    eager run does not is the same case.
    """
    from ..state import seed_generators
    from .queries import random_decisions

    if t.graph is None:  # recorded while it runs: the eager run itself
        return _covering(functools.partial(_build, name, t, model, spec.meta(), sites, "meta")), t
    seed_generators(0)  # as the first recording: a random draw in forward comes out the same
    run = run_eager(model, spec.meta())
    try:
        graph = _covering(functools.partial(_build, name, t, model, spec.meta(), sites, "meta", run))
    except Exception as exc:
        if run.error is not None:
            raise  # the model fails too: the input's fault, or the model's
        differs, owner = f"it fails ({describe_exception(exc)}) where the model runs", getattr(exc, "owner", "")
    else:
        if run.error is not None or random_decisions(graph):
            return graph, t  # nothing to compare with, or recorded over several seeds on purpose (_covering)
        found = disagreement(graph, run)
        if found is None:
            return graph, t
        differs, owner = found
    reason = f"the trace differs from the model run eagerly: {differs}"
    for part in dict.fromkeys([owner, ""]):
        retraced = fx_engine.trace(model, spec.meta(), {**t.opaque, part: reason}) if part else None
        if retraced is None or retraced.graph is None:
            retraced = fx_engine.Trace(None, root_reason=reason)
        try:
            graph = _covering(functools.partial(_build, name, retraced, model, spec.meta(), sites, "meta", run))
        except Exception:
            if not part:
                raise
            continue
        if not part or disagreement(graph, run) is None:
            return graph, retraced
    raise AssertionError("unreachable: the whole model is recorded last")


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


def _build(name, t: fx_engine.Trace, root, inputs, sites, device: str, known: Run | None = None) -> Graph:
    builder = Builder(name, root, sites)
    # Gradients on, as in a training step: each node then records whether it depends differentiably on a
    # trainable parameter, and a ``torch.no_grad()`` or ``.detach()`` in forward shows (NL012).
    with torch.enable_grad():
        if t.graph is not None:
            fx_engine.interpret(t, root, inputs, builder, device, known)
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

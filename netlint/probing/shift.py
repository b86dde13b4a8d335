"""The dynamic probe: measure the variance shift at every BatchNorm on a real batch.

Four forward passes of one batch, under ``torch.no_grad``:

A. training behaviour (``model.train()``: dropout acts) and B. inference behaviour (``eval()``),
   with every BatchNorm normalising with *batch* statistics in both, so that untrained running
   statistics do not matter and nothing is updated. At each BatchNorm's input, per channel, the
   variance in B divided by the variance in A is the variance-shift ratio (1.0: no shift).
C./D. inference with every BatchNorm's running statistics set from A (what training would
   learn) and from B (what inference sees); their relative L2 difference is the output drift.

BatchNorm layers are intercepted by a temporary instance-level ``forward`` (no per-op hooks, so the
probe costs about what its four forward passes cost), and per-channel statistics are accumulated
there as float64 sums and sums of squares, never by keeping activations. Afterwards every
parameter, buffer, ``training`` flag and random-number generator is exactly as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from ..state import preserved_rng, seed_generators

SHIFT_WINDOW = (0.9, 1.1)  # ratios outside it are reported as a measured variance shift
MIN_SAMPLES = 1024  # values per channel below which a ratio is too noisy to trust (about 5 %)
_MISSING = object()


class ProbeError(Exception):
    """The probe could not measure (forward error, out of memory, non-finite values)."""


@dataclass
class LayerShift:
    """What one BatchNorm saw: the variance-shift ratio per channel, summarised."""

    module: str
    ratio_mean: float  # mean over channels of var(B) / var(A)
    ratio_min: float
    ratio_max: float
    worst_channel: int  # the channel whose ratio is furthest from 1
    mean_shift: float  # mean over channels of |mean(B) - mean(A)| / std(A)
    channels: int
    samples: int  # values per channel in one pass (batch x spatial positions x calls)
    sources: list[str] = field(default_factory=list)  # upstream dropout sites (from the static graph)
    # Trained running statistics against what evaluation mode feeds the layer (None: untrained stats).
    running_ratio_mean: float | None = None  # mean over channels of running_var / var(eval input)
    running_ratio_min: float | None = None
    running_ratio_max: float | None = None
    running_mean_gap: float | None = None  # mean over channels of |running_mean - mean(eval)| / std(eval)

    @property
    def worst_ratio(self) -> float:
        return self.ratio_min if abs(math.log(self.ratio_min)) >= abs(math.log(self.ratio_max)) else self.ratio_max

    @property
    def precise(self) -> bool:
        return self.samples >= MIN_SAMPLES

    @property
    def shifted(self) -> bool:
        return not SHIFT_WINDOW[0] <= self.ratio_mean <= SHIFT_WINDOW[1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "ratio_mean": _round(self.ratio_mean),
            "ratio_min": _round(self.ratio_min),
            "ratio_max": _round(self.ratio_max),
            "worst_channel": self.worst_channel,
            "mean_shift": _round(self.mean_shift),
            "channels": self.channels,
            "samples": self.samples,
            "sources": list(self.sources),
            "running_ratio_mean": _maybe(self.running_ratio_mean),
            "running_ratio_min": _maybe(self.running_ratio_min),
            "running_ratio_max": _maybe(self.running_ratio_max),
            "running_mean_gap": _maybe(self.running_mean_gap),
        }


@dataclass
class ProbeResult:
    device: str
    batch_size: int
    seed: int
    seconds: float
    output_drift: float | None  # relative L2 change of the eval output: running stats from A vs from B
    layers: list[LayerShift]  # sorted by magnitude, largest shift first
    eval_difference: float | None = None  # max |difference| of two eval forwards (None: not checked)
    batch_reason: str = "given"  # why this batch: the default, --batch-size, a real batch, the budget
    notes: list[str] = field(default_factory=list)  # what could not be measured, and why

    @property
    def trained(self) -> bool:
        """Whether the running statistics were compared with evaluation mode (trained statistics)."""
        return any(x.running_ratio_mean is not None for x in self.layers)

    def layer(self, module: str) -> LayerShift | None:
        return next((x for x in self.layers if x.module == module), None)

    def to_dict(self, timings: bool = False) -> dict[str, Any]:
        return {
            "device": self.device,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "seconds": round(self.seconds, 3) if timings else None,
            "batch_reason": self.batch_reason,
            "output_drift": _maybe(self.output_drift),
            "band": list(SHIFT_WINDOW),  # the neutral band: a ratio outside it is a variance shift
            "layers": [x.to_dict() for x in self.layers],
            "eval_difference": _maybe(self.eval_difference),
            "notes": list(self.notes),
        }


def _round(x: float) -> float:
    return float(f"{x:.6g}") if math.isfinite(x) else x


def _maybe(x: float | None) -> float | None:
    return None if x is None else _round(x)


# -- measuring ---------------------------------------------------------------------------------


class _Moments:
    """Per-channel float64 sums and sums of squares of a BatchNorm's input, over all its calls."""

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None
        self.count = 0

    def add(self, x: torch.Tensor, mean: torch.Tensor, invstd: torch.Tensor, eps: float) -> None:
        """Add one call's batch statistics, as BatchNorm itself computed them while normalising.

        ``invstd`` is 1/sqrt(var + eps) in float32: var comes back to about 1e-7 relative error for
        any variance not far below eps, and reusing it costs nothing beyond the BatchNorm itself.
        """
        n = x.numel() // x.shape[1]
        mean = mean.double()
        var = (invstd.double().pow(-2) - eps).clamp_min(0.0)
        total, squares = mean * n, (var + mean * mean) * n
        if self.total is None:
            self.total, self.squares = total, squares
        else:
            self.total += total
            self.squares += squares
        self.count += n

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.total is not None and self.squares is not None
        mean = self.total / self.count
        return mean, (self.squares / self.count - mean * mean).clamp_min(0.0)


def batchnorms(model: nn.Module) -> list[tuple[str, _BatchNorm]]:
    """The BatchNorm layers that use running statistics at inference: the ones a shift affects."""
    return [
        (path, m)
        for path, m in model.named_modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats and m.running_mean is not None
    ]


@contextlib.contextmanager
def training_flags_restored(model: nn.Module) -> Iterator[None]:
    """Every module's ``training`` flag as it was, whatever the passes inside switch."""
    flags = [(m, m.training) for m in model.modules()]
    try:
        yield
    finally:
        for m, training in flags:
            m.training = training


@contextlib.contextmanager
def _restored(model: nn.Module) -> Iterator[None]:
    """Give back training flags, buffers and cuDNN settings exactly as they were (``_intercept``
    removes its own forwards)."""
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    try:
        # Bitwise-identical passes A and B upstream of any dropout need deterministic kernels.
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
        with training_flags_restored(model):
            yield
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def _standard(bn: _BatchNorm) -> bool:
    return type(bn).forward is _BatchNorm.forward


@contextlib.contextmanager
def _intercept(layers: Sequence[tuple[str, _BatchNorm]], handler) -> Iterator[None]:
    """Route every BatchNorm's normalisation through ``handler(path, x, weight, bias, eps)``.

    Standard BatchNorm classes get a temporary instance ``forward`` (no per-op cost). A subclass
    with a forward of its own (timm's BatchNormAct2d adds an activation) keeps it, and only its
    ``F.batch_norm`` call is intercepted, by a function mode active only when such layers exist.
    """
    custom = {id(bn): path for path, bn in layers if not _standard(bn)}
    saved = [(bn, bn.__dict__.get("forward", _MISSING)) for _, bn in layers if _standard(bn)]
    for path, bn in layers:
        if _standard(bn):
            bn.__dict__["forward"] = functools.partial(_call, handler, path, bn)
    try:
        with _batch_norm_calls_routed(custom, handler):
            yield
    finally:
        for bn, value in saved:  # the layers' own forwards (or none) again
            if value is _MISSING:
                bn.__dict__.pop("forward", None)
            else:
                bn.__dict__["forward"] = value


@contextlib.contextmanager
def _batch_norm_calls_routed(custom: dict[int, str], handler) -> Iterator[None]:
    """The ``F.batch_norm`` calls of the BatchNorm subclasses in ``custom`` (id -> path) go to ``handler``."""
    if not custom:
        yield
        return
    stack: list[str] = []

    def pre(module, args):
        if id(module) in custom:
            stack.append(custom[id(module)])

    def post(module, args, out):
        if id(module) in custom and stack:
            stack.pop()

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is F.batch_norm and stack:
                a = dict(zip(("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
                             args)) | kwargs  # fmt: skip
                return handler(stack[-1], a["input"], a.get("weight"), a.get("bias"), a.get("eps", 1e-5))
            return func(*args, **kwargs)

    hooks = [register_module_forward_pre_hook(pre), register_module_forward_hook(post, always_call=True)]
    try:
        with Mode():
            yield
    finally:
        for h in hooks:
            h.remove()


def _call(handler, path: str, bn: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    return handler(path, x, bn.weight, bn.bias, bn.eps)


def measure(
    model: nn.Module,
    inputs: Sequence[Any],
    *,
    seed: int = 0,
    sources: dict[str, list[str]] | None = None,
    check_eval: bool = False,
    batch_reason: str = "given",
    progress: Any = None,
):
    """Run the four passes on ``model`` and ``inputs`` (already on one device); the model is restored.

    ``check_eval`` adds a fifth pass: inference again with another seed, compared with pass C
    (a dropout left active at inference makes them differ). BatchNorms with trained running
    statistics add one more: the model's own inference, whose BatchNorm inputs are compared with
    those statistics.
    """
    layers = batchnorms(model)
    trained = [(path, bn) for path, bn in layers if has_trained_stats(bn)]
    device = _device_of(model, inputs)
    # The first tensor's rows, nested in a dict or list too.
    batch = next((x.shape[0] for x in tree_leaves(list(inputs)) if isinstance(x, torch.Tensor) and x.dim() > 0), 1)
    notes: list[str] = []
    total = passes(check_eval, bool(trained))
    done = iter(range(1, total + 1))

    def step() -> None:
        if progress is not None:
            progress(next(done), total)

    start = time.perf_counter()
    with _restored(model), torch.no_grad(), preserved_rng(devices=[device]):
        moments_a = _batch_stats_pass(model, inputs, layers, train=True, seed=seed)
        step()
        moments_b = _batch_stats_pass(model, inputs, layers, train=False, seed=seed)
        step()
        stats_a = {p: m.mean_var() for p, m in moments_a.items() if m.count}
        stats_b = {p: m.mean_var() for p, m in moments_b.items() if m.count}
        running = {}
        if trained:
            running = _eval_pass(model, inputs, layers, seed)
            step()
        out_a = _running_stats_pass(model, inputs, layers, moments_a, seed)
        step()
        out_b = _running_stats_pass(model, inputs, layers, moments_b, seed)
        step()
        difference = None
        if check_eval:
            again = _running_stats_pass(model, inputs, layers, moments_a, seed + 1)
            step()
            difference = _max_difference(out_a, again)
            if not math.isfinite(difference):
                difference = None
                notes.append("the eval-mode repeat could not be compared: non-finite outputs")
    seconds = time.perf_counter() - start
    drift = _drift(out_a, out_b)
    if drift is None:
        notes.append(
            "output drift not measurable: the passes with transplanted running statistics overflow "
            "(non-finite outputs; common for deep networks with random weights), while the model's own "
            "training and inference passes stay finite"
        )
    shifts = []
    for path, bn in layers:
        if path in stats_a and path in stats_b:
            samples = moments_a[path].count
            shift = _shift(path, stats_a[path], stats_b[path], samples, (sources or {}).get(path, []))
            if path in running and running[path].count:
                shift = _with_running(shift, bn, running[path])
            shifts.append(shift)
    shifts.sort(key=lambda s: (-abs(math.log(s.ratio_mean)), -abs(math.log(s.worst_ratio)), s.module))
    return ProbeResult(str(device), batch, seed, seconds, drift, shifts, difference, batch_reason, notes)


def has_trained_stats(bn: _BatchNorm) -> bool:
    """Running statistics that training has updated: a batch counter above 0, or values off their defaults."""
    tracked = getattr(bn, "num_batches_tracked", None)
    if tracked is not None and int(tracked) > 0:
        return True
    return bool((bn.running_mean != 0).any() or (bn.running_var != 1).any())


def recording_eval_handler(layers, moments: dict[str, _Moments]):
    """A BatchNorm intercept that records what each layer is fed, then normalises as inference does
    (with its running statistics): the eval pass of the probe and of ``recalibrate`` both use it."""
    by_path = dict(layers)

    def handler(path, x, weight, bias, eps):
        _, mean, invstd = torch.native_batch_norm(x, None, None, None, None, True, 0.0, eps)
        moments[path].add(x, mean, invstd, eps)
        bn = by_path[path]
        return F.batch_norm(x, bn.running_mean, bn.running_var, weight, bias, False, 0.0, eps)

    return handler


def _eval_pass(model, inputs, layers, seed: int) -> dict[str, _Moments]:
    """The model's own inference (running statistics), recording what every BatchNorm is fed."""
    moments = {path: _Moments() for path, _ in layers}
    handler = recording_eval_handler(layers, moments)
    model.eval()
    with _intercept(layers, handler):
        _run(model, inputs, seed)
    for path, m in moments.items():
        if m.count and not (torch.isfinite(m.total).all() and torch.isfinite(m.squares).all()):
            raise ProbeError(f"non-finite values reach BatchNorm {path} in the model's own eval-mode forward")
    return moments


def _with_running(shift: LayerShift, bn: _BatchNorm, fed: _Moments) -> LayerShift:
    """running_var / var(eval input) per channel, and the running mean's gap in eval standard deviations."""
    mean, var = fed.mean_var()
    running_var, running_mean = bn.running_var.double(), bn.running_mean.double()
    valid = var > 0
    if not valid.any():
        return shift
    ratio = running_var[valid] / var[valid]
    gap = (running_mean[valid] - mean[valid]).abs() / var[valid].sqrt()
    return dataclasses.replace(
        shift,
        running_ratio_mean=float(ratio.mean()),
        running_ratio_min=float(ratio.min()),
        running_ratio_max=float(ratio.max()),
        running_mean_gap=float(gap.mean()),
    )


def _batch_stats_pass(model, inputs, layers, *, train: bool, seed: int) -> dict[str, _Moments]:
    moments = {path: _Moments() for path, _ in layers}

    def handler(path, x, weight, bias, eps):
        out, mean, invstd = torch.native_batch_norm(x, weight, bias, None, None, True, 0.0, eps)
        moments[path].add(x, mean, invstd, eps)
        return out

    model.train(train)
    with _intercept(layers, handler):
        _run(model, inputs, seed)
    for path, m in moments.items():
        if m.count and not (torch.isfinite(m.total).all() and torch.isfinite(m.squares).all()):
            raise ProbeError(f"non-finite values reach BatchNorm {path} in the {'training' if train else 'eval'} pass")
    return moments


def _running_stats_pass(model, inputs, layers, moments: dict[str, _Moments], seed: int) -> Any:
    """Inference with running statistics set from one pass (unbiased variance, as BatchNorm learns it)."""
    stats = {}
    for path, bn in layers:
        m = moments[path]
        if m.count:
            mean, var = m.mean_var()
            var = var * m.count / max(m.count - 1, 1)
            dtype = bn.running_mean.dtype
            stats[path] = (mean.to(dtype), var.to(dtype))

    running = {path: (bn.running_mean, bn.running_var) for path, bn in layers}

    def handler(path, x, weight, bias, eps):
        mean, var = stats.get(path, running[path])
        return F.batch_norm(x, mean, var, weight, bias, False, 0.0, eps)

    model.eval()
    with _intercept(layers, handler):
        return _run(model, inputs, seed)


def _run(model: nn.Module, inputs: Sequence[Any], seed: int) -> Any:
    seed_generators(seed, [_device_of(model, inputs)])  # the same dropout masks on every run
    try:
        return model(*inputs)
    except torch.cuda.OutOfMemoryError as exc:
        raise ProbeError(f"out of memory: {str(exc).splitlines()[0]}") from None
    except ProbeError:
        raise
    except Exception as exc:
        from ..errors import describe_exception

        if "out of memory" in str(exc).lower():
            raise ProbeError(f"out of memory: {describe_exception(exc)}") from None
        raise ProbeError(f"the forward pass failed: {describe_exception(exc)}") from None


def _shift(path: str, a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor], samples: int,
           sources: list[str]) -> LayerShift:  # fmt: skip
    (mean_a, var_a), (mean_b, var_b) = a, b
    same = var_a == var_b  # covers channels that are constant in both passes
    ratio = torch.where(same, torch.ones_like(var_a), var_b / var_a.clamp_min(1e-300))
    valid = same | (var_a > 0)
    ratio = ratio[valid]
    if ratio.numel() == 0:
        ratio = torch.ones(1, dtype=torch.float64)
    std_a = var_a.sqrt()
    shift = torch.where(mean_a == mean_b, torch.zeros_like(mean_a), (mean_b - mean_a).abs() / std_a.clamp_min(1e-300))
    shift = shift[valid] if valid.any() else torch.zeros(1, dtype=torch.float64)
    log_distance = ratio.log().abs()
    worst = int(torch.nonzero(valid).flatten()[int(log_distance.argmax())]) if valid.any() else 0
    return LayerShift(
        module=path,
        ratio_mean=float(ratio.mean()),
        ratio_min=float(ratio.min()),
        ratio_max=float(ratio.max()),
        worst_channel=worst,
        mean_shift=float(shift.mean()),
        channels=int(var_a.numel()),
        samples=samples,
        sources=list(sources),
    )


def _max_difference(a: Any, b: Any) -> float:
    pairs = zip(tree_leaves(a), tree_leaves(b))
    diffs = [float((x.double() - y.double()).abs().max()) for x, y in pairs
             if isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel()]  # fmt: skip
    return max(diffs, default=0.0)


def _drift(a: Any, b: Any) -> float | None:
    """Relative L2 difference of two outputs; None when either holds non-finite values."""
    xs = [
        t.detach().double().flatten() for t in tree_leaves(a) if isinstance(t, torch.Tensor) and t.is_floating_point()
    ]
    ys = [
        t.detach().double().flatten() for t in tree_leaves(b) if isinstance(t, torch.Tensor) and t.is_floating_point()
    ]
    if not xs or len(xs) != len(ys):
        return 0.0
    x, y = torch.cat(xs), torch.cat(ys)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return None
    norm = float(y.norm())
    diff = float((x - y).norm())
    return diff / norm if norm > 0 else (0.0 if diff == 0 else math.inf)


def passes(check_eval: bool, trained: bool) -> int:
    """Forward passes the probe runs: A, B, C, D, plus the eval repeat (NL006) and the trained-stats pass."""
    return 4 + int(check_eval) + int(trained)


def _device_of(model: nn.Module, inputs: Sequence[Any]) -> torch.device:
    for x in tree_leaves(list(inputs)):
        if isinstance(x, torch.Tensor):
            return x.device
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


# -- the API -----------------------------------------------------------------------------------


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``: CUDA when available, else the CPU."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ProbeError(f"--device {device}: CUDA is not available on this machine (use --device cpu or auto)")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ProbeError(f"--device {device}: there are {torch.cuda.device_count()} CUDA devices")
    return resolved


def default_batch_size(shapes: Sequence[tuple[int, ...]]) -> int:
    """32 for spatial inputs (images, sequences for convolutions); 256 for flat feature vectors.

    BatchNorm statistics are averaged over N*H*W values per channel: 32 images already give tens
    of thousands, enough for a ratio precise to about 1%, while ResNet-50's four passes stay a few
    seconds on a laptop CPU. After a Linear layer a BatchNorm sees only N values per channel, so
    flat inputs (which cost almost nothing) get 256.
    """
    return 32 if any(len(s) >= 3 for s in shapes) else 256


def probe(
    model: nn.Module,
    inputs: Any = None,
    *,
    device: str | torch.device | None = "auto",
    batch_size: int | None = None,
    seed: int = 0,
) -> ProbeResult:
    """Measure the variance shift at every BatchNorm of ``model`` (never changed).

    ``inputs``: a tensor or a tuple of positional inputs (a real batch, used as it is); None to
    infer an input as ``netlint check`` does and draw a random batch of ``batch_size``.
    """
    from ..graph.queries import dropout_sources
    from ..graph.static import static_graph

    target = resolve_device(device)
    graph, spec = static_graph(model, inputs)
    sources = {bn: sorted({n.module for n in nodes}) for bn, nodes in dropout_sources(graph).items()}
    real_inputs = spec.real(target, seed=seed, batch_size=batch_size)
    with on_device(model, target) as runnable:
        return measure(runnable, real_inputs, seed=seed, sources=sources)


@contextlib.contextmanager
def on_device(model: nn.Module, device: torch.device) -> Iterator[nn.Module]:
    """The model itself when it already lives on ``device``, else a copy moved there."""
    current = next((p.device for p in model.parameters()), device)
    if current == device or (current.type == device.type == "cuda" and device.index is None):
        yield model
        return
    from ..load.copying import copy_module

    copied = copy_module(model).to(device)
    try:
        yield copied
    finally:
        del copied
        if device.type == "cuda":
            torch.cuda.empty_cache()

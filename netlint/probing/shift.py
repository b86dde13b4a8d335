"""The dynamic probe: measure the variance shift at every BatchNorm on a real batch.

Four forward passes of one batch, under ``torch.no_grad``:

A. training behaviour (``model.train()``: dropout acts) and B. inference behaviour (``eval()``),
   with every BatchNorm normalising with *batch* statistics in both, so that untrained running
   statistics do not matter and nothing is updated. At each BatchNorm's input, per channel, the
   variance in B divided by the variance in A is the variance-shift ratio (1.0: no shift).
C./D. inference with every BatchNorm's running statistics set from A (what training would
   learn) and from B (what inference sees); their relative L2 difference is the output drift.

BatchNorm layers are intercepted by a temporary instance-level ``forward`` (no per-op hooks, so the
probe costs about what its four forward passes cost). In A and B each call's input is reduced per
sample and channel (sums of its centred values and of their squares over the spatial positions)
into at most ``GROUPS`` groups of samples, in float64: never by keeping activations. The groups give
the exact per-channel statistics and, resampled with replacement (a bootstrap, seeded), the 95 %
interval of each layer's ratio.
Afterwards every parameter, buffer, ``training`` flag and random-number generator is exactly as
before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time
from collections.abc import Collection, Iterator, Sequence
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

SHIFT_WINDOW = (0.9, 1.1)  # the neutral band: a ratio whose 95 % interval lies outside it is a shift
GROUPS = 256  # groups of samples kept per BatchNorm and pass: the bootstrap resamples these
MIN_GROUPS = 8  # fewer independent samples give no trustworthy interval
RESAMPLES = 200  # bootstrap replicates (seeded: the same interval on every run)
NEAR_ZERO = 1e-10  # a channel variance up to this fraction of the layer's largest in its mode is ~0: never divided by
SETTLE_LIMIT = 1 << 16  # a batch beyond this is no practical advice
_MISSING = object()
VERDICTS = ("shift", "neutral", "inconclusive", "not measurable")  # LayerShift.verdict, see classify()


class ProbeError(Exception):
    """The probe could not measure (forward error, out of memory, non-finite values)."""


class ModelNotFinite(ProbeError):
    """The model's own training- or evaluation-mode forward produces NaN or Inf: an error, not a note."""


@dataclass
class LayerShift:
    """What one BatchNorm saw: the variance-shift ratio per channel, summarised, with its 95 % interval.

    ``ratio_*``, ``worst_channel`` and ``mean_shift`` are None when no channel could be measured
    (every channel's variance ~0 in one mode): then ``verdict`` is "not measurable".
    """

    module: str
    ratio_mean: float | None  # geometric mean over the measured channels of var(B) / var(A)
    ratio_min: float | None
    ratio_max: float | None
    worst_channel: int | None  # the channel whose ratio is furthest from 1
    mean_shift: float | None  # mean over channels of |mean(B) - mean(A)| / std(A)
    channels: int
    samples: int  # values per channel in one pass (batch x spatial positions x calls)
    sources: list[str] = field(default_factory=list)  # upstream dropout sites (from the static graph)
    # Trained running statistics against what evaluation mode feeds the layer (None: untrained stats).
    running_ratio_mean: float | None = None  # mean over channels of running_var / var(eval input)
    running_ratio_min: float | None = None
    running_ratio_max: float | None = None
    running_mean_gap: float | None = None  # mean over channels of |running_mean - mean(eval)| / std(eval)
    ratio_low: float | None = None  # the 95 % interval of ratio_mean (a bootstrap over the batch's samples)
    ratio_high: float | None = None
    excluded_channels: int = 0  # channels whose variance is ~0 in training or inference mode
    verdict: str = ""  # "shift" | "neutral" | "inconclusive" | "not measurable" (derived when empty)
    order: int = 0  # position of the BatchNorm's first call in the forward (0-based)
    # An upstream random decision is drawn once for the whole batch (a block skipped in this step): the
    # probe sees one draw, which no resampling of the samples and no batch size can judge: no interval.
    drawn_once: bool = False

    def __post_init__(self) -> None:
        if not self.verdict:
            self.verdict = classify(self.ratio_mean, self.ratio_low, self.ratio_high)

    @property
    def measurable(self) -> bool:
        return self.ratio_mean is not None

    @property
    def worst_ratio(self) -> float | None:
        if self.ratio_min is None or self.ratio_max is None:
            return None
        return self.ratio_min if _distance(self.ratio_min) >= _distance(self.ratio_max) else self.ratio_max

    @property
    def precise(self) -> bool:
        """Whether the measurement settles the question (its interval lies inside or outside the band)."""
        return self.verdict in ("shift", "neutral")

    @property
    def shifted(self) -> bool:
        """A shift beyond the sampling noise: the whole 95 % interval lies outside ``SHIFT_WINDOW``."""
        return self.verdict == "shift"

    @property
    def exact(self) -> bool:
        """Bitwise-identical statistics in both modes (nothing upstream drops): exactly 1."""
        return self.ratio_min == self.ratio_max == 1.0 and self.mean_shift == 0.0

    def settling_batch(self, batch: int) -> int | None:
        """For an inconclusive ratio: about what batch would make its interval clear the band's edge.

        The interval narrows as 1/sqrt(batch). Without an interval (fewer than ``MIN_GROUPS``
        samples), the batch that gives one; None when no practical batch would (a ratio on the edge).
        """
        if self.verdict != "inconclusive" or self.ratio_mean is None or self.drawn_once:
            return None
        if self.ratio_low is None or self.ratio_high is None:
            return _power_of_two_above(max(MIN_GROUPS, 2 * batch))
        factor = 1.0
        for edge in SHIFT_WINDOW:
            if not self.ratio_low < edge < self.ratio_high:
                continue
            half = self.ratio_high - self.ratio_mean if self.ratio_mean < edge else self.ratio_mean - self.ratio_low
            distance = abs(edge - self.ratio_mean)
            if distance <= 0:
                return None
            factor = max(factor, (half / distance) ** 2)
        needed = _power_of_two_above(math.ceil(batch * factor * 1.2))  # 1.2: a margin over the 1/sqrt rule
        return needed if needed <= SETTLE_LIMIT else None

    def describe(self) -> str:
        """``0.46x (95 % interval 0.44-0.48)``, ``0.93x (no interval)`` or ``not measurable``."""
        if self.ratio_mean is None:
            return "not measurable"
        if self.ratio_low is None or self.ratio_high is None:
            return f"{self.ratio_mean:.2f}x (no interval)"
        return f"{self.ratio_mean:.2f}x (95 % interval {self.ratio_low:.2f}-{self.ratio_high:.2f})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "ratio_mean": _maybe(self.ratio_mean),
            "ratio_low": _maybe(self.ratio_low),
            "ratio_high": _maybe(self.ratio_high),
            "verdict": self.verdict,
            "ratio_min": _maybe(self.ratio_min),
            "ratio_max": _maybe(self.ratio_max),
            "worst_channel": self.worst_channel,
            "mean_shift": _maybe(self.mean_shift),
            "channels": self.channels,
            "excluded_channels": self.excluded_channels,
            "samples": self.samples,
            "order": self.order,
            "drawn_once": self.drawn_once,
            "sources": list(self.sources),
            "running_ratio_mean": _maybe(self.running_ratio_mean),
            "running_ratio_min": _maybe(self.running_ratio_min),
            "running_ratio_max": _maybe(self.running_ratio_max),
            "running_mean_gap": _maybe(self.running_mean_gap),
        }


def classify(ratio: float | None, low: float | None, high: float | None) -> str:
    """The verdict on a ratio and its 95 % interval against the neutral band ``SHIFT_WINDOW``."""
    if ratio is None or not math.isfinite(ratio):
        return "not measurable"
    if low is None or high is None:
        return "inconclusive"
    if high < SHIFT_WINDOW[0] or low > SHIFT_WINDOW[1]:
        return "shift"
    if SHIFT_WINDOW[0] <= low and high <= SHIFT_WINDOW[1]:
        return "neutral"
    return "inconclusive"


def _distance(ratio: float) -> float:
    """How far a ratio is from 1, symmetric in log space (0.5x is as far as 2x)."""
    return abs(math.log(ratio)) if ratio > 0 else math.inf


def _power_of_two_above(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(max(n, 1))))


@dataclass
class ProbeResult:
    device: str
    batch_size: int
    seed: int
    seconds: float
    output_drift: float | None  # relative L2 change of the eval output: running stats from A vs from B
    layers: list[LayerShift]  # sorted by magnitude, largest shift first; not measurable ones last
    eval_difference: float | None = None  # max |difference| of two eval forwards (None: not checked)
    batch_reason: str = "given"  # why this batch: planned from the model's cost, --batch-size, a real batch, memory
    notes: list[str] = field(default_factory=list)  # what could not be measured, and why

    @property
    def trained(self) -> bool:
        """Whether the running statistics were compared with evaluation mode (trained statistics)."""
        return any(x.running_ratio_mean is not None for x in self.layers)

    def layer(self, module: str) -> LayerShift | None:
        return next((x for x in self.layers if x.module == module), None)

    def settling_batch(self) -> int | None:
        """The batch that would settle every inconclusive layer that some batch can settle (None: none)."""
        return max((b for x in self.layers if (b := x.settling_batch(self.batch_size))), default=None)

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


def _maybe(x: float | None) -> float | None:
    """Six significant digits; None for what was not measured or is not a finite number (JSON has no inf)."""
    return float(f"{x:.6g}") if x is not None and math.isfinite(x) else None


# -- measuring ---------------------------------------------------------------------------------


class _Moments:
    """Per-channel float64 statistics of a BatchNorm's input, over all its calls.

    ``add`` keeps each call's batch statistics as BatchNorm computed them (the eval-mode passes).
    ``add_samples`` also reduces the input per sample: deviations from the first call's batch mean
    (so that a large mean cancels nothing) and their squares, summed over its spatial positions and
    into at most ``GROUPS`` groups of consecutive samples. The groups give the exact pooled statistics,
    a channel of zeros a variance of exactly 0, and the bootstrap its resampling units.
    """

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None
        self.squares: torch.Tensor | None = None
        self.count = 0
        self.center: torch.Tensor | None = None  # (C,) the first call's batch mean
        self.weights: torch.Tensor | None = None  # (G,) values per channel in each group
        self.first: torch.Tensor | None = None  # (G, C) sums of x - center
        self.second: torch.Tensor | None = None  # (G, C) sums of (x - center)^2

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

    def add_samples(self, x: torch.Tensor, mean: torch.Tensor) -> None:
        """Add one call's input per sample (``mean``: its batch mean, the reference of the first call).

        Sums of deviations and of squared deviations over each sample's positions: two cheap reductions
        of the centred input (a variance per sample would cost as much as the BatchNorm again).
        """
        rows, channels = x.shape[0], x.shape[1]
        if rows == 0:
            return
        if self.center is None:
            groups = min(rows, GROUPS)
            self.center = mean.detach().double().reshape(-1).clone()
            self.weights = torch.zeros(groups, dtype=torch.float64, device=x.device)
            self.first = torch.zeros(groups, channels, dtype=torch.float64, device=x.device)
            self.second = torch.zeros_like(self.first)
        assert self.weights is not None and self.first is not None and self.second is not None
        values = x if x.dtype in (torch.float32, torch.float64) else x.float()
        centered = values - self.center.to(values.dtype).view(1, channels, *([1] * (x.dim() - 2)))
        per = math.prod(x.shape[2:])
        if x.dim() > 2:
            spatial = tuple(range(2, x.dim()))
            first = centered.sum(spatial).double()
            second = torch.linalg.vector_norm(centered, dim=spatial).double().square()
        else:  # (N, C): one value per sample and channel
            first = centered.double()
            second = first.square()
        groups = self.weights.shape[0]
        if rows == groups:
            self.first += first
            self.second += second
            self.weights += per
        elif rows % groups == 0:  # consecutive samples share a group
            self.first += first.view(groups, -1, channels).sum(1)
            self.second += second.view(groups, -1, channels).sum(1)
            self.weights += per * (rows // groups)
        else:
            index = torch.arange(rows, device=x.device) * groups // rows
            self.first.index_add_(0, index, first)
            self.second.index_add_(0, index, second)
            self.weights += torch.bincount(index, minlength=groups) * per
        self.count += rows * per

    def mean_var(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.weights is not None:
            assert self.center is not None and self.first is not None and self.second is not None
            count = self.weights.sum()
            deviation = self.first.sum(0) / count
            return self.center + deviation, (self.second.sum(0) / count - deviation * deviation).clamp_min(0.0)
        assert self.total is not None and self.squares is not None
        mean = self.total / self.count
        return mean, (self.squares / self.count - mean * mean).clamp_min(0.0)

    def finite(self) -> bool:
        sums = (self.first, self.second) if self.weights is not None else (self.total, self.squares)
        return all(s is None or bool(torch.isfinite(s).all()) for s in sums)

    def resampled_variances(self, weights: torch.Tensor, channels: torch.Tensor | None) -> torch.Tensor:
        """(R, C') variances of the ``channels`` (None: all) for each row of group ``weights`` (R, G): one
        bootstrap draw per row."""
        assert self.weights is not None and self.first is not None and self.second is not None
        first, second = (
            (self.first, self.second) if channels is None else (self.first[:, channels], self.second[:, channels])
        )
        count = (weights @ self.weights).clamp_min_(1.0)[:, None]
        deviation = (weights @ first).div_(count)
        return (weights @ second).div_(count).addcmul_(deviation, deviation, value=-1.0).clamp_min_(0.0)


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
    drawn_once: Collection[str] = (),
):
    """Run the four passes on ``model`` and ``inputs`` (already on one device); the model is restored.

    ``check_eval`` adds a fifth pass: inference again with another seed, compared with pass C
    (a dropout left active at inference makes them differ). BatchNorms with trained running
    statistics add one more: the model's own inference, whose BatchNorm inputs are compared with
    those statistics. NaN or Inf in the model's own training- or inference-mode forward (at a
    BatchNorm's input or in its output) raises ``ModelNotFinite``. ``drawn_once``: the modules that
    take a random decision once per forward (``graph.queries.random_decisions``); a BatchNorm they
    reach gets no interval.
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
        moments_a, order = _batch_stats_pass(model, inputs, layers, train=True, seed=seed)
        step()
        moments_b, _ = _batch_stats_pass(model, inputs, layers, train=False, seed=seed)
        step()
        running = {}
        if trained:
            running = _eval_pass(model, inputs, layers, seed)
            step()
        channels = {
            p: _channels(moments_a[p], moments_b[p]) for p, _ in layers if moments_a[p].count and moments_b[p].count
        }
        learned_b = _learned(layers, moments_b)
        learned_a = _unmeasured_from(_learned(layers, moments_a), learned_b, {p: c[1] for p, c in channels.items()})
        out_a = _running_stats_pass(model, inputs, layers, learned_a, seed)
        step()
        out_b = _running_stats_pass(model, inputs, layers, learned_b, seed)
        step()
        difference = None
        if check_eval:
            again = _running_stats_pass(model, inputs, layers, learned_a, seed + 1)
            step()
            difference = _max_difference(out_a, again)
            if not math.isfinite(difference):
                difference = None
                notes.append("the eval-mode repeat could not be compared: non-finite outputs")
        shifts = []
        for path, bn in layers:
            if path in channels:
                upstream = (sources or {}).get(path, [])
                shift = _shift(path, moments_a[path], moments_b[path], channels[path], upstream, seed,
                               order.index(path), once=bool(set(upstream) & set(drawn_once)))  # fmt: skip
                if path in running and running[path].count:
                    shift = _with_running(shift, bn, running[path])
                shifts.append(shift)
    seconds = time.perf_counter() - start
    drift, why = _drift(out_a, out_b)
    if drift is None:
        notes.append(f"output drift not measurable: {why}")
    excluded = [x for x in shifts if x.excluded_channels]
    if excluded:
        shown = ", ".join(f"{x.excluded_channels} of {x.channels} at {x.module}" for x in excluded[:3])
        more = f" and {len(excluded) - 3} more layers" if len(excluded) > 3 else ""
        notes.append(
            f"channels whose variance is ~0 in training or inference mode are left out of the ratios, never divided "
            f"by: {shown}{more} (a channel dropped in every sample of the batch, or constant)"
        )
    shifts.sort(key=_magnitude)
    return ProbeResult(str(device), batch, seed, seconds, drift, shifts, difference, batch_reason, notes)


def _magnitude(shift: LayerShift) -> tuple:
    """Largest shift first (mean ratio, then worst channel); what could not be measured last, in call order."""
    if shift.ratio_mean is None or shift.worst_ratio is None:
        return (1, 0.0, 0.0, shift.order, shift.module)
    return (0, -_distance(shift.ratio_mean), -_distance(shift.worst_ratio), shift.order, shift.module)


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
        out = _run(model, inputs, seed)
    _check_finite(moments, out, "inference mode (with its running statistics)")
    return moments


def _check_finite(moments: dict[str, _Moments], out: Any, mode: str) -> None:
    """NaN or Inf at a BatchNorm's input or in the output of one of the model's own forwards: its error."""
    for path, m in moments.items():
        if m.count and not m.finite():
            raise ModelNotFinite(
                f"non-finite values (NaN or Inf) reach BatchNorm {path} in the model's own forward in {mode}"
            )
    leaves = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.is_floating_point()]
    bad = [i for i, t in enumerate(leaves) if not bool(torch.isfinite(t).all())]
    if bad:
        which = "its output" if len(leaves) == 1 else f"output tensor {bad[0]} of {len(leaves)}"
        raise ModelNotFinite(f"the model's own forward in {mode} returns non-finite values (NaN or Inf) in {which}")


def _with_running(shift: LayerShift, bn: _BatchNorm, fed: _Moments) -> LayerShift:
    """running_var / var(eval input) per channel, and the running mean's gap in eval standard deviations."""
    mean, var = fed.mean_var()
    running_var, running_mean = bn.running_var.double(), bn.running_mean.double()
    valid = var > NEAR_ZERO * float(var.max())
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


def _batch_stats_pass(model, inputs, layers, *, train: bool, seed: int) -> tuple[dict[str, _Moments], list[str]]:
    """Pass A (``train``) or B: every BatchNorm on batch statistics, its input reduced per sample; and
    the BatchNorms in the order of their first call."""
    moments = {path: _Moments() for path, _ in layers}
    order: list[str] = []

    def handler(path, x, weight, bias, eps):
        out, mean, _ = torch.native_batch_norm(x, weight, bias, None, None, True, 0.0, eps)
        if not moments[path].count:
            order.append(path)
        moments[path].add_samples(x, mean)
        return out

    model.train(train)
    with _intercept(layers, handler):
        out = _run(model, inputs, seed)
    _check_finite(moments, out, "training mode" if train else "inference mode")
    return moments, order


def _learned(layers, moments: dict[str, _Moments]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The running statistics one pass would teach each BatchNorm (unbiased variance, as BatchNorm learns it)."""
    stats = {}
    for path, _ in layers:
        m = moments[path]
        if m.count:
            mean, var = m.mean_var()
            stats[path] = (mean, var * m.count / max(m.count - 1, 1))
    return stats


def _unmeasured_from(stats: dict, other: dict, channels: dict[str, torch.Tensor]) -> dict:
    """``stats`` with the channels outside ``channels`` (path -> measurable mask) taken from ``other``:
    a channel whose variance is ~0 in one mode drives no output drift (its 1/sqrt(eps) would)."""
    out = dict(stats)
    for path, mask in channels.items():
        if path in stats and path in other and not bool(mask.all()):
            (mean, var), (mean_o, var_o) = stats[path], other[path]
            out[path] = (torch.where(mask, mean, mean_o), torch.where(mask, var, var_o))
    return out


def _running_stats_pass(model, inputs, layers, stats: dict[str, tuple[torch.Tensor, torch.Tensor]], seed: int) -> Any:
    """Inference with the BatchNorms' running statistics set from ``stats`` (the others keep theirs)."""
    running = {path: (bn.running_mean, bn.running_var) for path, bn in layers}
    dtypes = {path: bn.running_mean.dtype for path, bn in layers}
    stats = {path: (mean.to(dtypes[path]), var.to(dtypes[path])) for path, (mean, var) in stats.items()}

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


def _channels(a: _Moments, b: _Moments) -> tuple[torch.Tensor, torch.Tensor, tuple[float, float]]:
    """Which channels have identical statistics in both modes, which can be measured, and the ~0 threshold.

    A channel whose variance is ~0 in one mode (at most ``NEAR_ZERO`` of the layer's largest in that
    mode: dropped in every sample, or constant) cannot be; one with identical statistics measures
    exactly 1 without a division.
    """
    (mean_a, var_a), (mean_b, var_b) = a.mean_var(), b.mean_var()
    same = (var_a == var_b) & (mean_a == mean_b)
    tiny_a, tiny_b = NEAR_ZERO * float(var_a.max()), NEAR_ZERO * float(var_b.max())
    return same, same | ((var_a > tiny_a) & (var_b > tiny_b)), (tiny_a, tiny_b)


def _shift(path: str, a: _Moments, b: _Moments, channels, sources: list[str], seed: int, order: int,
           once: bool = False) -> LayerShift:  # fmt: skip
    """One BatchNorm's ratio var(B) / var(A) per measurable channel, summarised, with its 95 % interval.

    The layer's ratio is the geometric mean over channels (the mean of log ratios: 0.5x and 2x are
    equally far from 1, and one channel with a tiny training variance cannot dominate), corrected
    for its small-sample bias by the bootstrap when there is one.
    """
    (mean_a, var_a), (mean_b, var_b) = a.mean_var(), b.mean_var()
    same, valid, tiny = channels
    common = {"module": path, "channels": int(var_a.numel()), "samples": a.count, "sources": list(sources),
              "excluded_channels": int((~valid).sum()), "order": order, "drawn_once": once}  # fmt: skip
    if not valid.any():
        return LayerShift(ratio_mean=None, ratio_min=None, ratio_max=None, worst_channel=None, mean_shift=None,
                          verdict="not measurable", **common)  # fmt: skip
    one = torch.ones_like(var_a)
    ratio = torch.where(same, one, var_b / torch.where(same, one, var_a))[valid]
    moved = torch.where(same, torch.zeros_like(mean_a), (mean_b - mean_a).abs() / torch.where(same, one, var_a).sqrt())
    logs = ratio.log()
    worst = int(torch.nonzero(valid).flatten()[int(logs.abs().argmax())])
    center, low, high = float(logs.mean()), None, None
    if bool(same[valid].all()):
        low = high = 0.0
    elif not once:
        draws = _bootstrap(a, b, valid, same, tiny, seed)
        if draws is not None:  # the basic bootstrap: the draws' spread around the estimate, mirrored
            upper, lower = torch.quantile(draws, torch.tensor([0.975, 0.025], dtype=draws.dtype)).tolist()
            center, low, high = 2 * center - float(draws.mean()), 2 * center - upper, 2 * center - lower
    return LayerShift(
        ratio_mean=math.exp(center),
        ratio_min=float(ratio.min()),
        ratio_max=float(ratio.max()),
        worst_channel=worst,
        mean_shift=float(moved[valid].mean()),
        ratio_low=None if low is None else math.exp(low),
        ratio_high=None if high is None else math.exp(high),
        **common,
    )


def _bootstrap(a: _Moments, b: _Moments, valid, same, tiny: tuple[float, float], seed: int) -> torch.Tensor | None:
    """The mean log ratio of ``RESAMPLES`` bootstrap draws: the batch's groups of samples resampled with
    replacement, the same draw in both modes (a sample's two passes stay paired). None with fewer than
    ``MIN_GROUPS`` groups.

    Samples, not values, are the units: dropout masks and the data are independent between samples,
    while the positions of one feature map are not.
    """
    assert a.weights is not None and b.weights is not None
    groups = a.weights.shape[0]
    if groups != b.weights.shape[0] or groups < MIN_GROUPS:
        return None
    weights = _resampling(groups, seed).to(a.weights.device)
    channels = None if bool(valid.all()) else torch.nonzero(valid).flatten()
    var_a, var_b = a.resampled_variances(weights, channels), b.resampled_variances(weights, channels)
    kept = same if channels is None else same[channels]
    # A channel that one draw leaves empty (~0 variance) sits that draw out; identical channels are exactly 1.
    usable = (var_a > tiny[0]) & (var_b > tiny[1])
    logs = var_b.div_(var_a.clamp_min_(1e-300)).log_()
    if bool(kept.any()):
        logs[:, kept] = 0.0
        usable[:, kept] = True
    means = logs.mean(dim=1) if bool(usable.all()) else torch.where(usable, logs, torch.nan).nanmean(dim=1)
    means = means[torch.isfinite(means)].cpu()
    return means if means.numel() >= RESAMPLES // 2 else None


@functools.lru_cache(maxsize=8)
def _resampling(groups: int, seed: int) -> torch.Tensor:
    """(RESAMPLES, groups) counts of each group in each bootstrap draw, from a generator of its own."""
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(groups, (RESAMPLES, groups), generator=generator)
    counts = torch.zeros(RESAMPLES, groups, dtype=torch.float64)
    return counts.scatter_add_(1, picks, torch.ones_like(counts))


def _max_difference(a: Any, b: Any) -> float:
    pairs = zip(tree_leaves(a), tree_leaves(b))
    diffs = [float((x.double() - y.double()).abs().max()) for x, y in pairs
             if isinstance(x, torch.Tensor) and x.is_floating_point() and x.numel()]  # fmt: skip
    return max(diffs, default=0.0)


def _drift(a: Any, b: Any) -> tuple[float | None, str]:
    """Relative L2 difference of two outputs, or None and why it cannot be measured."""
    xs = [
        t.detach().double().flatten() for t in tree_leaves(a) if isinstance(t, torch.Tensor) and t.is_floating_point()
    ]
    ys = [
        t.detach().double().flatten() for t in tree_leaves(b) if isinstance(t, torch.Tensor) and t.is_floating_point()
    ]
    if not xs or len(xs) != len(ys):
        return None, "the forward returns no floating-point tensor"
    x, y = torch.cat(xs), torch.cat(ys)
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return None, (
            "the passes with transplanted running statistics overflow (non-finite outputs; common for deep "
            "networks with random weights), while the model's own training and inference passes stay finite"
        )
    norm, diff = float(y.norm()), float((x - y).norm())
    if norm > 0:
        return diff / norm, ""
    return (0.0, "") if diff == 0 else (None, "the output with inference statistics is all zeros")


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
    """``auto``: CUDA when available, else the CPU; a named device that this machine lacks is a ``ProbeError``."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    problem = device_problem(device)
    if problem:
        raise ProbeError(f"--device {device}: {problem}")
    return torch.device(device)


def device_problem(device: str | torch.device) -> str | None:
    """Why ``device`` cannot be used on this machine (None: it can).

    Asked without initialising CUDA (``torch.cuda.device_count`` counts through NVML): the parent
    process checks ``--device`` before it forks its workers, and a process that initialised CUDA
    cannot hand it to a forked child.
    """
    resolved = torch.device(device)
    if resolved.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0:
            return "CUDA is not available on this machine"
        if resolved.index is not None and resolved.index >= count:
            return f"this machine has {count} CUDA device{'s' if count > 1 else ''}"
    elif resolved.type == "mps" and not torch.backends.mps.is_available():
        return "MPS (the Apple GPU) is not available on this machine"
    return None


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

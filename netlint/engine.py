"""The check pipeline: targets -> models -> graph -> rules -> a Report (reporters render it)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import NetlintError, describe_exception
from .findings import Finding, Rule, Severity, run_rules
from .graph.ir import AnalysisPart, Graph


@dataclass
class Options:
    input_shapes: Sequence[Any] = ()  # TensorTemplate per positional input (from --input-shape)
    inputs: Any = None  # an InputSpec with real values (--input FILE.pt, or the API's inputs=)
    select: Sequence[str] | None = None  # rule codes or prefixes; None: the default rules
    ignore: Sequence[str] = ()
    extend_select: Sequence[str] = ()
    severity: dict[str, Severity] = field(default_factory=dict)  # per-rule severity overrides
    per_file_ignores: dict[str, Sequence[str]] = field(default_factory=dict)  # glob -> codes
    per_module_ignores: dict[str, Sequence[str]] = field(default_factory=dict)  # module-path glob -> codes
    config_root: str | None = None  # per-file globs are relative to it (the configuration's folder)
    model_inputs: dict[str, Sequence[Any]] = field(default_factory=dict)  # model key -> TensorTemplates
    fail_on: Severity = Severity.WARNING
    strict: bool = True  # an explicit file that yields no model is an error
    probe: bool | None = None  # None: when a static finding asks for it (an NL001/NL005/NL006 site)
    probe_budget: float = 10.0  # seconds the probe may take (0: no time or memory limit)
    weights: str | None = None  # a checkpoint for every model (--weights FILE.pt)
    model_weights: dict[str, str] = field(default_factory=dict)  # model key -> checkpoint (configuration)
    progress: str | None = None  # "bar" | "plain": show a long probe's passes on stderr (a terminal only)
    device: str = "auto"
    batch_size: int | None = None  # None: default_batch_size() of the input
    seed: int = 0


@dataclass
class ModelReport:
    name: str
    file: str | None
    inputs: str
    input_source: str
    parts: list[AnalysisPart]
    unused: tuple[str, ...]
    nodes: int
    findings: list[Finding]
    seconds: float
    graph: Graph | None = field(default=None, repr=False)
    probe: Any = None  # ProbeResult
    probe_error: NetlintError | None = None
    probe_note: str | None = None  # why the probe did not run ("not needed (...)", "skipped: ...", "failed: ...")

    def to_dict(self, timings: bool = False) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "inputs": self.inputs,
            "input_source": self.input_source,
            "analysis": [dataclasses.asdict(p) for p in self.parts],
            "unused": list(self.unused),
            "nodes": self.nodes,
            "findings": [f.to_dict() for f in self.findings],
            "probe": self.probe.to_dict(timings) if self.probe is not None else self._probe_skipped(),
        }

    def _probe_skipped(self) -> dict[str, str] | None:
        return {"skipped": self.probe_note} if self.probe_note else None


@dataclass
class Report:
    models: list[ModelReport] = field(default_factory=list)
    errors: list[NetlintError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0
    suppressed: int = 0  # findings hidden by a ``# netlint: ignore`` comment or a configured ignore
    rules: list[Rule] = field(default_factory=list)  # the rules that ran (reporters list them)
    fail_on: Severity = Severity.WARNING

    @property
    def findings(self) -> list[Finding]:
        return [f for m in self.models for f in m.findings]

    @property
    def probe(self) -> Any:
        """The probe result of a single-model report (as ``netlint.check(model)`` returns)."""
        probes = [m.probe for m in self.models if m.probe is not None]
        return probes[0] if len(self.models) == 1 and probes else None

    @property
    def ok(self) -> bool:
        """No bad input and no finding at or above the fail-on severity."""
        return self.exit_code() == 0

    def exit_code(self, fail_on: Severity | None = None) -> int:
        """2 for bad input, 1 for a finding at or above ``fail_on``, else 0."""
        if self.errors:
            return 2
        threshold = fail_on or self.fail_on
        return 1 if any(f.severity.rank >= threshold.rank for f in self.findings) else 0


def matches_code(code: str, name: str, patterns: Iterable[str]) -> bool:
    """A rule code matches a pattern that is its code, a prefix of it (``NL00``) or its name."""
    return any(code.startswith(p.upper()) or name == p.lower() for p in patterns)


def selected_rules(
    select: Sequence[str] | None = None, ignore: Sequence[str] = (), extend_select: Sequence[str] = ()
) -> list[Rule]:
    """Rules chosen by code prefix (``NL00``) or name; the default set when ``select`` is None."""
    from .rules import ALL_RULES

    chosen = [
        r for r in ALL_RULES
        if (r.default if select is None else matches_code(r.code, r.name, select))
        or matches_code(r.code, r.name, extend_select)
    ]  # fmt: skip
    return [r() for r in chosen if not matches_code(r.code, r.name, ignore)]


def check_targets(targets: Sequence[str], options: Options | None = None) -> Report:
    """Check every model of every target; bad input becomes an error entry, not an exception."""
    from .load import resolve

    options = options or Options()
    rules = selected_rules(options.select, options.ignore, options.extend_select)
    report = Report(rules=rules, fail_on=options.fail_on)
    whole_files: set[str] = set()  # files all of whose models were checked: their suppressions are judged
    for target in targets:
        try:
            loaded = resolve(target, strict=options.strict)
        except NetlintError as exc:
            report.errors.append(exc)
            report.files += target.endswith(".py")
            continue
        report.files += loaded.files
        report.notes.extend(loaded.notes)
        report.errors.extend(loaded.errors)
        whole_files.update(loaded.whole_files)
        for spec in loaded.models:
            try:
                model_report = check_spec(spec, options, rules)
                report.models.append(model_report)
                if model_report.probe_error is not None:
                    report.errors.append(model_report.probe_error)
            except NetlintError as exc:
                report.errors.append(exc)
            except Exception as exc:  # a bug in netlint: report it, check the other models
                if os.environ.get("NETLINT_DEBUG"):
                    raise
                message = f"netlint failed on this model (internal error): {describe_exception(exc)}."
                hint = "Please report it; set NETLINT_DEBUG=1 for the traceback."
                report.errors.append(NetlintError(spec.name, message, hint))
    from .policy import apply_policy

    apply_policy(report, options, whole_files)
    return report


def check_spec(spec, options: Options, rules: Sequence[Rule]) -> ModelReport:
    from .load import user_code
    from .source import relpath
    from .state import preserved_rng

    start = time.perf_counter()
    with preserved_rng(seed=0), user_code():
        graph, used = _graph(spec, options)
    findings = [dataclasses.replace(f, model=spec.name, file=relpath(f.file)) for f in run_rules(graph, rules)]
    report = ModelReport(
        name=spec.name,
        file=relpath(spec.file),
        inputs=used.describe(),
        input_source=used.source,
        parts=graph.parts,
        unused=graph.unused,
        nodes=len(graph.nodes),
        findings=findings,
        seconds=0.0,
        graph=graph,
    )
    state = _checkpoint(spec, options)
    if options.probe is not False:
        _decide_and_probe(report, spec, used, graph, options, rules, findings, state)
    report.seconds = time.perf_counter() - start
    return report


def _graph(spec, options: Options):
    from .graph.build import GraphFailure, build_graph
    from .source import module_sites

    model = spec.meta()
    sites = module_sites(spec.instance if spec.instance is not None else model, spec.sites)
    candidates = _input_candidates(model, spec, options)
    try:
        return build_graph(spec.name, model, candidates, sites, materialize=lambda: spec.real("cpu"))
    except GraphFailure as failure:
        raise _forward_error(spec.name, failure) from None


def _checkpoint(spec, options: Options):
    """The state dict of ``--weights`` (or the configuration's ``weights``), its keys checked against the model."""
    path = options.model_weights.get(spec.key) or options.weights
    if not path:
        return None
    from .checkpoint import CheckpointError, check_keys, read_state_dict

    try:
        state = read_state_dict(path)
        check_keys(spec.meta(), state, path)
    except CheckpointError as exc:
        raise NetlintError(spec.name, str(exc), "Pass the checkpoint saved from this model (its state_dict).") from None
    return state


def _decide_and_probe(report: ModelReport, spec, used, graph: Graph, options: Options, rules, findings, state) -> None:
    """Probe when forced or when a static site asks for it; a skip or failure is a note unless --probe was given."""
    from .probe_budget import ProbeSkipped, not_needed
    from .probe_shift import ProbeError, resolve_device

    forced = options.probe is True
    why_not = None if forced else not_needed(graph)
    if why_not:
        report.probe_note = f"not needed ({why_not})"
        return
    try:
        device = resolve_device(options.device)
    except ProbeError as exc:  # a bad --device is bad input, whoever asked for the probe
        report.probe_error = NetlintError(spec.name, f"the probe failed: {exc}.", "Use --device cpu or auto.")
        return
    try:
        report.probe = _probe(spec, used, graph, options, device, state)
    except ProbeSkipped as exc:
        report.probe_note = f"skipped: {exc}"
        if forced:
            report.probe_error = NetlintError(spec.name, f"the probe was skipped: {exc}.", "The static findings stand.")
    except ProbeError as exc:
        report.probe_note = f"failed: {exc}"
        if forced:
            report.probe_error = NetlintError(
                spec.name,
                f"the probe failed: {exc}.",
                "The static findings above stand; try --batch-size, --device cpu or --no-probe.",
            )
    else:
        by_code = {r.code: r for r in rules}
        report.findings = [by_code[f.code].with_probe(f, report.probe) if f.code in by_code else f for f in findings]


def _probe(spec, used, graph: Graph, options: Options, device, state=None):
    """Measure on a model netlint owns (built with real weights), or on the user's, then restored.

    With a budget, the batch is first cut to what half the available memory holds (estimated from
    the meta build, before any weight is allocated), then to what the time budget allows (from one
    timed forward at a small batch); a batch that cannot be cut that far skips the probe.
    """
    from . import probe_budget as plan
    from .graph.ir import DROPOUT_OPS
    from .graph.queries import active_at_inference, dropout_sources
    from .load import user_code
    from .probe_shift import batchnorms, default_batch_size, has_trained_stats, measure, on_device
    from .state import preserved_rng

    start = time.perf_counter()
    real_batch = any(getattr(x, "value", None) is not None for x in used.items)
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
    own = spec.instance is None or state is not None  # netlint builds (or copies) the model it measures
    if budget > 0:
        where = next((p.device for p in spec.instance.parameters()), device) if not own else device
        copies = own or not (where == device or (where.type == device.type == "cuda" and device.index is None))
        estimate = plan.estimate_memory(graph, spec.meta(), traced, copies_weights=copies)
        batch, why = plan.memory_plan(estimate, batch, smallest, fixed, device)
        reason = why or reason
    with user_code(), contextlib.ExitStack() as stack:
        if own:
            with preserved_rng(devices=[device]):
                model = _build_for_probe(spec, device)
            if state is not None:
                from .checkpoint import load_into

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
                seconds / rows, plan.passes(check_eval, trained), batch, smallest, fixed, left, budget
            )
            if chosen != batch:
                inputs = plan.small_inputs(inputs, batch, chosen)
            reason = why or reason
        from .probe_progress import PassProgress

        progress = PassProgress(spec.name, options.progress)
        try:
            stop = start + 2 * budget if budget > 0 else None
            with plan.deadline(stop, f"it ran past twice the --probe-budget of {budget:g} s and was stopped"):
                return measure(model, inputs, seed=options.seed, sources=sources, check_eval=check_eval,
                               batch_reason=reason, progress=progress)  # fmt: skip
        finally:
            progress.close()


def _build_for_probe(spec, device):
    """The model with real weights on ``device``; running out of memory there is the probe's failure, not a bug."""
    from .probe_shift import ProbeError

    try:
        return spec.real(device)
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if "out of memory" not in str(exc).lower():
            raise
        raise ProbeError(f"out of memory building the model on {device}: {str(exc).splitlines()[0]}") from None


def static_graph(model, inputs=None):
    """The graph of a model object and the input it was traced with (for the API's probe)."""
    from .inputs import from_values
    from .load import ModelSpec
    from .state import preserved_rng

    spec = ModelSpec(type(model).__name__, instance=model)
    options = Options(inputs=from_values(inputs, "inputs=") if inputs is not None else None)
    with preserved_rng(seed=0):
        graph, used = _graph(spec, options)
    return graph, used


def _input_candidates(model, spec, options: Options):
    from .inputs import InputSpec, example_inputs_from, inferred, with_embedding_dtype

    if options.inputs is not None:
        return [options.inputs]
    configured = options.model_inputs.get(spec.key)
    if configured and not options.input_shapes:
        templates = with_embedding_dtype(model, list(configured))
        return [InputSpec(tuple(templates), "models in the configuration")]
    if options.input_shapes:
        templates = with_embedding_dtype(model, list(options.input_shapes))
        return [InputSpec(tuple(templates), "--input-shape")]
    convention = example_inputs_from(model, spec.module, spec.name)
    if convention is not None:
        return [convention]
    candidates = inferred(model)
    if not candidates:
        raise NetlintError(
            spec.name,
            "cannot guess an example input: the model has no Conv, Linear, Embedding or RNN layer to infer it from.",
            "Pass --input-shape (e.g. --input-shape 2,3,224,224) or define example_inputs() in the model's file.",
        )
    return candidates


def _forward_error(name: str, failure) -> NetlintError:
    attempts = failure.attempts
    first_spec, first_error = attempts[0]
    tried = f" ({len(attempts)} input sizes tried, the first shown)" if len(attempts) > 1 else ""
    return NetlintError(
        name,
        f"the forward pass fails on the chosen input {first_spec.describe()} ({first_spec.source}){tried}: "
        f"{first_error}.",
        "Pass the right shape with --input-shape (once per positional input, e.g. --input-shape 2,3,224,224) "
        "or define example_inputs() in the model's file.",
    )

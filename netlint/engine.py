"""The check pipeline: targets -> models -> graph -> rules -> a Report (reporters render it)."""

from __future__ import annotations

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
    probe: bool | None = None  # None: when the model has an active dropout and a BatchNorm
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
            "probe": self.probe.to_dict(timings) if self.probe is not None else None,
        }


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
    from .graph.queries import has_probe_targets

    if options.probe or (options.probe is None and has_probe_targets(graph)):
        from .probe_shift import ProbeError

        try:
            report.probe = _probe(spec, used, graph, options)
        except ProbeError as exc:
            report.probe_error = NetlintError(
                spec.name,
                f"the probe failed: {exc}.",
                "The static findings above stand; try --batch-size, --device cpu or --no-probe.",
            )
        else:
            by_code = {r.code: r for r in rules}
            report.findings = [
                by_code[f.code].with_probe(f, report.probe) if f.code in by_code else f for f in findings
            ]
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


def _probe(spec, used, graph: Graph, options: Options):
    """Measure on a model netlint owns (built with real weights), or on the user's, then restored."""
    from .graph.ir import DROPOUT_OPS
    from .graph.queries import active_at_inference, dropout_sources
    from .load import user_code
    from .probe_shift import default_batch_size, measure, on_device, resolve_device
    from .state import preserved_rng

    device = resolve_device(options.device)
    batch = options.batch_size or default_batch_size(used.shapes)
    sources = {bn: sorted({n.module for n in nodes}) for bn, nodes in dropout_sources(graph).items()}
    check_eval = any(active_at_inference(n) for n in graph.ops(*DROPOUT_OPS))
    with user_code():
        inputs = used.real(device, seed=options.seed, batch_size=batch)
        if spec.instance is not None:
            with on_device(spec.instance, device) as model:
                return measure(model, inputs, seed=options.seed, sources=sources, check_eval=check_eval)
        with preserved_rng(devices=[device]):
            model = spec.real(device)
        return measure(model, inputs, seed=options.seed, sources=sources, check_eval=check_eval)


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

    given = None
    if options.inputs is not None:
        given = options.inputs
    elif (configured := options.model_inputs.get(spec.key)) and not options.input_shapes:
        given = InputSpec(tuple(with_embedding_dtype(model, list(configured))), "models in the configuration")
    elif options.input_shapes:
        given = InputSpec(tuple(with_embedding_dtype(model, list(options.input_shapes))), "--input-shape")
    else:
        given = example_inputs_from(model, spec.module, spec.name)
    if given is not None:
        _check_input_count(model, spec.name, given)
        return [given]
    candidates = inferred(model)
    if not candidates:
        raise NetlintError(
            spec.name,
            "cannot guess an example input: the model has no Conv, Linear, Embedding or RNN layer to infer it from.",
            "Pass --input-shape (e.g. --input-shape 2,3,224,224) or define example_inputs() in the model's file.",
        )
    return candidates


def _check_input_count(model, name: str, given) -> None:
    """More inputs than forward takes is an error, never silently dropped."""
    from .inputs import forward_arity

    names, _, most = forward_arity(model)
    if most is not None and len(given.items) > most:
        takes = f"{most} positional input{'s' if most != 1 else ''}" + (f" ({', '.join(names)})" if names else "")
        raise NetlintError(
            name,
            f"{len(given.items)} inputs were given ({given.source}) but {type(model).__name__}.forward takes {takes}.",
            "Give one --input-shape per positional input of forward (name=SHAPE options build one dict input).",
        )


def _forward_error(name: str, failure) -> NetlintError:
    from .graph.shapes import ShapeMismatch

    attempts = failure.attempts
    first_spec, first_error = attempts[0]
    if failure.arity:
        return NetlintError(
            name,
            f"forward cannot be called with the inputs {first_spec.describe()} ({first_spec.source}): {failure.arity}.",
            "Pass one --input-shape per positional input of forward (e.g. --input-shape 2,3,32,32 --input-shape 2) "
            "or define example_inputs() in the model's file.",
        )
    # The sizes guessed from one layer, all refused by the same later layer for its channels:
    # no input size can help, the model itself cannot run.
    family = [e for (spec, _), e in zip(attempts, failure.errors) if spec.source == first_spec.source]
    places = {getattr(e, "where", "") for e in family}
    same = all(isinstance(getattr(e, "original", e), ShapeMismatch) for e in family) and len(places) == 1
    if len(family) > 1 and same and not any(getattr(e, "original", e).any_size for e in family):
        return NetlintError(
            name,
            f"the model cannot run: {first_error} (the same at all {len(family)} input sizes tried, "
            f"{first_spec.source}).",
            "PyTorch raises the same error; make the layer's size match what reaches it.",
        )
    tried = f" ({len(attempts)} input sizes tried, the first shown)" if len(attempts) > 1 else ""
    return NetlintError(
        name,
        f"the forward pass fails on the chosen input {first_spec.describe()} ({first_spec.source}){tried}: "
        f"{first_error}.",
        "Pass the right shape with --input-shape (once per positional input, e.g. --input-shape 2,3,224,224) "
        "or define example_inputs() in the model's file.",
    )

"""The check pipeline: targets -> models -> graph -> rules -> a Report (reporters render it)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import NetlintError, describe_exception
from ..findings import Finding, Rule, Severity, run_rules
from ..graph.ir import AnalysisPart, Graph


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
    progress: str | None = None  # "bar" | "plain": show long work (many files, a probe) on stderr, a terminal only
    device: str = "auto"
    batch_size: int | None = None  # None: default_batch_size() of the input
    seed: int = 0
    isolate: bool = True  # user code runs in one worker process per target (netlint.run.worker)
    jobs: int | None = None  # workers at a time; None: one per CPU core
    timeout: float | None = 120.0  # seconds per target for import, build, analysis and probe
    debug: bool = False  # print the traceback of unexpected exceptions to stderr
    fresh_torch: bool | None = None  # whether this process ran no torch operation yet (None: guess)
    losses: frozenset[str] = frozenset()  # loss names the checked files use (NL013), filled by check_targets


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
    layer_sites: list = field(default_factory=list)  # ((file, line), fix.SiteLayer) pairs, for --fix

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
    baselined: int = 0  # findings hidden because the baseline (--baseline) records them
    rules: list[Rule] = field(default_factory=list)  # the rules that ran (reporters list them)
    fail_on: Severity = Severity.WARNING
    interrupted: bool = False  # Ctrl-C: some targets were not checked

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
    from ..rules import ALL_RULES

    chosen = [
        r for r in ALL_RULES
        if (r.default if select is None else matches_code(r.code, r.name, select))
        or matches_code(r.code, r.name, extend_select)
    ]  # fmt: skip
    return [r() for r in chosen if not matches_code(r.code, r.name, ignore)]


def check_targets(targets: Sequence[str], options: Options | None = None) -> Report:
    """Check every model of every target; bad input becomes an error entry, not an exception.

    With ``options.isolate`` (the default) user code runs only in worker processes, one per
    target (``netlint.run.worker``); the report is assembled here in target order, so its bytes do
    not depend on ``options.jobs``.
    """
    from ..load.losses import losses_in_sight, target_files

    options = options or Options()
    # NL013: the losses the checked files use, read from their syntax trees here, once, for every worker.
    options = dataclasses.replace(options, losses=options.losses | losses_in_sight(target_files(targets)))
    rules = selected_rules(options.select, options.ignore, options.extend_select)
    report = Report(rules=rules, fail_on=options.fail_on)
    if options.isolate:
        results = _isolated(targets, options, rules, report)
    else:
        results = [check_target(t, options, rules) for t in targets]
    whole_files: set[str] = set()  # files all of whose models were checked: their suppressions are judged
    for result in results:
        report.files += result.files
        report.notes.extend(n for n in result.notes if n not in report.notes)  # a note once per file
        report.errors.extend(result.errors)
        report.models.extend(result.models)
        whole_files.update(result.whole_files)
    from ..config.policy import apply_policy

    apply_policy(report, options, whole_files)
    return report


@dataclass
class TargetResult:
    """What one target yielded, as plain data: a worker sends it to the parent."""

    models: list[ModelReport] = field(default_factory=list)
    errors: list[NetlintError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0
    whole_files: list[str] = field(default_factory=list)


def check_target(target: str, options: Options, rules: Sequence[Rule], strict: bool | None = None) -> TargetResult:
    """Load and check one target; whatever goes wrong becomes this target's error.

    Warnings raised meanwhile (by torch or the user's code, in the process that runs it) become notes.
    """
    from ..messages import warnings_as_notes

    notes: list[str] = []
    with warnings_as_notes(notes):
        out = _check_target(target, options, rules, strict)
    out.notes.extend(n for n in notes if n not in out.notes)
    return out


def _check_target(target: str, options: Options, rules: Sequence[Rule], strict: bool | None) -> TargetResult:
    import json

    from ..load.models import resolve
    from .worker import phase

    strict = options.strict if strict is None else strict
    out = TargetResult()
    phase("importing", target)
    try:
        loaded = resolve(target, strict=strict)
    except NetlintError as exc:
        out.errors.append(exc)
        out.files += target.endswith(".py")
        return out
    except BaseException as exc:
        if _propagates(exc):
            raise
        out.errors.append(unexpected_error(display_target(target), exc, options))
        out.files += target.endswith(".py")
        return out
    out.files += loaded.files
    out.notes.extend(loaded.notes)
    out.errors.extend(loaded.errors)
    out.whole_files.extend(loaded.whole_files)
    for spec in loaded.models:
        try:
            model_report = check_spec(spec, options, rules)
            json.dumps(model_report.to_dict(timings=True))  # reporters must be able to print it
            out.models.append(model_report)
            if model_report.probe_error is not None:
                out.errors.append(model_report.probe_error)
        except NetlintError as exc:
            out.errors.append(exc)
        except BaseException as exc:  # user code or a bug in netlint: check the other models
            if _propagates(exc):
                raise
            out.errors.append(unexpected_error(spec.name, exc, options))
    return out


def _propagates(exc: BaseException) -> bool:
    """Exceptions that are not this target's error: the parent's signal to hand the target to a
    worker, and outside a worker a KeyboardInterrupt (it may be the user's Ctrl-C; in a worker,
    where Ctrl-C never arrives, it can only come from user code)."""
    from ..load.models import ImportForbidden
    from .worker import in_worker

    return isinstance(exc, ImportForbidden) or (isinstance(exc, (KeyboardInterrupt, GeneratorExit)) and not in_worker())


def unexpected_error(target: str, exc: BaseException, options: Options | None = None) -> NetlintError:
    """One paragraph for an exception nobody expected: what ran, where in the user's code, what to do."""
    import traceback

    from .worker import where_of_exception

    if (options is not None and options.debug) or os.environ.get("NETLINT_DEBUG"):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    where = where_of_exception(exc)
    at = f" (at {where.line})" if where.line else ""
    name = f" `{where.name}`" if where.name else ""
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        what = f"sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else "KeyboardInterrupt"
        return NetlintError(
            target,
            f"user code raised {what} while {where.phase}{name}{at}.",
            "netlint imports model files and runs their constructors and forward passes: guard script code "
            "with if __name__ == '__main__': (sys.argv is [FILE] for user code, so argparse gets its defaults).",
        )
    return NetlintError(
        target,
        f"netlint failed while {where.phase}{name}: {describe_exception(exc)}.",
        "This is a bug in netlint or an unusual construct in the model; run with --debug for the traceback "
        "and please report it.",
    )


def _isolated(targets: Sequence[str], options: Options, rules: Sequence[Rule], report: Report) -> list[TargetResult]:
    """Targets that need no user code are settled here; every other one gets its own worker."""
    from . import worker

    fresh = "torch" not in sys.modules if options.fresh_torch is None else options.fresh_torch
    slots: list[TargetResult | None] = []
    units: list[tuple[int, worker.Unit]] = []
    for target in targets:
        for unit, settled in _units(target, options, rules):
            slots.append(settled)
            if settled is None:
                units.append((len(slots) - 1, unit))
    if units:
        # Shared work pays off only when several workers share it; one worker (a pre-commit run on
        # one file) imports torch itself and leaves the parent torch-free.
        if worker.start_method() == "fork" and len(units) > 1:
            with contextlib.suppress(Exception):  # no torch here: each worker reports that for its target
                worker.prepare_parent()
        cores = os.cpu_count() or 1
        jobs = min(options.jobs or cores, len(units))
        # A parent that ran torch operations before forking has a thread pool that a forked child
        # cannot use: such children compute with one thread. Otherwise the cores are shared among the
        # targets, never among the jobs: float sums depend on the thread count, and the report's bytes
        # must not depend on --jobs.
        threads = 1 if not fresh else max(1, cores // min(len(units), cores))

        def error(unit: worker.Unit, what: str, where: worker.Where, why: str = "", hint: str = "") -> TargetResult:
            if what.startswith("did not finish"):
                hint = (
                    "Look for an endless loop or a very large input there; raise the limit with --timeout "
                    f"(or [tool.netlint] timeout), now {options.timeout:g} s."
                )
            message = f"{what} {where.describe()}" + (f": {why}" if why else "") + "."
            return TargetResult(errors=[NetlintError(display_target(unit.target), message, hint)],
                                files=unit.target.endswith(".py"))  # fmt: skip

        progress = None
        if options.progress and len(units) > 1:  # one bar for the whole run; none per probe in the workers
            from ..progress import Progress

            counted = "files" if all(u.target.endswith(".py") for _, u in units) else "targets"
            progress = Progress("checking", counted, options.progress)
            options = dataclasses.replace(options, progress=None)
        try:
            run = worker.run_units([u for _, u in units], options, rules, jobs=jobs, timeout=options.timeout,
                                   threads=threads, error=error, progress=progress)  # fmt: skip
        finally:
            if progress is not None:
                progress.close()
        for (slot, unit), result in zip(units, run.results):
            if result is None:
                result = TargetResult(
                    errors=[NetlintError(display_target(unit.target), "not checked: interrupted (Ctrl-C).")],
                    files=unit.target.endswith(".py"),
                )
            slots[slot] = result
        report.interrupted = run.interrupted
    return [s for s in slots if s is not None]


def _units(target: str, options: Options, rules: Sequence[Rule]):
    """Each unit of a target with its result when that needs no user code (else None).

    A directory becomes one unit per file, so that same-named modules of two folders never meet
    in one process (unless it holds only plain files); a file or a package target is one unit.
    """
    from ..load.models import package_root, python_files
    from .worker import Unit

    path, is_module = _target_path(target)
    if is_module:
        return [(Unit(target, options.strict), None)]
    if os.path.isdir(path):
        root = os.path.abspath(path)
        whole = Unit(target, options.strict, (root,))
        settled = _without_user_code(whole, options, rules)
        if settled is not None:
            return [(whole, settled)]  # a folder of plain files: settled at once, by the loader's own rules
        units = [Unit(f, False, (root, package_root(f)[0])) for f in python_files(path)]
    else:
        folder = os.path.dirname(os.path.abspath(path))
        units = [Unit(target, options.strict, (folder, package_root(path)[0]))]
    return [(unit, _without_user_code(unit, options, rules)) for unit in units]


def display_target(target: str) -> str:
    """A target as reports name it: a file part relative to the working directory."""
    from ..source import relpath

    path, is_module = _target_path(target)
    if is_module:
        return target
    return (relpath(path) or path) + target[len(path) :]


def _target_path(target: str) -> tuple[str, bool]:
    """The path part of a target, and whether it names an importable module (``pkg.mod:name``)."""
    from ..load.models import split_target

    path, name = split_target(target)
    if not name:
        return target, False
    return path, not path.endswith(".py") and not os.path.exists(path)


def _without_user_code(unit, options: Options, rules) -> TargetResult | None:
    """The unit's result if it can be had without importing user code (a plain file), else None."""
    from ..load.models import ImportForbidden, user_imports_forbidden

    if _target_path(unit.target)[1]:
        return None
    try:
        with user_imports_forbidden():
            return check_target(unit.target, options, rules, strict=unit.strict)
    except ImportForbidden:
        return None


def check_spec(spec, options: Options, rules: Sequence[Rule]) -> ModelReport:
    """One model's report (in the worker): graph, rules, and the probe when it is needed."""
    from ..fix import graph_layer_sites
    from ..load.losses import losses_in_sight
    from ..load.models import user_code
    from ..source import relpath
    from ..state import preserved_rng
    from .worker import phase

    start = time.perf_counter()
    phase("tracing", spec.name)
    with preserved_rng(seed=0), user_code():
        graph, used = _graph(spec, options)
    graph.context["losses"] = tuple(sorted(options.losses | losses_in_sight([spec.file or _class_file(spec.instance)])))
    phase("analysing", spec.name)
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
        layer_sites=graph_layer_sites(spec.name, graph),
    )
    state = _checkpoint(spec, options)
    if options.probe is not False:
        _decide_and_probe(report, spec, used, graph, options, rules, findings, state)
    report.seconds = time.perf_counter() - start
    return report


def _class_file(instance) -> str | None:
    """The file that defines a model object's class (the API's models have no target file)."""
    import inspect

    try:
        return inspect.getsourcefile(type(instance)) if instance is not None else None
    except (TypeError, OSError):
        return None


def _graph(spec, options: Options):
    from ..graph.build import GraphFailure, build_graph
    from ..source import module_sites

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
    from ..load.checkpoint import CheckpointError, check_keys, read_state_dict

    try:
        state = read_state_dict(path)
        check_keys(spec.meta(), state, path)
    except CheckpointError as exc:
        raise NetlintError(spec.name, str(exc), "Pass the checkpoint saved from this model (its state_dict).") from None
    return state


def _decide_and_probe(report: ModelReport, spec, used, graph: Graph, options: Options, rules, findings, state) -> None:
    """Probe when forced or when a static site asks for it; a skip or failure is a note unless --probe was given."""
    from ..probing.budget import ProbeSkipped, not_needed
    from ..probing.shift import ProbeError, resolve_device

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
    from .worker import phase

    phase("probing", spec.name)
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
    from ..graph.ir import DROPOUT_OPS
    from ..graph.queries import active_at_inference, dropout_sources
    from ..load.models import user_code
    from ..probing import budget as plan
    from ..probing.shift import batchnorms, default_batch_size, has_trained_stats, measure, on_device, passes
    from ..state import preserved_rng

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
    from ..probing.shift import ProbeError

    try:
        return spec.real(device)
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if "out of memory" not in str(exc).lower():
            raise
        raise ProbeError(f"out of memory building the model on {device}: {str(exc).splitlines()[0]}") from None


def static_graph(model, inputs=None):
    """The graph of a model object and the input it was traced with (for the API's probe)."""
    from ..graph.inputs import from_values
    from ..load.models import ModelSpec
    from ..state import preserved_rng

    spec = ModelSpec(type(model).__name__, instance=model)
    options = Options(inputs=from_values(inputs, "inputs=") if inputs is not None else None)
    with preserved_rng(seed=0):
        graph, used = _graph(spec, options)
    return graph, used


def _input_candidates(model, spec, options: Options):
    from ..graph.inputs import InputSpec, example_inputs_from, inferred, with_embedding_dtype

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
    from ..graph.inputs import forward_arity

    names, _, most = forward_arity(model)
    if most is not None and len(given.items) > most:
        takes = f"{most} positional input{'s' if most != 1 else ''}" + (f" ({', '.join(names)})" if names else "")
        raise NetlintError(
            name,
            f"{len(given.items)} inputs were given ({given.source}) but {type(model).__name__}.forward takes {takes}.",
            "Give one --input-shape per positional input of forward (name=SHAPE options build one dict input).",
        )


def _forward_error(name: str, failure) -> NetlintError:
    from ..graph.shapes import ShapeMismatch

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

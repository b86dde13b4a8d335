"""One target, then one model at a time: load, graph, rules, and the probe when a finding asks for it (runs in the worker)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from ..errors import NetlintError
from ..findings import Rule, run_rules
from ..graph.ir import Graph
from ..options import Options
from ..results import ModelReport, TargetResult
from .status import unexpected_error


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
    from ..load.targets import display_target, is_source_file
    from .status import phase

    strict = options.strict if strict is None else strict
    out = TargetResult()
    phase("importing", target)
    try:
        loaded = resolve(target, strict=strict)
    except NetlintError as exc:
        out.errors.append(exc)
        out.files += is_source_file(target)
        return out
    except BaseException as exc:
        if _propagates(exc):
            raise
        out.errors.append(unexpected_error(display_target(target), exc, options))
        out.files += is_source_file(target)
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
    from .status import in_worker

    return isinstance(exc, ImportForbidden) or (isinstance(exc, (KeyboardInterrupt, GeneratorExit)) and not in_worker())


def check_spec(spec, options: Options, rules: Sequence[Rule]) -> ModelReport:
    """One model's report (in the worker): graph, rules, and the probe when it is needed."""
    from ..cells import in_cells
    from ..fix import graph_layer_sites
    from ..graph.static import model_graph
    from ..load.losses import losses_in_sight
    from ..load.models import user_code
    from ..memory import publish, size_of
    from ..source import relpath
    from ..state import preserved_rng
    from .status import phase

    start = time.perf_counter()
    phase("tracing", spec.name)
    publish(size_of(spec.meta()), spec.real_import is not None)  # the size an out-of-memory kill names
    with preserved_rng(seed=0), user_code():
        graph, used = model_graph(spec, options)
    graph.context["losses"] = tuple(sorted(options.losses | losses_in_sight([spec.file or _class_file(spec.instance)])))
    phase("analysing", spec.name)
    findings = [
        in_cells(dataclasses.replace(f, model=spec.name, file=relpath(f.file))) for f in run_rules(graph, rules)
    ]
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
    report.build, report.build_reason = spec.build()
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
        raise NetlintError(spec.name, f"{exc.message}.", exc.hint) from None
    return state


def _decide_and_probe(report: ModelReport, spec, used, graph: Graph, options: Options, rules, findings, state) -> None:
    """Probe when forced or when a static site asks for it; a skip or failure is a note unless --probe was given.

    NaN or Inf in the model's own forward is an error either way (a model that cannot run must not
    pass). A device this machine lacks is bad input: ``check_targets`` reports it once, before any
    work; here only a model object checked through the API can meet it.
    """
    from ..probing.budget import ProbeSkipped, not_needed
    from ..probing.plan import probe_model
    from ..probing.shift import ModelNotFinite, ProbeError, resolve_device

    forced = options.probe is True
    why_not = None if forced else not_needed(graph)
    if why_not:
        report.probe_note = f"not needed ({why_not})"
        return
    try:
        device = resolve_device(options.device)
    except ProbeError as exc:  # a bad --device is bad input, whoever asked for the probe
        report.probe_note = f"not run: {exc}"
        report.probe_error = NetlintError(spec.name, f"{exc}; the probe did not run.", DEVICE_HINT)
        return
    from .status import phase

    phase("probing", spec.name)
    try:
        report.probe = probe_model(spec, used, graph, options, device, state)
    except ProbeSkipped as exc:
        report.probe_note = f"skipped: {exc}"
        if forced:
            report.probe_error = NetlintError(spec.name, f"the probe was skipped: {exc}.", "The static findings stand.")
    except ModelNotFinite as exc:
        report.probe_note = f"failed: {exc}"
        report.probe_error = NetlintError(
            spec.name,
            f"{exc} (found by the probe).",
            "Look for a division by zero, a log or sqrt of a non-positive value, or an overflow there; "
            "the static findings above stand.",
        )
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


DEVICE_HINT = "The static findings stand; use --device cpu or auto."

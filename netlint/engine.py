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
    select: Sequence[str] | None = None  # rule codes or prefixes; None: the default rules
    ignore: Sequence[str] = ()
    strict: bool = True  # an explicit file that yields no model is an error


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "inputs": self.inputs,
            "input_source": self.input_source,
            "analysis": [dataclasses.asdict(p) for p in self.parts],
            "unused": list(self.unused),
            "nodes": self.nodes,
            "findings": [f.to_dict() for f in self.findings],
        }


@dataclass
class Report:
    models: list[ModelReport] = field(default_factory=list)
    errors: list[NetlintError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0

    @property
    def findings(self) -> list[Finding]:
        return [f for m in self.models for f in m.findings]

    def exit_code(self, fail_on: Severity = Severity.WARNING) -> int:
        """2 for bad input, 1 for a finding at or above ``fail_on``, else 0."""
        if self.errors:
            return 2
        return 1 if any(f.severity.rank >= fail_on.rank for f in self.findings) else 0


def selected_rules(select: Sequence[str] | None = None, ignore: Sequence[str] = ()) -> list[Rule]:
    """Rules chosen by code prefix (``NL00``) or name; the default set when ``select`` is None."""
    from .rules import ALL_RULES

    def matches(rule: type[Rule], patterns: Iterable[str]) -> bool:
        return any(rule.code.startswith(p.upper()) or rule.name == p.lower() for p in patterns)

    chosen = [r for r in ALL_RULES if (r.default if select is None else matches(r, select))]
    return [r() for r in chosen if not matches(r, ignore)]


def check_targets(targets: Sequence[str], options: Options | None = None) -> Report:
    """Check every model of every target; bad input becomes an error entry, not an exception."""
    from .load import resolve

    options = options or Options()
    rules = selected_rules(options.select, options.ignore)
    report = Report()
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
        for spec in loaded.models:
            try:
                report.models.append(check_spec(spec, options, rules))
            except NetlintError as exc:
                report.errors.append(exc)
            except Exception as exc:  # a bug in netlint: report it, check the other models
                if os.environ.get("NETLINT_DEBUG"):
                    raise
                message = f"netlint failed on this model (internal error): {describe_exception(exc)}."
                hint = "Please report it; set NETLINT_DEBUG=1 for the traceback."
                report.errors.append(NetlintError(spec.name, message, hint))
    return report


def check_spec(spec, options: Options, rules: Sequence[Rule]) -> ModelReport:
    from .graph.build import GraphFailure, build_graph
    from .load import _user_code
    from .source import module_sites, relpath
    from .state import preserved_rng

    start = time.perf_counter()
    with preserved_rng(seed=0), _user_code():
        model = spec.meta()
        sites = module_sites(spec.instance if spec.instance is not None else model, spec.sites)
        candidates = _input_candidates(model, spec, options)
        try:
            graph, used = build_graph(spec.name, model, candidates, sites, materialize=lambda: spec.real("cpu"))
        except GraphFailure as failure:
            raise _forward_error(spec.name, failure) from None
    findings = [dataclasses.replace(f, model=spec.name) for f in run_rules(graph, rules)]
    findings = [dataclasses.replace(f, file=relpath(f.file)) for f in findings]
    return ModelReport(
        name=spec.name,
        file=relpath(spec.file),
        inputs=used.describe(),
        input_source=used.source,
        parts=graph.parts,
        unused=graph.unused,
        nodes=len(graph.nodes),
        findings=findings,
        seconds=time.perf_counter() - start,
        graph=graph,
    )


def _input_candidates(model, spec, options: Options):
    from .inputs import InputSpec, example_inputs_from, inferred, with_embedding_dtype

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

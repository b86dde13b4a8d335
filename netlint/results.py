"""What a check yields: a model's report, a target's result and the whole report (plain data; imports no stage)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import NetlintError
from .findings import Finding, Rule, Severity

if TYPE_CHECKING:
    from .graph.ir import AnalysisPart, Graph


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
    build: str = "meta"  # "meta": built with no weight allocated; "real": with real weights (why below); "object"
    build_reason: str = ""

    def to_dict(self, timings: bool = False) -> dict[str, Any]:
        return {
            "name": self.name,
            "file": self.file,
            "inputs": self.inputs,
            "input_source": self.input_source,
            "analysis": [dataclasses.asdict(p) for p in self.parts],
            "unused": list(self.unused),
            "nodes": self.nodes,
            "build": self.build,
            **({"build_reason": self.build_reason} if self.build_reason else {}),
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


@dataclass
class TargetResult:
    """What one target yielded, as plain data: a worker sends it to the parent."""

    models: list[ModelReport] = field(default_factory=list)
    errors: list[NetlintError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: int = 0
    whole_files: list[str] = field(default_factory=list)

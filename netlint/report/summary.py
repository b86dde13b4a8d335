"""Counts that every reporter prints the same way."""

from __future__ import annotations

from collections import Counter
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..engine import Report


def counts(report: Report) -> dict[str, Any]:
    findings = report.findings
    severities = Counter(f.severity.value for f in findings)
    return {
        "models": len(report.models),
        "models_with_findings": sum(1 for m in report.models if m.findings),
        "findings": len(findings),
        "by_severity": {s: severities[s] for s in ("error", "warning", "info") if severities[s]},
        "by_rule": dict(sorted(Counter(f.code for f in findings).items())),
        "errors": len(report.errors),
        "suppressed": report.suppressed,
        "baselined": report.baselined,
        "files": report.files,
    }


def make_console(out: IO[str], color: bool | None = None):
    """A rich console that does not wrap at 80 columns when writing to a file or a pipe."""
    from rich.console import Console

    terminal = hasattr(out, "isatty") and out.isatty()
    return Console(file=out, force_terminal=color, no_color=color is False, highlight=False,
                   width=None if terminal else 200)  # fmt: skip


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def summary_line(report: Report) -> str:
    c = counts(report)
    parts = []
    if c["findings"]:
        sev = ", ".join(plural(n, s) for s, n in c["by_severity"].items())
        parts.append(f"{plural(c['findings'], 'finding')} ({sev}) in {c['models_with_findings']} of "
                     f"{plural(c['models'], 'model')}")  # fmt: skip
    elif c["models"]:
        parts.append(f"No findings in {plural(c['models'], 'model')}")
    else:
        parts.append("No model checked")
    if c["errors"]:
        parts.append(plural(c["errors"], "error"))
    if c["baselined"]:
        parts.append(f"{plural(c['baselined'], 'finding')} hidden by the baseline")
    return "; ".join(parts)

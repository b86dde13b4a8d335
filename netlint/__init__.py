"""netlint: a diagnostic linter for PyTorch models.

The public API is imported lazily, so that ``import netlint`` (and the CLI on files that define
no model) never imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Finding", "ProbeResult", "Report", "Severity", "__version__", "check", "probe", "recalibrate"]

if TYPE_CHECKING:
    from .api import check
    from .findings import Finding, Severity
    from .probing.plan import probe
    from .probing.recalibrate import recalibrate
    from .probing.shift import ProbeResult
    from .results import Report


def __getattr__(name: str) -> Any:
    if name == "check":
        from .api import check

        return check
    if name == "probe":
        from .probing.plan import probe

        return probe
    if name == "ProbeResult":
        from .probing.shift import ProbeResult

        return ProbeResult
    if name == "recalibrate":
        from .probing.recalibrate import recalibrate

        return recalibrate
    if name == "Report":
        from .results import Report

        return Report
    if name in ("Finding", "Severity"):
        from . import findings

        return getattr(findings, name)
    raise AttributeError(f"module 'netlint' has no attribute {name!r}")

"""One JSON object on stdout: stable keys and order, no timings, so that CI artifacts diff cleanly."""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any

from .. import __version__
from .summary import counts

if TYPE_CHECKING:
    from ..results import Report


def to_dict(report: Report, timings: bool = False) -> dict[str, Any]:
    return {
        "version": __version__,
        "models": [m.to_dict(timings) for m in report.models],
        "errors": [{"target": e.target, "message": e.text} for e in report.errors],
        "notes": list(report.notes),
        "summary": counts(report),
    }


def render(report: Report, out: IO[str], *, timings: bool = False, **_: Any) -> None:
    json.dump(to_dict(report, timings), out, indent=2, sort_keys=False)
    out.write("\n")

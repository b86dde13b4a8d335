"""A baseline of known findings, for repositories that adopt netlint late.

``--write-baseline FILE`` records the current findings; ``--baseline FILE`` (or ``[tool.netlint]
baseline``) hides the ones it records, so only new findings are reported and fail the run. A finding
is matched by rule, file and module path, never by line number (lines shift with every edit), and by
count where the same key repeats (one helper building the same layer for several models). Files are
stored relative to the baseline's folder, so the baseline works from any working directory.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..findings import Finding
    from ..results import Report

VERSION = 1
Key = tuple[str, str, str]  # (rule code, file relative to the baseline's folder, module path)


class BaselineError(Exception):
    """A baseline that cannot be read or written: exit status 2."""


def _key(f: Finding, folder: str) -> Key:
    file = Path(os.path.relpath(os.path.abspath(f.file), folder)).as_posix() if f.file else ""
    return (f.code, file, f.module)


def write_baseline(report: Report, path: str) -> int:
    """Record every finding of the report; returns how many."""
    folder = os.path.dirname(os.path.abspath(path))
    counts = Counter(_key(f, folder) for f in report.findings)
    entries = [{"rule": r, "file": file, "module": m, "count": n} for (r, file, m), n in sorted(counts.items())]
    data = {"netlint-baseline": VERSION, "findings": entries}
    try:
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
    except OSError as exc:
        raise BaselineError(f"cannot write the baseline {_shown(path)}: {exc.strerror or exc}") from None
    return sum(counts.values())


def _shown(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def read_baseline(path: str) -> Counter[Key]:
    shown = _shown(path)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise BaselineError(
            f"the baseline {shown} does not exist: create it with `netlint check --write-baseline {shown}`"
        ) from None
    except OSError as exc:
        raise BaselineError(f"cannot read the baseline {shown}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise BaselineError(f"the baseline {shown} is not valid JSON: {exc}") from None
    if (
        not isinstance(data, dict)
        or data.get("netlint-baseline") != VERSION
        or not isinstance(data.get("findings"), list)
    ):
        raise BaselineError(f"{shown} is not a netlint baseline (write one with --write-baseline)")
    out: Counter[Key] = Counter()
    for entry in data["findings"]:
        try:
            key = (str(entry["rule"]), str(entry["file"]), str(entry["module"]))
            count = int(entry.get("count", 1))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise BaselineError(f"{shown}: a malformed entry {entry!r} (expected rule, file, module, count)") from None
        out[key] += max(count, 0)
    return out


def apply_baseline(report: Report, path: str) -> None:
    """Drop the findings the baseline records (by count), count them, and note the baselined ones that are gone.

    A recorded finding counts as fixed only where this run could have seen it: its rule ran and a
    model of its file was checked (a pre-commit run over one file says nothing about the others).
    """
    folder = os.path.dirname(os.path.abspath(path))
    budget = read_baseline(path)
    for model in report.models:
        kept = []
        for f in model.findings:
            key = _key(f, folder)
            if budget[key] > 0:
                budget[key] -= 1
                report.baselined += 1
            else:
                kept.append(f)
        model.findings = kept
    ran = {r.code for r in report.rules}
    checked = {Path(os.path.relpath(os.path.abspath(m.file), folder)).as_posix() for m in report.models if m.file}
    gone = sorted((key, n) for key, n in budget.items() if n > 0 and key[0] in ran and key[1] in checked)
    if gone:
        total = sum(n for _, n in gone)
        shown = ", ".join(
            f"{r} {file} {module or '<root>'}" + (f" (x{n})" if n > 1 else "") for (r, file, module), n in gone[:5]
        )
        more = f" and {len(gone) - 5} more" if len(gone) > 5 else ""
        report.notes.append(
            f"fixed: {total} baselined finding{'s' if total != 1 else ''} no longer occur{'s' if total == 1 else ''} "
            f"({shown}{more}); refresh the baseline with --write-baseline {os.path.relpath(path)}"
        )

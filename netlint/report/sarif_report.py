"""SARIF 2.1.0 for GitHub code scanning: rules with their documentation, results with locations.

Byte-identical for identical inputs: no timestamps, stable order, paths relative to the
repository root (the folder holding .git, else the working directory). In a notebook the region's
line is the line of the .ipynb file whose JSON string holds the source line (what a viewer of the
file shows); the message names the cell and the line in it, and so do the result's properties
(``cell``, ``cellLine``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..findings import Rule
    from ..results import Report

INFORMATION_URI = "https://github.com/netlint/netlint"
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def repository_root(start: str | None = None) -> Path:
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def help_uri(rule: type[Rule] | Rule) -> str:
    return f"{INFORMATION_URI}/blob/main/docs/rules.md#{rule.code.lower()}-{rule.name}"


def _rule(rule: Rule) -> dict[str, Any]:
    sections = rule.sections()
    full = " ".join(sections.get("What it does", "").split())
    why = " ".join(sections.get("Why is this bad?", "").split())
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": full},
        "help": {
            "text": f"{why}\n\nHow to fix: {' '.join(sections.get('How to fix', '').split())}",
            "markdown": rule.documentation(),
        },
        "helpUri": help_uri(rule),
        "defaultConfiguration": {"level": _LEVEL[rule.severity.value]},
    }


def _location(file: str | None, line: int | None, root: Path) -> dict[str, Any] | None:
    if not file:
        return None
    path = Path(file).resolve()
    try:
        artifact = {"uri": path.relative_to(root).as_posix(), "uriBaseId": "%SRCROOT%"}
    except ValueError:  # library code outside the repository
        artifact = {"uri": path.as_uri()}
    location: dict[str, Any] = {"artifactLocation": artifact}
    if line:
        location["region"] = {"startLine": line}
    return location


def to_dict(report: Report) -> dict[str, Any]:
    root = repository_root()
    rules = sorted(report.rules, key=lambda r: r.code)
    index = {r.code: i for i, r in enumerate(rules)}
    results = []
    for f in report.findings:
        result: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index.get(f.code, -1),
            "level": _LEVEL[f.severity.value],
            "message": {
                "text": f"{f.message} Fix: {f.fix}" + (f" (cell {f.cell}, line {f.cell_line})" if f.cell else "")
            },
            "locations": [],
        }
        physical = _location(f.file, f.line, root)
        logical = {"fullyQualifiedName": f"{f.model}/{f.module}" if f.module else f.model,
                   "kind": "module" if f.module else "model"}  # fmt: skip
        result["locations"].append(
            {**({"physicalLocation": physical} if physical else {}), "logicalLocations": [logical]}
        )
        properties: dict[str, Any] = {"related": list(f.related)} if f.related else {}
        if f.cell is not None:
            properties.update(cell=f.cell, cellLine=f.cell_line)
        if properties:
            result["properties"] = properties
        results.append(result)
    notifications = [
        {"level": "error", "message": {"text": e.text}, "descriptor": {"id": "bad-input"}} for e in report.errors
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "netlint",
                        "informationUri": INFORMATION_URI,
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule(r) for r in rules],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "invocations": [
                    {"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }


def render(report: Report, out: IO[str], **_: Any) -> None:
    json.dump(to_dict(report), out, indent=2)
    out.write("\n")

"""GitHub Actions workflow commands: findings appear inline on pull requests.

``::warning file=models/net.py,line=12,title=NL002 bias-before-batchnorm::message``

In a notebook, ``line`` is the line of the .ipynb file whose JSON string holds the source line (where
the pull request's diff of the file shows it), and the title names the cell and the line in it.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .sarif_report import repository_root
from .summary import summary_line

if TYPE_CHECKING:
    from ..results import Report

_COMMAND = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def repository_path(file: str) -> str:
    """Annotations need paths relative to the repository root."""
    path = Path(file).resolve()
    try:
        return path.relative_to(repository_root()).as_posix()
    except ValueError:
        return str(path)


def render(report: Report, out: IO[str], **_: Any) -> None:
    for f in report.findings:
        props = []
        if f.file:
            props.append(f"file={escape_property(repository_path(f.file))}")
            if f.line:
                props.append(f"line={f.line}")
        cell = f" (cell {f.cell}, line {f.cell_line})" if f.cell is not None else ""
        props.append(f"title={escape_property(f'{f.code} {f.name}{cell}')}")
        text = f"{f.message} Fix: {f.fix} ({f.model.rsplit(':', 1)[-1]}: {f.module or '<root>'})"
        out.write(f"::{_COMMAND[f.severity.value]} {','.join(props)}::{escape_data(text)}\n")
    for err in report.errors:
        out.write(f"::error title={escape_property('netlint: bad input')}::{escape_data(err.text)}\n")
    out.write(summary_line(report) + ".\n")

"""Rules and what they report. No torch here: ``netlint rules`` and ``explain`` stay instant."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .graph.ir import Graph, Node


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return ("info", "warning", "error").index(self.value)


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    severity: Severity
    module: str  # layer path, or for a functional op the module whose forward called it ("" = root)
    message: str
    fix: str
    file: str | None = None
    line: int | None = None
    related: tuple[str, ...] = ()  # other module paths involved (the BatchNorms a dropout reaches)
    origin: str | None = None  # "file:line" of the library code, when ``file`` is the user's line
    model: str = ""
    data: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # measured values
    # In a notebook: the cell (1-based position among all cells) and the line in it; ``line`` is then
    # the notebook file's line that holds that source line.
    cell: int | None = None
    cell_line: int | None = None

    @property
    def where(self) -> str | None:
        """``model.py:12``, ``nb.ipynb:cell 4:7``, ``model.py`` or None: where reports say the finding is."""
        if not self.file:
            return None
        if self.cell is not None:
            return f"{self.file}:cell {self.cell}:{self.cell_line}"
        return f"{self.file}:{self.line}" if self.line else self.file

    def to_dict(self) -> dict[str, Any]:
        out = {
            "code": self.code, "name": self.name, "severity": self.severity.value, "module": self.module,
            "message": self.message, "file": self.file, "line": self.line, "fix": self.fix,
            "related": list(self.related),
        }  # fmt: skip
        if self.cell is not None:
            out["cell"], out["cell_line"] = self.cell, self.cell_line
        if self.origin:
            out["origin"] = self.origin
        if self.data:
            out["data"] = self.data
        return out


DOC_HEADINGS = ("What it does", "Why is this bad?", "Example", "How to fix", "References")


class Rule:
    """Base class: a rule is a pure function of the graph, with its documentation as docstring."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    summary: ClassVar[str]
    default: ClassVar[bool] = True  # selected unless the user opts in

    def check(self, graph: Graph) -> Iterable[Finding]:
        raise NotImplementedError

    def with_probe(self, finding: Finding, probe: Any) -> Finding:
        """Refine one of this rule's findings with the dynamic probe's measurements (a ProbeResult)."""
        return finding

    def finding(self, node: Node, message: str, fix: str, related: Iterable[str] = (), **data: Any) -> Finding:
        origin = f"{node.origin[0]}:{node.origin[1]}" if node.origin else None
        return Finding(self.code, self.name, self.severity, node.module, message, fix, node.file, node.line,
                       tuple(related), origin, data=dict(data))  # fmt: skip

    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def sections(cls) -> dict[str, str]:
        """The documentation split at its ``## Heading`` lines."""
        parts = re.split(r"^## (.+)$", cls.documentation(), flags=re.M)
        return {title.strip(): body.strip() for title, body in zip(parts[1::2], parts[2::2])}


def run_rules(graph: Graph, rules: Iterable[Rule]) -> Iterator[Finding]:
    """Every finding of every rule, once each, in graph order per rule."""
    seen: set[tuple[str, str, str | None, int | None]] = set()
    for rule in rules:
        for f in rule.check(graph):
            key = (f.code, f.module, f.file, f.line)
            if key in seen:  # a layer called twice (weight sharing) is one place to fix
                continue
            seen.add(key)
            yield f

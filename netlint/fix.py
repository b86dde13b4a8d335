"""``--fix`` for NL002: rewrite a layer's constructor call to ``bias=False``.

Unsafe by nature: a checkpoint saved with the bias no longer loads with ``strict=True``. Applied
only where every layer created by the call site is flagged (a call in a loop or a helper builds
many layers), only in the user's own files, and only to a literal ``bias`` (or none): an
expression such as ``bias=use_bias`` is the user's to change. Formatting and comments are kept:
the edit touches the argument and nothing else.
"""

from __future__ import annotations

import ast
import difflib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .graph.ir import Op
from .source import is_user_file

if TYPE_CHECKING:
    from .engine import Report
    from .graph.ir import Graph

# Position of ``bias`` among the positional parameters of each layer's constructor.
_BIAS_POSITION = {"Linear": 2, "Bilinear": 3, "LazyLinear": 1}
_CONV_BIAS_POSITION = 7  # Conv1d/2d/3d and ConvTranspose1d/2d/3d


@dataclass
class FixPlan:
    edits: dict[str, list[tuple[int, int, int, int, str]]] = field(default_factory=dict)  # file -> replacements
    fixed: list[tuple[str, str]] = field(default_factory=list)  # (model, module) whose finding is fixed
    skipped: list[str] = field(default_factory=list)  # why a finding was not fixed

    def sources(self) -> dict[str, tuple[str, str]]:
        """file -> (old text, new text)."""
        out = {}
        for file, edits in self.edits.items():
            with open(file, encoding="utf-8") as fh:
                old = fh.read()
            out[file] = (old, _apply(old, edits))
        return out


def layer_sites(graph: Graph) -> list[tuple[str, int, str, str]]:
    """(file, line, module, type) of every conv or linear layer created in the user's own line.

    Computed where the graph is (the worker), so that the parent plans fixes without it.
    """
    return [
        (os.path.abspath(node.file), node.line, node.module, node.type_name)
        for node in graph.nodes
        if node.op in (Op.CONV, Op.LINEAR) and node.kind == "module" and node.file and node.line
        and node.origin is None
    ]  # fmt: skip


def plan(report: Report) -> FixPlan:
    result = FixPlan()
    flagged = {(f.model, f.module) for f in report.findings if f.code == "NL002"}
    made_at: dict[tuple[str, int], list[tuple[str, str, str]]] = defaultdict(list)  # site -> (model, module, type)
    for model in report.models:
        for file, line, module, type_name in model.layer_sites:
            entry = (model.name, module, type_name)
            if entry not in made_at[(file, line)]:
                made_at[(file, line)].append(entry)
    done: set[tuple[str, int]] = set()
    for model in report.models:
        for f in model.findings:
            if f.code != "NL002":
                continue
            where = f"{f.file}:{f.line} ({f.module})"
            if f.origin or not f.file or not is_user_file(os.path.abspath(f.file)):
                result.skipped.append(f"{where}: the layer is created in library code ({f.origin or f.file})")
                continue
            site = (os.path.abspath(f.file), f.line or 0)
            members = made_at.get(site, [])
            if not members:
                result.skipped.append(f"{where}: a functional call, not a layer's constructor")
                continue
            unflagged = [m for m in members if (m[0], m[1]) not in flagged]
            if unflagged:
                result.skipped.append(
                    f"{where}: this call also creates {len(unflagged)} layer(s) whose bias is not cancelled "
                    f"({', '.join(m[1] for m in unflagged[:3])})"
                )
                continue
            if site in done:
                result.fixed.append((f.model, f.module))
                continue
            edit = _bias_edit(site[0], site[1], members[0][2])
            if isinstance(edit, str):
                result.skipped.append(f"{where}: {edit}")
                continue
            result.edits.setdefault(site[0], []).append(edit)
            result.fixed.append((f.model, f.module))
            done.add(site)
    return result


def _bias_edit(file: str, line: int, type_name: str) -> tuple[int, int, int, int, str] | str:
    """A replacement ``(line, col, end_line, end_col, text)`` that sets bias=False, or why not."""
    with open(file, encoding="utf-8") as fh:
        source = fh.read()
    tree = ast.parse(source, file)
    calls = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and n.lineno == line and _callee(n) == type_name
    ]  # fmt: skip
    if len(calls) != 1:
        return f"cannot find one {type_name}(...) call on that line"
    call = calls[0]
    position = _BIAS_POSITION.get(type_name, _CONV_BIAS_POSITION)
    target: ast.expr | None = next((kw.value for kw in call.keywords if kw.arg == "bias"), None)
    if target is None and len(call.args) > position:
        target = call.args[position]
    if target is not None:
        if isinstance(target, ast.Constant) and target.value is True:
            return (target.lineno, target.col_offset, target.end_lineno, target.end_col_offset, "False")
        return "bias is given as an expression: set it to False where it is computed"
    if any(isinstance(a, ast.Starred) for a in call.args) or any(kw.arg is None for kw in call.keywords):
        return "the call passes *args or **kwargs: add bias=False by hand"
    return _insert_keyword(source, call)


def _insert_keyword(source: str, call: ast.Call) -> tuple[int, int, int, int, str]:
    lines = source.splitlines(keepends=True)
    last = max([*call.args, *call.keywords], key=lambda n: (n.end_lineno, n.end_col_offset))
    end_line, end_col = last.end_lineno, last.end_col_offset
    closing_line, closing_col = call.end_lineno, call.end_col_offset - 1  # the ")"
    between = _slice(lines, end_line, end_col, closing_line, closing_col)
    if "," not in between.split("#")[0]:
        return (end_line, end_col, end_line, end_col, ", bias=False")
    comma = _find_comma(lines, end_line, end_col)
    if closing_line == end_line:  # f(a, b,) on one line
        return (comma[0], comma[1] + 1, comma[0], comma[1] + 1, " bias=False,")
    # One argument per line: the new one goes on its own line, indented like the last one.
    start_line = lines[last.lineno - 1]
    indent = start_line[: len(start_line) - len(start_line.lstrip())]
    return (comma[0], comma[1] + 1, comma[0], comma[1] + 1, f"\n{indent}bias=False,")


def _find_comma(lines: list[str], line: int, col: int) -> tuple[int, int]:
    """The first comma at or after (line, col) outside comments, as (line, byte column)."""
    while line <= len(lines):
        text = lines[line - 1].encode("utf-8")
        segment = text[col:].split(b"#")[0]
        index = segment.find(b",")
        if index >= 0:
            return line, col + index
        line, col = line + 1, 0
    raise ValueError("no comma")


def _slice(lines: list[str], line: int, col: int, end_line: int, end_col: int) -> str:
    if line == end_line:
        return lines[line - 1].encode("utf-8")[col:end_col].decode("utf-8")
    parts = [lines[line - 1].encode("utf-8")[col:].decode("utf-8")]
    parts += lines[line : end_line - 1]
    parts.append(lines[end_line - 1].encode("utf-8")[:end_col].decode("utf-8"))
    return "".join(parts)


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _apply(source: str, edits: list[tuple[int, int, int, int, str]]) -> str:
    """Apply replacements given as 1-based lines and UTF-8 byte columns, last first."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for text in lines:
        starts.append(starts[-1] + len(text.encode("utf-8")))
    data = source.encode("utf-8")
    for line, col, end_line, end_col, text in sorted(edits, reverse=True):
        start, end = starts[line - 1] + col, starts[end_line - 1] + end_col
        data = data[:start] + text.encode("utf-8") + data[end:]
    return data.decode("utf-8")


def unified_diff(file: str, old: str, new: str) -> str:
    name = os.path.relpath(file) if not os.path.relpath(file).startswith("..") else file
    return "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}")
    )

"""``--fix`` for NL002: rewrite a layer's constructor call to ``bias=False``.

Unsafe by nature: a checkpoint saved with the bias no longer loads with ``strict=True``. Applied
only where every layer created by the call site is flagged (a call in a loop or a helper builds
many layers), only in the user's own files, only to torch's own layer classes (a subclass has its
own signature), and only to a literal ``bias`` (or none): an expression such as ``bias=use_bias``
is the user's to change.

A file is never damaged: it is read as bytes and decoded with its own encoding without newline
translation, the edit touches the argument and nothing else (line endings, comments and every
other byte stay as they were), and the new text goes to a temporary file beside the original,
which then replaces it in one rename, keeping its mode. A file that changed since it was read, or
that has no write permission, is left alone and reported.

A notebook is edited in its joined code cells (``netlint.cells``); the edit goes back into the source
of its cell, and only that cell's JSON strings change: every other byte of the file (outputs,
metadata, indentation, key order) stays as it was.
"""

from __future__ import annotations

import ast
import bisect
import contextlib
import difflib
import functools
import os
import re
import stat
import tempfile
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .cells import Notebook, is_notebook, read_notebook, split_lines
from .source import _callee, is_user_file
from .source import _parse as parse_source

if TYPE_CHECKING:
    from .graph.ir import Graph
    from .results import Report

# Position of ``bias`` among the positional parameters of each layer's constructor.
_BIAS_POSITION = {"Linear": 2, "Bilinear": 3, "LazyLinear": 1}
_CONV_BIAS_POSITION = 7  # Conv1d/2d/3d and ConvTranspose1d/2d/3d
_CONV_CLASSES = {
    f"{kind}{d}d" for kind in ("Conv", "ConvTranspose", "LazyConv", "LazyConvTranspose") for d in (1, 2, 3)
}
_FIXABLE = _CONV_CLASSES | set(_BIAS_POSITION)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # the tokenizer's line breaks, nothing else


@dataclass(frozen=True)
class SiteLayer:
    """A weight layer created at a source line, as the graph saw it."""

    model: str
    module: str
    type_name: str
    torch_class: bool  # one of torch.nn's own classes, whose signature netlint knows
    constructor: bool  # created by a constructor call at this line (False: a functional call there)


def graph_layer_sites(model: str, graph: Graph) -> list[tuple[tuple[str, int], SiteLayer]]:
    """((absolute file, line), layer) for every conv/linear layer created in the user's own line.

    The only place that reads the graph: it runs where the graph is (the worker), so that the parent
    plans fixes from plain data (``ModelReport.layer_sites``).
    """
    from .graph.ir import Op

    out: list[tuple[tuple[str, int], SiteLayer]] = []
    params = {n.target for n in graph.nodes if n.op == Op.PARAM}
    for node in graph.nodes:
        if node.op not in (Op.CONV, Op.LINEAR) or not node.file or not node.line or node.origin is not None:
            continue
        if node.kind == "module":
            torch_class = node.target.startswith("torch.nn.") and node.type_name in _FIXABLE
            entry = SiteLayer(model, node.module, node.type_name, torch_class, True)
        else:  # a layer whose own forward calls the conv (a subclass traced through), or F.conv2d in forward
            own = bool(node.module) and f"{node.module}.weight" in params
            entry = SiteLayer(model, node.module, node.type_name, False, own)
        out.append(((os.path.abspath(node.file), node.line), entry))
    return out


def layer_sites(report: Report) -> dict[tuple[str, int], list[SiteLayer]]:
    """(absolute file, line) -> the conv/linear layers created there, over every model of the report."""
    sites: dict[tuple[str, int], list[SiteLayer]] = defaultdict(list)
    for model in report.models:
        for site, entry in model.layer_sites:
            if entry not in sites[site]:
                sites[site].append(entry)
    return sites


@dataclass
class Source:
    """A file's bytes and its text, decoded with its own encoding and no newline translation."""

    raw: bytes
    encoding: str
    lines: list[str]  # with their original line endings
    notebook: Notebook | None = None  # a notebook: ``lines`` are its joined code cells

    @property
    def text(self) -> str:
        return "".join(self.lines)

    @functools.cached_property
    def tree(self) -> ast.Module:
        """The syntax tree, parsed once for all the file's sites (raises SyntaxError)."""
        return ast.parse(self.text if self.notebook is not None else self.raw)

    def new_bytes(self, edits: list[Edit]) -> bytes:
        if self.notebook is None:
            return _apply(self.text, edits).encode(self.encoding)
        return self.notebook.with_cells(self.new_cells(edits)).encode("utf-8")

    def new_cells(self, edits: list[Edit]) -> dict[int, str]:
        """A notebook's edited cells: number -> new source (code lines are the cells' own, character for character)."""
        assert self.notebook is not None
        starts, at = [], 0
        for line in self.lines:
            starts.append(at)
            at += len(line)
        per_cell: dict[int, list[Edit]] = defaultdict(list)
        for edit in edits:
            (cell, start), (_, end) = (self._in_cell(starts, edit.start), self._in_cell(starts, edit.end))
            per_cell[cell].append(Edit(start, end, edit.text))
        return {n: _apply(self.notebook.cell(n).text, e) for n, e in per_cell.items()}

    def _in_cell(self, starts: list[int], offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(starts, offset) - 1
        cell, cell_line = self.notebook.where(index + 1)
        before = sum(len(x) for x in split_lines(cell.text)[: cell_line - 1])
        return cell.number, before + offset - starts[index]


def read_source(path: str) -> Source:
    """Raises OSError, or ValueError when the bytes do not decode and re-encode to themselves."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if is_notebook(path):
        from .cells import parse_notebook

        notebook = parse_notebook(raw, path)  # a NotebookError is a ValueError
        return Source(raw, "utf-8", split_lines(notebook.python), notebook)
    try:
        encoding, _ = tokenize.detect_encoding(iter(raw.splitlines(keepends=True)).__next__)
        text = raw.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        raise ValueError(f"cannot decode it: {exc}") from None
    if text.encode(encoding) != raw:
        raise ValueError(f"its {encoding} text does not encode back to the same bytes")
    return Source(raw, encoding, _LINE.findall(text))


@dataclass(frozen=True)
class Edit:
    start: int  # character offsets into Source.text
    end: int
    text: str


@dataclass
class FixPlan:
    edits: dict[str, list[Edit]] = field(default_factory=dict)  # file -> replacements
    originals: dict[str, Source] = field(default_factory=dict)
    fixed: list[tuple[str, str, str]] = field(default_factory=list)  # (file, model, module) of each fixed finding
    skipped: list[str] = field(default_factory=list)  # why a finding was not fixed
    errors: list[tuple[str, str]] = field(default_factory=list)  # (file, why it cannot be fixed or written)

    def sources(self) -> dict[str, tuple[str, str]]:
        """file -> (old text, new text)."""
        return {
            file: (self.originals[file].text, _apply(self.originals[file].text, e)) for file, e in self.edits.items()
        }

    def new_bytes(self, file: str) -> bytes:
        return self.originals[file].new_bytes(self.edits[file])

    def diff(self, file: str) -> str:
        """The change as a unified diff; for a notebook one per changed cell (``a/nb.ipynb:cell 3``)."""
        source = self.originals[file]
        if source.notebook is None:
            return unified_diff(file, source.text, _apply(source.text, self.edits[file]))
        return "".join(
            unified_diff(file, source.notebook.cell(n).text, new, f":cell {n}")
            for n, new in sorted(source.new_cells(self.edits[file]).items())
        )


def plan(report: Report) -> FixPlan:
    result = FixPlan()
    flagged = {(f.model, f.module) for f in report.findings if f.code == "NL002"}
    sites = layer_sites(report)
    done: set[tuple[str, int]] = set()
    unreadable: set[str] = set()
    for f in report.findings:
        if f.code != "NL002":
            continue
        where = f"{f.where} ({f.module})"
        if f.origin or not f.file or not is_user_file(os.path.abspath(f.file)):
            result.skipped.append(f"{where}: the layer is created in library code ({f.origin or f.file})")
            continue
        site = (os.path.abspath(f.file), _source_line(f))
        if site[0] in unreadable:
            continue
        members = sites.get(site, [])
        layer = next((m for m in members if (m.model, m.module) == (f.model, f.module)), None)
        if layer is None or not layer.constructor:
            result.skipped.append(f"{where}: a functional call, not a layer's constructor: pass a weight without bias")
            continue
        if not layer.torch_class:
            called = _called_class(site)
            if called is None:
                result.skipped.append(
                    f"{where}: a functional call, not a layer's constructor: pass a weight without bias"
                )
            else:
                result.skipped.append(
                    f"{where}: {called}(...) is a subclass whose constructor netlint cannot map: "
                    "add bias=False where it builds its base class"
                )
            continue
        unflagged = [m for m in members if (m.model, m.module) not in flagged]
        if unflagged:
            result.skipped.append(
                f"{where}: this call also creates {len(unflagged)} layer(s) whose bias is not cancelled "
                f"({', '.join(m.module for m in unflagged[:3])})"
            )
            continue
        if site in done:
            result.fixed.append((site[0], f.model, f.module))
            continue
        try:
            source = result.originals.get(site[0]) or read_source(site[0])
        except (OSError, ValueError) as exc:
            unreadable.add(site[0])
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            result.errors.append((f.file, f"--fix cannot read it: {why}; the file is unchanged."))
            continue
        result.originals[site[0]] = source
        edit = _bias_edit(source, site[0], site[1], layer.type_name)
        if isinstance(edit, str):
            result.skipped.append(f"{where}: {edit}")
            continue
        result.edits.setdefault(site[0], []).append(edit)
        result.fixed.append((site[0], f.model, f.module))
        done.add(site)
    return result


def _source_line(f) -> int:
    """The line a finding points to in its file's source: in a notebook, that of its joined code cells."""
    if f.cell is None or not is_notebook(f.file):
        return f.line or 0
    try:
        return read_notebook(f.file).line_of(f.cell, f.cell_line) or 0
    except (OSError, ValueError):
        return 0


def _called_class(site: tuple[str, int]) -> str | None:
    """The class a call at the site constructs (fx traces through a subclass and shows only its base's op)."""
    tree = parse_source(site[0])
    if tree is None:
        return None
    names = [_callee(n) for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno == site[1]]
    classes = [n for n in names if n[:1].isupper()]
    return classes[0] if len(classes) == 1 else None


def _bias_edit(source: Source, file: str, line: int, type_name: str) -> Edit | str:
    """A replacement that sets bias=False, or why not."""
    try:
        tree = source.tree
    except SyntaxError as exc:
        return f"the file does not parse ({exc.msg})"
    calls = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.Call) and n.lineno == line and _callee(n) == type_name
    ]  # fmt: skip
    if len(calls) > 1:
        return f"{len(calls)} {type_name}(...) calls share that line: add bias=False by hand"
    if not calls:
        others = [_callee(n) for n in ast.walk(tree) if isinstance(n, ast.Call) and n.lineno == line and _callee(n)]
        if others:
            return f"the call there is {others[0]}(...), not {type_name}(...) (an alias or a factory): add bias=False by hand"
        return f"no {type_name}(...) call on that line (the layer is built another way): add bias=False by hand"
    call = calls[0]
    position = _BIAS_POSITION.get(type_name, _CONV_BIAS_POSITION)
    target: ast.expr | None = next((kw.value for kw in call.keywords if kw.arg == "bias"), None)
    if target is None and len(call.args) > position:
        target = call.args[position]
    if target is not None:
        if isinstance(target, ast.Constant) and target.value is True:
            start = _offset(source, target.lineno, target.col_offset)
            return Edit(start, _offset(source, target.end_lineno, target.end_col_offset), "False")
        return "bias is given as an expression: set it to False where it is computed"
    if any(isinstance(a, ast.Starred) for a in call.args) or any(kw.arg is None for kw in call.keywords):
        return "the call passes *args or **kwargs: add bias=False by hand"
    if not call.args and not call.keywords:
        return f"{type_name}() has no arguments to add bias=False after"
    return _insert_keyword(source, call)


def _insert_keyword(source: Source, call: ast.Call) -> Edit:
    text = source.text
    last = max([*call.args, *call.keywords], key=lambda n: (n.end_lineno, n.end_col_offset))
    after_last = _offset(source, last.end_lineno, last.end_col_offset)
    closing = _offset(source, call.end_lineno, call.end_col_offset) - 1  # the ")"
    # Between the last argument and ")" there can only be blanks, a comma, comments and line breaks.
    between = text[after_last:closing]
    code = "".join(part.split("#")[0] for part in _LINE.findall(between))
    if "," not in code:
        return Edit(after_last, after_last, ", bias=False")
    comma = after_last + _comma_index(between)
    if "\n" not in between and "\r" not in between:  # f(a, b,) on one line
        return Edit(comma + 1, comma + 1, " bias=False,")
    # One argument per line: the new one goes on its own line after the comma's line (whose comment
    # stays where it is), indented like the last argument, with the line ending the file uses there.
    start_line = source.lines[last.lineno - 1]
    indent = start_line[: len(start_line) - len(start_line.lstrip())]
    ending = re.compile(r"\r\n|\r|\n").search(text, comma)
    if ending is None:  # cannot happen: a line break lies between the comma and ")"
        return Edit(comma + 1, comma + 1, " bias=False,")
    return Edit(ending.end(), ending.end(), f"{indent}bias=False,{ending.group()}")


def _comma_index(between: str) -> int:
    """The first comma outside comments."""
    offset = 0
    for part in _LINE.findall(between):
        index = part.split("#")[0].find(",")
        if index >= 0:
            return offset + index
        offset += len(part)
    raise ValueError("no comma")


def _offset(source: Source, line: int, col: int) -> int:
    """Character offset of ast's (1-based line, UTF-8 byte column) in the source text."""
    before = sum(len(text) for text in source.lines[: line - 1])
    return before + len(source.lines[line - 1].encode("utf-8")[:col].decode("utf-8"))


def _apply(text: str, edits: list[Edit]) -> str:
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        text = text[: edit.start] + edit.text + text[edit.end :]
    return text


class WriteRefused(Exception):
    """Why a fixed file was not written; the original is untouched."""


def write_atomic(path: str, data: bytes, expected: bytes) -> None:
    """Replace ``path`` with ``data`` in one rename, keeping its mode; only if it still holds ``expected``."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise WriteRefused("it is no longer a regular file")
        # Also when running as root, which os.access lets write anything: no write bit means hands off.
        if not os.access(path, os.W_OK) or not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise WriteRefused("it is read-only (no write permission)")
        with open(path, "rb") as fh:
            if fh.read() != expected:
                raise WriteRefused("it changed while netlint was checking it")
    except FileNotFoundError:
        raise WriteRefused("it no longer exists") from None
    except OSError as exc:
        raise WriteRefused(f"cannot read it: {exc.strerror or exc}") from None
    folder, name = os.path.split(os.path.abspath(path))
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".netlint-tmp", dir=folder)
    except OSError as exc:
        raise WriteRefused(f"cannot create a temporary file in {folder}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, stat.S_IMODE(st.st_mode))
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise WriteRefused(f"cannot replace it: {exc.strerror or exc}") from None


def unified_diff(file: str, old: str, new: str, part: str = "") -> str:
    name = (os.path.relpath(file) if not os.path.relpath(file).startswith("..") else file) + part
    old_lines, new_lines = _LINE.findall(old), _LINE.findall(new)
    if part:  # a cell's last line may have no line break: the diff's own lines need one
        old_lines, new_lines = (
            [x if x.endswith(("\n", "\r")) else x + "\n" for x in v] for v in (old_lines, new_lines)
        )
    return "".join(difflib.unified_diff(old_lines, new_lines, f"a/{name}", f"b/{name}"))

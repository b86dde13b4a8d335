"""A Jupyter notebook as one Python source, and where each of its lines lives in the notebook.

The code cells, in notebook order, are joined into one source that netlint scans, imports, reports
on and fixes like a Python file. IPython syntax that is not Python becomes a blank line (``pass``
inside a block): line magics (``%matplotlib inline``), shell lines (``!pip install``), help
(``obj?``) and assignments from them (``files = !ls``). A cell under a Python cell magic (``%%time``,
``%%capture``) keeps its body; one under another cell magic (``%%bash``, ``%%writefile``) is blank,
and so is a cell that still does not parse (top-level ``await``): both are said in ``Cell.skipped``.

Every line of the joined source keeps its place: its cell (the cell's 1-based position among all
cells, markdown cells included, as a reader counts them), its line in the cell, and the line of the
notebook file whose JSON string holds it (what editors, SARIF viewers and GitHub annotations open).
Plain json, ast and tokenize: no torch, no IPython, no nbformat.
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import functools
import io
import json
import os
import re
import tokenize
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .findings import Finding

SUFFIX = ".ipynb"
# Cell magics whose body is Python run as it is (IPython's own list, less the ones for other programs).
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "python", "python3", "pypy", "debug", "memit"})
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # the tokenizer's line breaks, nothing else
# A logical line that Python cannot start: %magic, !shell, ?help, name = %magic / !shell, name? / name??
_IPYTHON = re.compile(r"\s*(?:[%!?]|[A-Za-z_][\w.]*\s*=\s*[%!]|[A-Za-z_][\w.]*\?\??\s*$)")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_ESCAPED = re.compile(r"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")  # a \u escape in JSON text (not an escaped backslash)
_DECODER = json.JSONDecoder()


class NotebookError(ValueError):
    """A file that is not a readable Jupyter notebook (v4 JSON)."""


def is_notebook(path: str | None) -> bool:
    return bool(path) and path.lower().endswith(SUFFIX)


@dataclass(frozen=True)
class Cell:
    """One code cell: its text as Jupyter joins it, and where its lines are."""

    number: int  # 1-based position among all cells
    text: str
    first: int  # line of the joined source where the cell's first line is
    file_lines: tuple[int, ...]  # the notebook file's line of each of the cell's lines
    span: tuple[int, int]  # character offsets of the cell's "source" value in the file's text
    parts: tuple[tuple[int, int], ...]  # offsets of each JSON string of that value (one if it is a string)
    skipped: str = ""  # why the whole cell is blank in the joined source ("" if it is not)
    ipython: tuple[int, ...] = ()  # cell lines of IPython syntax made blank

    @property
    def lines(self) -> int:
        return len(self.file_lines)


@dataclass(frozen=True)
class Notebook:
    path: str
    text: str  # the file, decoded
    python: str  # the code cells joined, IPython syntax blanked
    cells: tuple[Cell, ...]  # code cells only, in order
    language: str  # the kernel's language ("python" when the notebook does not say)

    def where(self, line: int) -> tuple[Cell, int] | None:
        """The cell and the line in it of a line of the joined source."""
        index = bisect.bisect_right([c.first for c in self.cells], line) - 1
        if index < 0:
            return None
        cell = self.cells[index]
        return (cell, line - cell.first + 1) if line < cell.first + cell.lines else None

    def line_of(self, cell_number: int, cell_line: int) -> int | None:
        """The joined source's line of a line of a cell."""
        for cell in self.cells:
            if cell.number == cell_number and 1 <= cell_line <= cell.lines:
                return cell.first + cell_line - 1
        return None

    def cell(self, number: int) -> Cell | None:
        return next((c for c in self.cells if c.number == number), None)

    def with_cells(self, texts: dict[int, str]) -> str:
        """The file's text with the source of some cells (by number) replaced and every other character kept.

        A source stored as a list of lines keeps the JSON text of each unchanged line, the separators and
        the indentation; a changed line is written as the file writes strings (raw non-ASCII or ``\\u``).
        """
        # Jupyter writes non-ASCII characters raw; a file of \u escapes and no raw one was written otherwise.
        ascii_only = self.text.isascii() and bool(_ESCAPED.search(self.text))
        out, at = [], 0
        for cell in sorted((self.cell(n) for n in texts), key=lambda c: c.span):
            if cell is None:
                continue
            out.append(self.text[at : cell.span[0]])
            out.append(self._source_json(cell, texts[cell.number], ascii_only))
            at = cell.span[1]
        out.append(self.text[at:])
        return "".join(out)

    def _source_json(self, cell: Cell, new: str, ascii_only: bool) -> str:
        original = self.text[cell.span[0] : cell.span[1]]
        if not original.startswith("["):
            return json.dumps(new, ensure_ascii=ascii_only)
        import difflib

        tokens = [self.text[a:b] for a, b in cell.parts]
        old = [json.loads(t) for t in tokens]
        lines = _LINE.findall(new)
        if not tokens:  # an empty list: one string per line, on the list's own line
            return "[" + ", ".join(json.dumps(x, ensure_ascii=ascii_only) for x in lines) + "]"
        separator = self.text[cell.parts[0][1] : cell.parts[1][0]] if len(tokens) > 1 else _separator(self.text, cell)
        pieces: list[str] = []
        matcher = difflib.SequenceMatcher(None, old, lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                pieces.extend(tokens[i1:i2])
            else:
                pieces.extend(json.dumps(x, ensure_ascii=ascii_only) for x in lines[j1:j2])
        head = self.text[cell.span[0] : cell.parts[0][0]]
        tail = self.text[cell.parts[-1][1] : cell.span[1]]
        return head + separator.join(pieces) + tail


def _separator(text: str, cell: Cell) -> str:
    """Between two strings of a one-string list: a comma, then the line break and indentation before the first."""
    start = cell.parts[0][0]
    before = text[cell.span[0] + 1 : start]
    return "," + before if before.strip() == "" and before else ", "


# -- reading --------------------------------------------------------------------------------------


def read_notebook(path: str) -> Notebook:
    """The notebook at ``path`` (cached while the file is unchanged); raises NotebookError or OSError."""
    path = os.path.abspath(path)
    try:  # modification time and size: a notebook edited in a long-lived process is read again
        st = os.stat(path)
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = None
    return _read(path, stamp)


@functools.lru_cache(maxsize=64)
def _read(path: str, stamp: tuple[int, int] | None) -> Notebook:
    with open(path, "rb") as fh:
        raw = fh.read()
    return parse_notebook(raw, path)


def parse_notebook(raw: bytes, path: str = "<notebook>") -> Notebook:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotebookError(
            f"not a Jupyter notebook: it is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    start = 1 if text.startswith("\ufeff") else 0
    try:
        data = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise NotebookError(
            f"not a Jupyter notebook: invalid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", data.get("worksheets")), list):
        raise NotebookError("not a Jupyter notebook: its JSON has no list of cells")
    if "cells" not in data or not isinstance(data.get("nbformat", 4), int) or data.get("nbformat", 4) < 4:
        raise NotebookError(
            f"a notebook of format version {data.get('nbformat')}, which netlint does not read: open and save it "
            "in Jupyter to convert it to version 4"
        )
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    language = _language(metadata)
    spans = _source_spans(text, start)
    newlines = [m.start() for m in re.finditer("\n", text)]

    def file_line(offset: int) -> int:
        return bisect.bisect_right(newlines, offset - 1) + 1

    cells: list[Cell] = []
    python: list[str] = []
    first = 1
    for number, cell in enumerate(data["cells"], start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        parts = spans.get(number - 1)
        if parts is None or not isinstance(source, (str, list)) or not all(isinstance(s, str) for s in source):
            raise NotebookError(f"cell {number} has no source text (a string or a list of strings)")
        span, tokens = parts
        text_of_cell = source if isinstance(source, str) else "".join(source)
        lines = _LINE.findall(text_of_cell)
        # Each line's file line: that of the JSON string where the line starts.
        starts, offset = [], 0
        for line in lines:
            starts.append(offset)
            offset += len(line)
        pieces = [json.loads(text[a:b]) for a, b in tokens] if isinstance(source, list) else [text_of_cell]
        bounds, at = [], 0
        for piece in pieces:
            bounds.append(at)
            at += len(piece)
        file_lines = tuple(
            file_line(tokens[max(0, bisect.bisect_right(bounds, s) - 1)][0]) if tokens else file_line(span[0])
            for s in starts
        )
        if language != "python":
            code, skipped, ipython = ["\n"] * len(lines), f"the notebook's language is {language}", ()
        else:
            code, skipped, ipython = python_lines(lines)
        if code and not code[-1].endswith(("\n", "\r")):  # the next cell starts on a line of its own
            code[-1] += "\n"
        python.extend(code)
        cells.append(Cell(number, text_of_cell, first, file_lines, span, tuple(tokens), skipped, tuple(ipython)))
        first += len(lines)
    joined = _future_imports_first("".join(python))
    return Notebook(path, text, joined, tuple(cells), language)


def _language(metadata: dict[str, Any]) -> str:
    for key, field in (("kernelspec", "language"), ("language_info", "name")):
        value = metadata.get(key)
        if isinstance(value, dict) and isinstance(value.get(field), str) and value[field]:
            return value[field].lower()
    return "python"


def _source_spans(text: str, start: int) -> dict[int, tuple[tuple[int, int], list[tuple[int, int]]]]:
    """For each cell (0-based): the offsets of its ``source`` value and of each string in it."""
    out: dict[int, tuple[tuple[int, int], list[tuple[int, int]]]] = {}

    def members(i: int, visit) -> int:  # an object at i: calls visit(key, offset) per member, returns its end
        i = _ws(text, i + 1)
        if text[i] == "}":
            return i + 1
        while True:
            key, i = json.decoder.scanstring(text, i + 1)
            i = _ws(text, _ws(text, i) + 1)  # past the colon
            i = _ws(text, visit(key, i))
            if text[i] == "}":
                return i + 1
            i = _ws(text, i + 1)  # past the comma

    def skip(i: int) -> int:
        return _DECODER.raw_decode(text, i)[1]

    def top(key: str, i: int) -> int:
        if key != "cells" or text[i] != "[":
            return skip(i)
        i = _ws(text, i + 1)
        index = 0
        while text[i] != "]":
            i = members(i, lambda k, j, index=index: source(index, k, j)) if text[i] == "{" else skip(i)
            index += 1
            i = _ws(text, i)
            if text[i] == ",":
                i = _ws(text, i + 1)
        return i + 1

    def source(index: int, key: str, i: int) -> int:
        if key != "source":
            return skip(i)
        if text[i] == '"':
            end = skip(i)
            out[index] = ((i, end), [(i, end)])
            return end
        if text[i] != "[":
            return skip(i)
        strings, j = [], _ws(text, i + 1)
        while text[j] != "]":
            end = skip(j)
            strings.append((j, end))
            j = _ws(text, end)
            if text[j] == ",":
                j = _ws(text, j + 1)
        out[index] = ((i, j + 1), strings)
        return j + 1

    members(_ws(text, start), top)
    return out


def _ws(text: str, i: int) -> int:
    return _WHITESPACE.match(text, i).end()


# -- IPython syntax ------------------------------------------------------------------------------


def python_lines(lines: list[str]) -> tuple[list[str], str, list[int]]:
    """A cell's lines as Python: (lines, why the whole cell is blank or "", cell lines of IPython syntax blanked)."""
    blank = [_ending(line) for line in lines]
    out = list(lines)
    ipython: list[int] = []
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        name = lines[first][2:].split(maxsplit=1)[0] if lines[first][2:].strip() else ""
        if name not in PYTHON_CELL_MAGICS:
            return blank, f"a %%{name} cell", []
        out[first] = blank[first]
        ipython.append(first + 1)
    for i, line in enumerate(lines):
        if (i == first and ipython) or not _IPYTHON.match(line) or not _starts_statement(out[:i]):
            continue
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        out[i] = (indent + "pass" if indent else "") + blank[i]
        ipython.append(i + 1)
    try:  # compiled, not only parsed: ``await`` or ``return`` outside a function fail here, as in a module
        with warnings.catch_warnings():  # an invalid escape warns when the cell runs, not here
            warnings.simplefilter("ignore")
            compile("".join(out), "<cell>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return blank, f"a syntax error at line {exc.lineno}: {exc.msg}", []
    except (ValueError, RecursionError, MemoryError) as exc:
        return blank, f"it cannot be parsed ({type(exc).__name__})", []
    return out, "", ipython


def split_lines(text: str) -> list[str]:
    """Lines with their endings, broken where Python breaks them (``str.splitlines`` also breaks at form feeds)."""
    return _LINE.findall(text)


def _ending(line: str) -> str:
    stripped = line.rstrip("\r\n")
    return line[len(stripped) :] or "\n"


def _starts_statement(before: list[str]) -> bool:
    """Whether a line after ``before`` starts a logical line (not inside brackets, a string or a continuation)."""
    text = "".join(before)
    if not text.strip():
        return True
    if not text.endswith(("\n", "\r")):
        text += "\n"
    try:
        for _ in tokenize.generate_tokens(io.StringIO(text).readline):
            pass
    except (tokenize.TokenError, SyntaxError):
        return False
    return True


def _future_imports_first(source: str) -> str:
    """Blank a ``from __future__`` import that follows other statements (legal in a cell, not in a module)."""
    if "__future__" not in source:
        return source
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return source
    late = []
    seen_other = False
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            if seen_other:
                late.append(node)
        else:
            seen_other = True
    if not late:
        return source
    lines = _LINE.findall(source)
    for node in late:
        for n in range(node.lineno - 1, (node.end_lineno or node.lineno)):
            lines[n] = _ending(lines[n])
    return "".join(lines)


# -- findings in cells ----------------------------------------------------------------------------


def place(path: str, line: int) -> tuple[int, int, int] | None:
    """(cell, line in the cell, line of the notebook file) of a line of a notebook's joined source."""
    try:
        notebook = read_notebook(path)
    except (OSError, NotebookError):
        return None
    found = notebook.where(line)
    if found is None:
        return None
    cell, cell_line = found
    return cell.number, cell_line, cell.file_lines[cell_line - 1]


def in_cells(finding: Finding) -> Finding:
    """A finding on a notebook's joined source, located in the notebook: ``cell``, ``cell_line`` and, as
    ``line``, the notebook file's line."""
    if not is_notebook(finding.file) or not finding.line or finding.cell is not None:
        return finding
    found = place(finding.file, finding.line)
    if found is None:
        return finding
    cell, cell_line, line = found
    return dataclasses.replace(finding, line=line, cell=cell, cell_line=cell_line)

"""Inline suppressions: ``# netlint: ignore[NL002]`` (or ``# netlint: ignore``) on the line a finding points to.

Comments are read with ``tokenize``, so text inside strings never counts. The grammar is strict, so a
typo can never widen into a blanket ignore: ``ignore`` is followed either by ``[codes or names]`` right
away, or by the end of the comment (or another ``#`` comment, such as ``# noqa``). Anything else
(``# netlint:ignore [NL002]``, ``ignore[]``, ``# netlint: ignroe``, an unknown rule) is kept as a
malformed suppression that suppresses nothing and is reported as NL900 with the reason.

In a notebook the comments of its joined code cells count; a suppression there is located like a
finding (``cell``, ``cell_line`` and the notebook file's ``line``), and matches a finding at the same place.
"""

from __future__ import annotations

import difflib
import functools
import io
import re
import tokenize
from dataclasses import dataclass

# "netlint" as a word after a "#", then whatever follows up to the next "#".
_DIRECTIVE = re.compile(r"#\s*netlint\b(?P<rest>[^#]*)", re.I)
_IGNORE = re.compile(r"\s*:\s*ignore(?P<after>.*)$", re.I | re.S)


@dataclass(frozen=True)
class Suppression:
    file: str
    line: int
    column: int
    codes: frozenset[str] | None  # None: every code
    problem: str = ""  # why a malformed comment suppresses nothing
    written: str = ""  # the comment as written (for malformed ones)
    unknown: tuple[str, ...] = ()  # names in the brackets that are not rules
    cell: int | None = None  # in a notebook: the cell and the line in it (``line`` is the file's line)
    cell_line: int | None = None

    @property
    def place(self) -> tuple[int, int | None, int | None]:
        """What a finding it covers shares with it: (line, cell, cell line)."""
        return self.line, self.cell, self.cell_line

    def covers(self, code: str) -> bool:
        if self.problem:
            return False
        return self.codes is None or code in self.codes

    @property
    def text(self) -> str:
        if self.problem:
            return self.written
        shown = sorted(self.codes or ()) + list(self.unknown)
        return "# netlint: ignore" + (f"[{', '.join(shown)}]" if self.codes is not None else "")


def parse_comment(comment: str) -> list[tuple[int, frozenset[str] | None, str, str, tuple[str, ...]]]:
    """``(column in the comment, codes or None, problem, written text, unknown names)`` per directive."""
    from ..rules import BY_CODE, BY_NAME

    found = []
    for match in _DIRECTIVE.finditer(comment):
        written = match.group(0).rstrip()
        rest = match.group("rest")
        ignore = _IGNORE.match(rest)
        if ignore is None:
            word = re.match(r"\s*:?\s*([A-Za-z_-]*)", rest).group(1)
            missing_colon = bool(re.match(r"\s+ignore\b", rest, re.I))
            if not missing_colon and not difflib.get_close_matches(word.lower(), ["ignore"], cutoff=0.6):
                continue  # prose that mentions netlint, not a directive
            problem = "write it as `# netlint: ignore[CODE]`" + (
                " (a colon after netlint)" if missing_colon else f" (`{word}` is not a netlint directive)"
            )
            found.append((match.start(), None, problem, written, ()))
            continue
        after = ignore.group("after")
        if not after.strip():
            found.append((match.start(), None, "", written, ()))
            continue
        if not after.startswith("["):
            if after.lstrip().startswith("["):
                problem = "no space is allowed between `ignore` and `[`"
            else:
                problem = f"unexpected text after `ignore`: {after.strip()!r} (codes go in brackets: `ignore[NL002]`)"
            found.append((match.start(), None, problem, written, ()))
            continue
        close = after.find("]")
        if close < 0:
            found.append((match.start(), None, "the `[` is never closed", written, ()))
            continue
        items = [item.strip() for item in after[1:close].split(",")]
        if not any(items):
            found.append((match.start(), None, "empty brackets: name the codes to ignore", written, ()))
            continue
        if "" in items:
            found.append((match.start(), None, "an empty entry between commas", written, ()))
            continue
        codes, unknown = set(), []
        for item in items:
            if item.upper() in BY_CODE:
                codes.add(item.upper())
            elif item.lower() in BY_NAME:
                codes.add(BY_NAME[item.lower()].code)
            else:
                unknown.append(item)
        found.append((match.start(), frozenset(codes), "", written, tuple(unknown)))
    return found


def suppressions_in(path: str) -> tuple[Suppression, ...]:
    """Every suppression comment of a Python file, malformed ones included (none if it cannot be read)."""
    from ..source import file_stamp

    return _suppressions_in(path, file_stamp(path))


@functools.lru_cache(maxsize=1024)
def _suppressions_in(path: str, stamp: tuple[int, int] | None) -> tuple[Suppression, ...]:
    from ..cells import NotebookError, is_notebook, read_notebook

    notebook = None
    try:
        if is_notebook(path):
            notebook = read_notebook(path)
            source = notebook.python.encode("utf-8")
        else:
            with open(path, "rb") as fh:
                source = fh.read()
    except (OSError, NotebookError):
        return ()
    found = []
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type != tokenize.COMMENT:
                continue
            line, cell, cell_line = tok.start[0], None, None
            if notebook is not None and (where := notebook.where(line)) is not None:
                cell, cell_line = where[0].number, where[1]
                line = where[0].file_lines[cell_line - 1]
            for column, codes, problem, written, unknown in parse_comment(tok.string):
                found.append(
                    Suppression(
                        path, line, tok.start[1] + column + 1, codes, problem, written, unknown, cell, cell_line
                    )
                )
    except (tokenize.TokenError, SyntaxError):
        return tuple(found)
    return tuple(found)

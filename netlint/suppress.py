"""Inline suppressions: ``# netlint: ignore[NL002]`` (or ``# netlint: ignore``) on the line a finding points to.

Comments are read with ``tokenize``, so text inside strings never counts.
"""

from __future__ import annotations

import functools
import io
import re
import tokenize
from dataclasses import dataclass

_PATTERN = re.compile(r"#\s*netlint:\s*ignore(?:\[([A-Za-z0-9_,\s-]*)\])?", re.I)


@dataclass(frozen=True)
class Suppression:
    file: str
    line: int
    column: int
    codes: frozenset[str] | None  # None: every code

    def covers(self, code: str) -> bool:
        return self.codes is None or code in self.codes

    @property
    def text(self) -> str:
        return "# netlint: ignore" + (f"[{', '.join(sorted(self.codes))}]" if self.codes is not None else "")


@functools.lru_cache(maxsize=1024)
def suppressions_in(path: str) -> tuple[Suppression, ...]:
    """Every suppression comment of a Python file (none if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            source = fh.read()
    except OSError:
        return ()
    found = []
    try:
        for tok in tokenize.tokenize(io.BytesIO(source).readline):
            if tok.type != tokenize.COMMENT:
                continue
            match = _PATTERN.search(tok.string)
            if match is None:
                continue
            codes = None
            if match.group(1) is not None:
                codes = frozenset(c.strip().upper() for c in match.group(1).split(",") if c.strip())
            found.append(Suppression(path, tok.start[0], tok.start[1] + match.start() + 1, codes))
    except (tokenize.TokenError, SyntaxError):
        return tuple(found)
    return tuple(found)

"""Which PyTorch classification losses some Python files use, read from their syntax trees.

Files are parsed, never imported (a training script may start training at import). Only names
count, resolved through the file's imports (``nn.CrossEntropyLoss`` after ``from torch import
nn``, ``ce`` after ``from torch.nn.functional import cross_entropy as ce``): strings and comments
never do. No torch here.
"""

from __future__ import annotations

import ast
import functools
import os
from collections.abc import Iterable

from ..loss_names import LOG_PROBABILITY_LOSSES, LOGITS_LOSSES, PROBABILITY_LOSSES

_KNOWN = {**LOGITS_LOSSES, **LOG_PROBABILITY_LOSSES, **PROBABILITY_LOSSES}
# Other spellings of the same objects (prefixes).
_ALIASES = {
    "torch.nn.modules.loss.": "torch.nn.",
    "torch.binary_cross_entropy_with_logits": "torch.nn.functional.binary_cross_entropy_with_logits",
}


def losses_in_sight(paths: Iterable[str | None]) -> frozenset[str]:
    """The display names (``nn.CrossEntropyLoss``) of the known losses that any of ``paths`` uses."""
    found: set[str] = set()
    for path in paths:
        if path:
            found |= losses_in_file(os.path.abspath(path))
    return frozenset(found)


def target_files(targets: Iterable[str]) -> list[str]:
    """The Python files and notebooks that check targets name: ``file.py``, ``file.py:Name``, every file of a directory."""
    from .targets import is_source_file, python_files, split_target

    files: list[str] = []
    for target in targets:
        path = split_target(target)[0]
        if os.path.isdir(path):
            files.extend(python_files(path))
        elif is_source_file(path) and os.path.isfile(path):
            files.append(path)
    return files


@functools.lru_cache(maxsize=1024)
def losses_in_file(path: str) -> frozenset[str]:
    """Of a notebook, every code cell counts (a training cell is read, never run)."""
    from .scan import read_source

    try:
        tree = ast.parse(read_source(path), filename=path)
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, LookupError):
        return frozenset()
    return frozenset(_KNOWN[name] for name in _used_names(tree) if name in _KNOWN)


def _used_names(tree: ast.AST) -> set[str]:
    """Qualified names of the torch objects that the file's names and attributes refer to."""
    aliases: dict[str, str] = {}
    starred: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                if a.name == "*":
                    starred.append(node.module)
                else:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute)):
            dotted = _dotted(node, aliases)
            if dotted is not None:
                names.add(_normalise(dotted))
            elif isinstance(node, ast.Name) and starred:
                names.update(_normalise(f"{module}.{node.id}") for module in starred)
    return names


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base is not None else None
    return None


def _normalise(name: str) -> str:
    for prefix, replacement in _ALIASES.items():
        if name.startswith(prefix):
            return replacement + name[len(prefix) :]
    return name

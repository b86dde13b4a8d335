"""Targets as paths: a target split into its file and name, the key configuration uses for it, the Python files and notebooks of a folder, a file's package root, and the name reports show."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

from ..cells import SUFFIX as NOTEBOOK
from ..source import relpath

_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "dist-packages", "build", "dist"}


def split_target(target: str) -> tuple[str, str]:
    """``dir/file.py:Net(depth=28)`` -> (``dir/file.py``, ``Net(depth=28)``); ``pkg.mod:fn`` -> (``pkg.mod``, ``fn``).

    A file part ends at its ``.py:`` or ``.ipynb:`` (the call may hold colons: ``f.py:Net(cfg={'a': 1})``);
    a package part ends at the first colon. An existing path is a path, whatever it contains.
    """
    if os.path.exists(target):
        return target, ""
    at = _file_part_end(target)
    if at >= 0:
        return target[:at], target[at + 1 :]
    path, _, name = target.partition(":")
    return path, name


def _file_part_end(target: str) -> int:
    """Where the file part of ``file.py:Name`` or ``nb.ipynb:Name`` ends (the colon's index), or -1."""
    ends = [at + len(suffix) for suffix in (".py:", f"{NOTEBOOK}:") if (at := target.find(suffix)) >= 0]
    return min(ends) - 1 if ends else -1


def target_key(target: str, root: str | None = None) -> str:
    """The key of a model target: a file part made absolute (against ``root``), a package part as it is."""
    at = _file_part_end(target)
    if at >= 0:
        path, name = target[:at], target[at + 1 :]
    else:
        path, sep, name = target.partition(":")
        if not sep or not os.path.exists(os.path.join(root or "", path)):
            return target
    return f"{os.path.abspath(os.path.join(root or '', path))}:{name}"


def python_files(directory: str) -> Iterator[str]:
    """The files a folder check reads: Python files and Jupyter notebooks (hidden folders, such as
    ``.ipynb_checkpoints``, virtual environments and build folders skipped)."""
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in _SKIP_DIRS and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))
        )  # fmt: skip
        for f in sorted(files):
            if is_source_file(f):
                yield os.path.join(root, f)


def is_source_file(path: str) -> bool:
    """A Python file or a Jupyter notebook: what netlint checks."""
    return path.endswith(".py") or path.lower().endswith(NOTEBOOK)


def package_root(path: str) -> tuple[str, str]:
    """The folder to put on sys.path and the dotted module name of ``path``."""
    directory, filename = os.path.split(os.path.abspath(path))
    if filename.lower().endswith(NOTEBOOK):  # Jupyter runs a notebook in its folder, never inside a package
        # A name no import of the notebook's own code can mean (model.ipynb may import model.py).
        return directory, re.sub(r"\W", "_", filename[: -len(NOTEBOOK)]) + "_ipynb"
    parts = [filename[:-3]]
    while os.path.exists(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    if parts[-1] == "__init__":
        parts.pop()
    return directory, ".".join(parts)


def display_target(target: str) -> str:
    """A target as reports name it: a file part relative to the working directory."""
    path, is_module = target_path(target)
    if is_module:
        return target
    return (relpath(path) or path) + target[len(path) :]


def target_path(target: str) -> tuple[str, bool]:
    """The path part of a target, and whether it names an importable module (``pkg.mod:name``)."""
    path, name = split_target(target)
    if not name:
        return target, False
    return path, not is_source_file(path) and not os.path.exists(path)

"""Targets as paths: a target split into its file and name, the key configuration uses for it, the Python files and notebooks of a folder, a file's package root, and the name reports show."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

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


@dataclass
class Walk:
    """The Python files below a folder, and every path below it that the walk could not use, with why."""

    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(
        default_factory=list
    )  # notes: "dir/x.py: cannot read it (permission denied), not checked"
    unreadable: str | None = None  # why the folder itself cannot be listed


def walk_python_files(directory: str) -> Walk:
    """Every Python file and notebook below ``directory`` once (hidden folders, virtual environments and build
    output skipped), in a stable order.

    Nothing is skipped silently: a folder that cannot be listed, a file that cannot be read, a
    broken symbolic link or a link loop is named in ``skipped``; a link to a file checked already is
    checked once; links to folders are not followed (no loops) and are named.
    """
    out = Walk()
    found = list(_candidates(directory, out))
    seen: dict[str, str] = {}  # real path -> the path it is checked under
    links = []
    for path in found:
        if os.path.islink(path):
            links.append(path)  # links after the files themselves: a file is checked under its own name
            continue
        seen.setdefault(os.path.realpath(path), path)
    for path in links:
        real = os.path.realpath(path)
        if real in seen:
            out.skipped.append(f"{_shown(path)}: a symbolic link to {_shown(seen[real])}, which is checked already")
        else:
            seen[real] = path
    for path in found:
        if seen.get(os.path.realpath(path)) != path:
            continue
        why = unreadable_file(path)
        if why is None:
            out.files.append(path)
        else:
            out.skipped.append(f"{_shown(path)}: {why}, not checked")
    return out


def python_files(directory: str) -> Iterator[str]:
    """The files a folder check reads (Python files and Jupyter notebooks; hidden folders such as
    ``.ipynb_checkpoints``, virtual environments and build folders skipped), lazily, without the checks
    of ``walk_python_files`` (for questions about the tree, such as which files a glob matches)."""
    return _candidates(directory, Walk())


def _candidates(directory: str, out: Walk) -> Iterator[str]:
    """The walk itself: folders in sorted order, the folders netlint never checks left out, what cannot be
    listed and links to folders noted in ``out``."""
    top = os.path.abspath(directory)

    def failed(exc: OSError) -> None:
        if os.path.abspath(exc.filename or directory) == top:
            out.unreadable = describe_os_error(exc)
        else:
            out.skipped.append(f"{_shown(exc.filename)}: cannot list this folder ({describe_os_error(exc)}), "
                               "its files were not checked")  # fmt: skip

    for root, dirs, files in os.walk(directory, onerror=failed):
        kept = []
        for d in sorted(dirs):
            path = os.path.join(root, d)
            if d.startswith(".") or d in _SKIP_DIRS or os.path.exists(os.path.join(path, "pyvenv.cfg")):
                continue
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real == top or real.startswith(top + os.sep):
                    why = "a symbolic link to a folder inside this one, not followed"
                else:
                    why = f"a symbolic link to a folder outside it, not followed (check {_shown(real)} itself)"
                out.skipped.append(f"{_shown(path)}: {why}")
                continue
            kept.append(d)
        dirs[:] = kept
        yield from (os.path.join(root, f) for f in sorted(files) if is_source_file(f))


def unreadable_file(path: str) -> str | None:
    """Why ``path`` cannot be read as a source file (a broken link, a link loop, permissions), or None."""
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        why = describe_os_error(exc, path)
        return why if why.startswith("a ") else f"cannot read it ({why})"
    return None


def describe_os_error(exc: OSError, path: str | None = None) -> str:
    """An OSError in words: "permission denied", "a broken symbolic link (to nowhere.py)", "a symbolic link loop"."""
    path = path or exc.filename
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    if exc.errno == errno.ENOENT and path and os.path.islink(path):
        return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
    text = (exc.strerror or str(exc)).rstrip(".")
    return text[:1].lower() + text[1:]


def _shown(path: str) -> str:
    return relpath(path) or path


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

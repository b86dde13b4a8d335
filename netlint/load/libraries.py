"""Installed libraries read as files, never imported: where one lives, and whether it uses torch.

Whether a call into a library (``tinylib.small_net()``) may build a model is told by importing that
library, which costs seconds when it imports torch. A library whose source never imports torch can
define no ``torch.nn.Module`` class and build no model, so reading its files (a few milliseconds,
no code run) settles it without that import: a plain file that uses such libraries stays plain.
"""

from __future__ import annotations

import importlib.util
import os
import re

from .known import TORCH_PACKAGES

INSTALLED = re.compile(r"[/\\](site|dist)-packages[/\\]")  # a path inside an installed library

# ``import torch``, ``from torch.nn import Module``, ``import numpy as np, torchvision``: at any indentation
# (libraries often import torch lazily, inside a function or under an availability test).
_ROOTS = "|".join(sorted((p for p in TORCH_PACKAGES if "torch" in p), key=len, reverse=True))
_TORCH_IMPORT = re.compile(
    rf"^[ \t]*(?:from[ \t]+(?:{_ROOTS})\b|import[ \t]+(?:[\w.]+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*(?:{_ROOTS})\b)".encode(),
    re.MULTILINE,
)
_SKIPPED_FOLDERS = frozenset({"__pycache__", "tests", "test"})
_MAX_FILES = 4000  # a library this large with no torch import in its first files is taken for one without
_uses_torch: dict[tuple[str, tuple[str, ...]], bool] = {}


def installed_locations(package: str) -> list[str] | None:
    """The files or folders of the installed top-level package or module ``package``; None when it is not
    installed (not found, or found outside site-packages: then it is the user's code)."""
    try:  # a top-level name: finding it imports nothing
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    locations = list(spec.submodule_search_locations or []) or ([spec.origin] if spec.origin else [])
    if not locations or not all(INSTALLED.search(p) for p in locations):
        return None
    return locations


def uses_torch(package: str) -> bool | None:
    """Whether one of the source files of the installed library ``package`` imports torch (or a package
    built on it: torchvision, pytorch_lightning...); None when ``package`` is not installed.

    Files are read breadth-first from the package's top (its ``__init__`` and top modules first, where
    torch libraries import it), tests left out, and at most ``_MAX_FILES`` of them.
    """
    if package in TORCH_PACKAGES:
        return True
    locations = installed_locations(package)
    if locations is None:
        return None
    key = (package, tuple(locations))
    if key not in _uses_torch:
        _uses_torch[key] = _any_imports_torch(locations)
    return _uses_torch[key]


def _any_imports_torch(locations: list[str]) -> bool:
    queue = list(locations)
    read = 0
    while queue and read < _MAX_FILES:
        where = queue.pop(0)
        if os.path.isfile(where):
            files, folders = [where], []
        else:
            try:
                entries = sorted(os.scandir(where), key=lambda e: e.name)
            except OSError:
                continue
            files = [e.path for e in entries if e.name.endswith(".py") and e.is_file()]
            folders = [e.path for e in entries if e.is_dir() and e.name not in _SKIPPED_FOLDERS and e.name[0] != "."]
        for path in files[: _MAX_FILES - read]:
            read += 1
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                continue
            if b"torch" in data and _TORCH_IMPORT.search(data):  # the substring test first: it is 100x faster
                return True
        queue.extend(folders)
    return False

"""Where in the source a layer was defined and a functional op was called.

A finding must point at the line the user can change, and name the layer as the user reads it
(``shown_path``). For a layer that is where its constructor
ran (``self.conv = nn.Conv2d(...)``); for a functional op, the call in ``forward``. When that line
lies in library code (torchvision builds its layers in ``make_layers``), the user's own line that
led there (``self.backbone = vgg16_bn()``) is preferred and the library line is kept as origin.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import os
import sys
import sysconfig
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

_NETLINT_DIR = os.path.dirname(os.path.abspath(__file__))
_RULES_DIR = os.path.join(os.path.dirname(_NETLINT_DIR), "rules")
# The rules' example models are user code, although they live beside the rules.
_EXAMPLES_DIR = os.path.join(_RULES_DIR, "examples") + os.sep

# Frame categories, decided once per code object.
_INTERNAL, _LIBRARY, _USER = 0, 1, 2


def shown_path(module: str) -> str:
    """A module path as messages show it: ``features.3``; ``<root>`` for the model itself; the layers of a bare
    ``nn.Sequential`` or ``ModuleList`` by index, ``[1]`` and ``[0][3].conv``, never a lone number ("at 1")."""
    if not module:
        return "<root>"
    parts = module.split(".")
    lead = 0
    while lead < len(parts) and parts[lead].isdigit():
        lead += 1
    if not lead:
        return module
    return "".join(f"[{p}]" for p in parts[:lead]) + "".join(f".{p}" for p in parts[lead:])


@dataclass(frozen=True)
class Site:
    """A place in the source: the line that ran, and the user's line that led there."""

    file: str
    line: int
    user_file: str | None = None
    user_line: int | None = None

    @property
    def best(self) -> tuple[str, int]:
        if self.user_file is not None and self.user_line is not None:
            return self.user_file, self.user_line
        return self.file, self.line

    @property
    def origin(self) -> tuple[str, int] | None:
        """The library line, when the user's line differs from it."""
        return (self.file, self.line) if self.user_file is not None and self.best != (self.file, self.line) else None


@functools.lru_cache(maxsize=1)
def _prefixes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    import torch

    internal = [os.path.dirname(os.path.abspath(torch.__file__)) + os.sep, _NETLINT_DIR + os.sep, _RULES_DIR + os.sep]
    paths = sysconfig.get_paths()
    library = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    library |= {p for p in sys.path if p.rstrip(os.sep).endswith(("site-packages", "dist-packages"))}
    return tuple(internal), tuple(os.path.abspath(p) + os.sep for p in library if p)


_code_kind: dict[object, int] = {}


def _kind(code) -> int:
    kind = _code_kind.get(code)
    if kind is None:
        internal, library = _prefixes()
        name = code.co_filename
        if name.startswith(_EXAMPLES_DIR):
            kind = _USER
        elif name.startswith("<frozen") or name.startswith(internal):
            kind = _INTERNAL
        elif name.startswith("<") or name.startswith(library):
            kind = _LIBRARY
        else:
            kind = _USER
        _code_kind[code] = kind
    return kind


def site_of_frame(frame: FrameType | None, skip=lambda f: False) -> Site | None:
    """The first frame outside torch and netlint, and the first in user code, from ``frame`` up.

    Only frames that netlint called count: its caller (a console script, ``runpy``, a test runner,
    the script that called the API) is never the place of a layer.
    """
    frames = within_netlint(_outward(frame))
    first: tuple[str, int] | None = None
    for frame in frames:
        if not skip(frame):
            kind = _kind(frame.f_code)
            if kind != _INTERNAL:
                here = (frame.f_code.co_filename, frame.f_lineno)
                if kind == _USER:
                    if first is None:
                        return Site(*here)
                    return Site(first[0], first[1], *here)
                if first is None and not _is_stdlib(frame.f_code.co_filename):
                    first = here
    return Site(*first) if first else None


def _outward(frame: FrameType | None) -> list[FrameType]:
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


_netlint_code: dict[object, bool] = {}


def _is_netlint(code) -> bool:
    found = _netlint_code.get(code)
    if found is None:
        found = _netlint_code[code] = code.co_filename.startswith(_NETLINT_DIR + os.sep)
    return found


def within_netlint(frames: list[FrameType]) -> list[FrameType]:
    """``frames`` (innermost first) without those outside netlint's outermost own frame: its callers'."""
    for index in range(len(frames) - 1, -1, -1):
        if _is_netlint(frames[index].f_code):
            return frames[: index + 1]
    return frames


def _is_stdlib(filename: str) -> bool:
    return filename.startswith((_stdlib() + os.sep, "<")) and "site-packages" not in filename


@functools.lru_cache(maxsize=1)
def _stdlib() -> str:
    return sysconfig.get_paths()["stdlib"]  # about 1 ms a call: once, not once per recorded node


def call_site() -> Site | None:
    """Site of the user's call that is running now (used while tracing or recording)."""
    return site_of_frame(sys._getframe(1))


def stack_lines(limit: int = 64) -> tuple[tuple[str, int], ...]:
    """``(file, line)`` of every running frame outside torch and netlint, innermost first: the lines of
    user and library code that led to an op (a decision in a helper, and forward's line that called it)."""
    lines = []
    frame = sys._getframe(1)
    while frame is not None and len(lines) < limit:
        if _kind(frame.f_code) != _INTERNAL:
            lines.append((frame.f_code.co_filename, frame.f_lineno))
        frame = frame.f_back
    return tuple(lines)


class CreationSites:
    """Records where every ``nn.Module`` is created while active (a context manager).

    It wraps ``nn.Module.__init__`` (the start of every layer's construction) and
    ``nn.Module.__setstate__`` (``copy.deepcopy`` clones, as in ``nn.TransformerEncoder``).
    The model is never touched: sites live in a weak dictionary beside it.
    """

    def __init__(self) -> None:
        self.sites: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @contextlib.contextmanager
    def recording(self) -> Iterator[CreationSites]:
        import torch.nn as nn

        original_init, original_setstate = nn.Module.__init__, nn.Module.__setstate__
        sites = self.sites

        def init(module, *args, **kwargs):
            _record(sites, module)
            original_init(module, *args, **kwargs)

        def setstate(module, state):
            original_setstate(module, state)
            _record(sites, module)

        functools.update_wrapper(init, original_init)
        nn.Module.__init__ = init
        nn.Module.__setstate__ = setstate
        try:
            yield self
        finally:
            nn.Module.__init__ = original_init
            nn.Module.__setstate__ = original_setstate

    def get(self, module) -> Site | None:
        return self.sites.get(module)


def _record(sites, module) -> None:
    if module in sites:
        return

    # Skip the chain of __init__ frames that construct this very module (subclass inits).
    def constructing(frame: FrameType) -> bool:
        code = frame.f_code
        if code.co_name not in ("__init__", "__setstate__", "init", "setstate") or not code.co_varnames:
            return False
        return frame.f_locals.get(code.co_varnames[0]) is module

    try:
        site = site_of_frame(sys._getframe(2), skip=constructing)
    except Exception:  # never let bookkeeping break the user's constructor
        return
    if site is not None:
        sites[module] = site


def module_sites(root, recorded: CreationSites | None) -> dict[str, Site]:
    """Site of every module in ``root`` by path: recorded at creation, else found in the source.

    A layer whose site lies in library code inherits the user's line of its nearest ancestor
    that has one (the ``self.backbone = vgg16_bn()`` behind ``backbone.features.0``).
    """
    out: dict[str, Site] = {}
    built: dict[str, _Built | None] = {}  # path -> the call that built it, read from the source
    for path, module in root.named_modules(remove_duplicate=False):
        if path in out:
            continue
        parent = out.get(path.rpartition(".")[0]) if path else None
        site = recorded.get(module) if recorded is not None else None
        if site is None:
            found = built[path] = _built(root, path, module, built)
            site = (Site(found.file, found.node.lineno) if found else None) or parent
            site = site or (_class_site(type(module)) if not path else None)
        if site is not None and site.user_file is None and parent is not None and not is_user_file(site.file):
            user = parent.best
            if is_user_file(user[0]):
                site = Site(site.file, site.line, *user)
        if site is not None:
            out[path] = site
    return out


def attribute_site(root, path: str) -> Site | None:
    """Where ``path`` (a module or a parameter) is assigned as ``self.<name> = ...`` in its owner's class;
    for the root (``""``), its class statement."""
    return _assignment_site(root, path) if path else _class_site(type(root))


def _assignment_site(root, path: str) -> Site | None:
    found = _assignment(root, path)
    return Site(found.file, found.node.lineno) if found else None


@dataclass(frozen=True)
class _Built:
    """An expression in the source that built a module, and the names visible there."""

    file: str
    node: ast.expr
    names: dict[str, Any]  # the globals of the code it is in (to follow a call into a helper function)


def _assignment(root, path: str) -> _Built | None:
    """``self.<name> = ...`` in the parent's class source, for models built before netlint ran."""
    if not path:
        return None
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    for cls in type(parent).__mro__:
        if cls.__module__.startswith("torch.") or cls is object:
            continue
        found = _find_self_assignment(cls, name)
        if found is not None:
            module = sys.modules.get(cls.__module__)
            return _Built(found[0], found[1], vars(module) if module is not None else {})
    return None


def _built(root, path: str, module, built: dict[str, _Built | None]) -> _Built | None:
    """The call that built ``module``, read from the source of a model built before netlint ran.

    Its owner's ``self.<name> = ...``; else (a layer inside an ``nn.Sequential``, a ``ModuleList``...)
    the call of its class inside the expression or helper function that built its container: the only
    such call there, or the k-th of as many calls as the container has layers of that class. Without
    a clear answer, None (the container's line is used).
    """
    found = _assignment(root, path)
    if found is not None or not path:
        return found
    parent_path = path.rpartition(".")[0]
    container = built.get(parent_path)
    if container is None:
        return None
    parent = root.get_submodule(parent_path) if parent_path else root
    kind = type(module)
    siblings = [m for m in parent.children() if type(m) is kind]
    index = next((i for i, m in enumerate(siblings) if m is module), None)
    if index is None:
        return None
    for scope in _scopes(container):
        calls = sorted(
            (n for n in ast.walk(scope.node) if isinstance(n, ast.Call) and _callee(n) == kind.__name__),
            key=lambda n: (n.lineno, n.col_offset),
        )
        if len(calls) == 1 or (calls and len(calls) == len(siblings)):
            return _Built(scope.file, calls[index if len(calls) > 1 else 0], scope.names)
        if calls:
            return None  # ambiguous: never a guess
    return None


def _scopes(built: _Built) -> Iterator[_Built]:
    """Where the layers of a container built by ``built`` were made, nearest first: inside the helper
    function it calls (``conv_block(3, 32)``); else inside the call itself (``nn.Sequential(nn.Conv2d(...),
    ...)``), then inside the one helper that call uses (``nn.ModuleList([block(c) for c in sizes])``), then
    in the function around it when it takes a list made there (``nn.Sequential(*layers)``)."""
    node = built.node
    helper = _helper(node, built.names)
    if helper is not None:
        yield helper
        return
    yield built
    helpers = {h.node: h for n in ast.walk(node) if (h := _helper(n, built.names)) is not None}
    if len(helpers) == 1:
        yield from helpers.values()
    if isinstance(node, ast.Call) and any(isinstance(a, ast.Starred) for a in node.args):
        tree = _parse(built.file)
        around = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                  and n.lineno <= node.lineno <= (n.end_lineno or n.lineno)] if tree else []  # fmt: skip
        if around:
            yield _Built(built.file, max(around, key=lambda n: n.lineno), built.names)


def _helper(node: ast.AST, names: dict[str, Any]) -> _Built | None:
    """The body of the user's function that ``node`` calls, if it is such a call."""
    if not isinstance(node, ast.Call):
        return None
    function = _resolve(node.func, names)
    if not inspect.isfunction(function) or not is_user_file(function.__code__.co_filename):
        return None
    definition = _function_node(function)
    return _Built(function.__code__.co_filename, definition, function.__globals__) if definition else None


def _resolve(expr: ast.expr, names: dict[str, Any]) -> Any:
    """The object a name or a dotted attribute refers to in ``names``, or None."""
    if isinstance(expr, ast.Name):
        return names.get(expr.id)
    if isinstance(expr, ast.Attribute):
        owner = _resolve(expr.value, names)
        return getattr(owner, expr.attr, None) if owner is not None else None
    return None


def _function_node(function) -> ast.AST | None:
    tree = _parse(function.__code__.co_filename)
    if tree is None:
        return None
    first = function.__code__.co_firstlineno  # the first decorator's line, or the def's
    for node in ast.walk(tree):
        if (
            isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.name == function.__name__
            and first in (node.lineno, *(d.lineno for d in node.decorator_list))
        ):
            return node
    return None


def _file_kind(file: str) -> int:
    internal, library = _prefixes()
    if file.startswith(_EXAMPLES_DIR):
        return _USER
    if file.startswith(internal):
        return _INTERNAL
    return _LIBRARY if file.startswith(library) or file.startswith("<") else _USER


def is_user_file(file: str) -> bool:
    """Whether ``file`` is the user's code (not torch, netlint, the standard library or site-packages)."""
    return _file_kind(file) == _USER


@functools.lru_cache(maxsize=512)
def _find_self_assignment(cls: type, name: str) -> tuple[str, ast.AST] | None:
    try:
        file = inspect.getsourcefile(cls)
        lines, start = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    if not file:
        return None
    tree = _parse(file)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__ and node.lineno <= start + len(lines):
            for sub in ast.walk(node):
                targets = []
                if isinstance(sub, ast.Assign):
                    targets = sub.targets
                elif isinstance(sub, (ast.AnnAssign, ast.AugAssign)):
                    targets = [sub.target]
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and target.attr == name
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                    ):
                        return file, sub.value if sub.value is not None else sub
    return None


def _class_site(cls: type) -> Site | None:
    try:
        file = inspect.getsourcefile(cls)
        _, line = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return None
    return Site(file, line) if file else None


def file_stamp(path: str) -> tuple[int, int] | None:
    """Modification time and size: part of a cache key, so that a file edited in a long-lived process
    (a user's test suite calling the API) is read again."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _parse(file: str) -> ast.Module | None:
    return _parse_stamped(file, file_stamp(file))


@functools.lru_cache(maxsize=256)
def _parse_stamped(file: str, stamp: tuple[int, int] | None) -> ast.Module | None:
    from .cells import is_notebook, read_notebook

    try:
        if is_notebook(file):  # its code cells joined, as the loader ran them
            return ast.parse(read_notebook(file).python, file)
        with open(file, "rb") as fh:
            return ast.parse(fh.read(), file)  # bytes: Python honours a PEP 263 coding declaration
    except (OSError, SyntaxError, ValueError):
        return None


def location(file: str, line: int | None) -> str:
    """A place as reports name it: ``model.py:12``, or in a notebook ``nb.ipynb:cell 4:7``."""
    from .cells import is_notebook, place

    shown = relpath(file) or file
    found = place(os.path.abspath(file), line) if line and is_notebook(file) else None
    if found is not None:
        return f"{shown}:cell {found[0]}:{found[1]}"
    return f"{shown}:{line}" if line else shown


def relpath(file: str | None, base: str | None = None) -> str | None:
    """A path relative to ``base`` (the working directory) when it lies below it."""
    if file is None:
        return None
    base = os.path.abspath(base or os.getcwd())
    absolute = os.path.abspath(file)
    if absolute.startswith(base + os.sep):
        return os.path.relpath(absolute, base)
    return absolute


def call_argument(file: str, line: int, name_suffix: str, keyword: str, position: int) -> ast.expr | bool | None:
    """The source expression of one argument of the call ``...name_suffix(...)`` starting at ``line``.

    Returns the expression, None when the argument is absent, and False when no such call is found
    on that line (the source is unavailable or ambiguous).
    """
    tree = _parse(file)
    if tree is None:
        return False
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and node.lineno <= line <= (node.end_lineno or node.lineno)
        and _callee(node).endswith(name_suffix)
    ]
    if len(calls) != 1:
        calls = [c for c in calls if c.lineno == line]
        if len(calls) != 1:
            return False
    call = calls[0]
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
        return call.args[position]
    return None


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""

"""Find the user's models and build them.

Targets: ``file.py`` (its models), ``file.py:Name``, ``package.module:name`` (optionally called with
literal keyword arguments: ``torchvision.models:densenet121(drop_rate=0.2)``) and directories.
Models are built under ``torch.device("meta")``: no weight initialisation, no memory.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .errors import NetlintError, describe_exception
from .scan import FileScan, scan_file
from .source import CreationSites, relpath

_SKIP_DIRS = {"__pycache__", "node_modules", "site-packages", "dist-packages", "build", "dist"}


@dataclass
class ModelSpec:
    """One model to check, and how to build it."""

    name: str
    file: str | None = None
    module: ModuleType | None = None
    factory: Callable[[], Any] | None = None
    instance: Any = None
    sites: CreationSites = field(default_factory=CreationSites)
    key: str = ""  # how a configuration names it: /abs/models.py:Net or package.module:name
    _meta: Any = None

    def meta(self):
        """The model with meta tensors: built under the meta device, or a meta copy of an instance."""
        if self._meta is None:
            self._meta = build_meta(self)
        return self._meta

    def real(self, device: str = "cpu"):
        """A model with real (random, seeded) weights that netlint owns: safe to run and change."""
        import torch

        from .state import preserved_rng

        if self.instance is not None:
            return copy.deepcopy(self.instance).to(device)
        assert self.factory is not None
        with preserved_rng(seed=0, devices=[device]), user_code(), torch.device(device):
            return self.factory()


@dataclass
class Loaded:
    """What a target yielded: models, plus notes on files that held none worth checking."""

    models: list[ModelSpec] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[NetlintError] = field(default_factory=list)
    files: int = 0  # Python files looked at
    whole_files: list[str] = field(default_factory=list)  # files all of whose models are in ``models``

    def extend(self, other: Loaded) -> None:
        self.models.extend(other.models)
        self.notes.extend(other.notes)
        self.errors.extend(other.errors)
        self.files += other.files
        self.whole_files.extend(other.whole_files)


def target_key(target: str, root: str | None = None) -> str:
    """The key of a model target: a file part made absolute (against ``root``), a package part as it is."""
    path, sep, name = target.rpartition(":")
    if sep and (path.endswith(".py") or os.path.exists(os.path.join(root or "", path))):
        return f"{os.path.abspath(os.path.join(root or '', path))}:{name}"
    return target


def resolve(target: str, *, strict: bool = True) -> Loaded:
    """Models of ``target``; raises NetlintError for bad input."""
    path, _, name = target.rpartition(":") if ":" in target else (target, "", "")
    if not name or os.path.exists(target):
        path, name = target, ""
    if name and not path.endswith(".py") and not os.path.exists(path):
        return Loaded([_from_module(path, name)])
    if not os.path.exists(path):
        raise NetlintError(
            target, "no such file or directory.", "Check the path (it is relative to the working directory)."
        )
    if os.path.isdir(path):
        if name:
            raise NetlintError(target, "a directory cannot name a model.", "Use file.py:Name.")
        return _from_directory(path)
    if not path.endswith(".py"):
        raise NetlintError(target, "not a Python file.", "Targets are .py files, directories, or package.module:name.")
    if name:
        return Loaded([_named_from_file(path, name)], files=1)
    return _from_file(path, strict=strict)


# -- directories and files ------------------------------------------------------------------


def python_files(directory: str) -> Iterator[str]:
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in _SKIP_DIRS and not os.path.exists(os.path.join(root, d, "pyvenv.cfg"))
        )  # fmt: skip
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.join(root, f)


def _from_directory(directory: str) -> Loaded:
    out = Loaded()
    for file in python_files(directory):
        try:
            out.extend(_from_file(file, strict=False))
        except NetlintError as exc:  # one bad file does not hide the others
            out.errors.append(exc)
            out.files += 1
    return out


def _scan(path: str) -> FileScan:
    scan = scan_file(path)
    if scan.syntax_error is not None:
        err = scan.syntax_error
        where = f" at line {err.lineno}" + (f", column {err.offset}" if err.offset else "") if err.lineno else ""
        raise NetlintError(
            relpath(path), f"syntax error{where}: {err.msg}.", "Fix the file; nothing in it was imported or checked."
        )
    return scan


def _from_file(path: str, *, strict: bool) -> Loaded:
    scan = _scan(path)
    display = relpath(path)
    if not scan.may_define_models:
        return Loaded(files=1)  # decided from the syntax tree: the file is never imported
    sites = CreationSites()
    module = import_file(path, sites)
    instances: list[tuple[str, Any]] = []
    seen: set[int] = set()
    for name in scan.names:
        obj = module.__dict__.get(name)
        if _is_module_instance(obj) and id(obj) not in seen:
            seen.add(id(obj))
            instances.append((name, obj))
    classes = [module.__dict__.get(n) for n in scan.classes]
    classes = [c for c in classes if isinstance(c, type) and _is_module_class(c) and c.__module__ == module.__name__]
    buildable, needs_args = [], []
    for cls in classes:
        if inspect.isabstract(cls) or cls.forward is _module_forward():
            continue
        missing = _required_params(cls)
        (needs_args if missing else buildable).append((cls, missing))

    specs: list[ModelSpec] = []
    errors: list[NetlintError] = []
    for name, obj in instances:
        key = f"{os.path.abspath(path)}:{name}"
        specs.append(ModelSpec(f"{display}:{name}", path, module, instance=obj, sites=sites, key=key))
    for cls, _ in buildable:
        key = f"{os.path.abspath(path)}:{cls.__name__}"
        spec = ModelSpec(f"{display}:{cls.__name__}", path, module, factory=cls, sites=sites, key=key)
        try:
            spec.meta()
        except NetlintError as exc:
            errors.append(exc)
            continue
        specs.append(spec)

    # A class that appears inside another model of this file is a building block, not a model.
    inner: set[type] = set()
    for spec in specs:
        model = spec.instance if spec.instance is not None else spec.meta()
        inner.update(type(m) for m in itertools.islice(model.modules(), 1, None))
        if spec.instance is not None:
            inner.add(type(spec.instance))
    models = [s for s in specs if s.instance is not None or s.factory not in inner]
    notes: list[str] = []
    if not models and classes and not errors:
        listed = ", ".join(f"{c.__name__}({', '.join(m)})" for c, m in needs_args) or ", ".join(
            c.__name__ for c in classes
        )
        message = f"defines nn.Module classes, but none can be built without arguments: {listed}."
        hint = (
            f"Name a factory or an instance with {display}:NAME, or add a module-level instance "
            f"(model = {classes[0].__name__}(...))."
        )
        if strict:
            raise NetlintError(display, message, hint)
        notes.append(f"{display}: {message}")
    whole = [os.path.abspath(path)] if models and not errors else []
    return Loaded(models, notes, errors, files=1, whole_files=whole)


def _named_from_file(path: str, name: str) -> ModelSpec:
    _scan(path)
    sites = CreationSites()
    module = import_file(path, sites)
    return _named(module, name, f"{relpath(path)}:{name}", path, sites, f"{os.path.abspath(path)}:{name}")


def _from_module(module_name: str, name: str) -> ModelSpec:
    sites = CreationSites()
    try:
        with sites.recording(), user_code():
            module = importlib.import_module(module_name)
    except NetlintError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise NetlintError(
            f"{module_name}:{name}", f"cannot import {module_name}: {describe_exception(exc)}.",
            "Is the package installed in this environment?",
        ) from None  # fmt: skip
    display = f"{module_name}:{name}"
    return _named(module, name, display, getattr(module, "__file__", None), sites, display)


def _named(module: ModuleType, name: str, display: str, file: str | None, sites: CreationSites, key: str) -> ModelSpec:
    attr, kwargs = _parse_call(name, display)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise NetlintError(display, f"{module.__name__} has no attribute {attr!r}.", "Check the name after ':'.")
    if _is_module_instance(obj):
        if kwargs:
            raise NetlintError(display, f"{attr} is a model instance; it cannot be called with arguments.")
        return ModelSpec(display, file, module, instance=obj, sites=sites, key=key)
    if not callable(obj):
        raise NetlintError(display, f"{attr} is a {type(obj).__name__}, not a model, class or factory.")
    if isinstance(obj, type) and not _is_module_class(obj):
        raise NetlintError(display, f"{attr} is a class, but not a subclass of torch.nn.Module.")
    missing = [p for p in _required_params(obj) if p not in kwargs]
    if missing:
        raise NetlintError(
            display,
            f"{attr} needs constructor arguments ({', '.join(missing)}).",
            f"Pass literal keyword arguments ({display.split(':')[0]}:{attr}({missing[0]}=...)), or name "
            "a factory function that takes none.",
        )
    factory = (lambda: obj(**kwargs)) if kwargs else obj
    spec = ModelSpec(display, file, module, factory=factory, sites=sites, key=key)
    model = spec.meta()
    if not _is_module_instance(model):
        raise NetlintError(display, f"{attr}() returned a {type(model).__name__}, not a torch.nn.Module.")
    return spec


def _parse_call(text: str, display: str) -> tuple[str, dict[str, Any]]:
    """``densenet121(drop_rate=0.2)`` -> (``densenet121``, {"drop_rate": 0.2})."""
    try:
        expr = ast.parse(text.strip(), mode="eval").body
        if isinstance(expr, ast.Call):
            if expr.args:
                raise ValueError("only keyword arguments are allowed")
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in expr.keywords if kw.arg}
            expr = expr.func
        else:
            kwargs = {}
        return ast.unparse(expr), kwargs
    except (SyntaxError, ValueError) as exc:
        raise NetlintError(
            display,
            f"cannot read {text!r}: {exc}.",
            "Write NAME or NAME(key=literal, ...), e.g. vgg16_bn(num_classes=10).",
        ) from None


# -- importing --------------------------------------------------------------------------------


def package_root(path: str) -> tuple[str, str]:
    """The folder to put on sys.path and the dotted module name of ``path``."""
    directory, filename = os.path.split(os.path.abspath(path))
    parts = [filename[:-3]]
    while os.path.exists(os.path.join(directory, "__init__.py")):
        directory, package = os.path.split(directory)
        parts.insert(0, package)
    if parts[-1] == "__init__":
        parts.pop()
    return directory, ".".join(parts)


@contextlib.contextmanager
def user_code() -> Iterator[None]:
    """User code may print: keep stdout clean for JSON and SARIF."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


class ImportForbidden(BaseException):
    """Raised by ``import_file`` in the parent process, where user code must never run: the target
    goes to a worker instead. A BaseException, so that no ``except Exception`` swallows it."""


_imports_forbidden = False


@contextlib.contextmanager
def user_imports_forbidden() -> Iterator[None]:
    global _imports_forbidden
    previous, _imports_forbidden = _imports_forbidden, True
    try:
        yield
    finally:
        _imports_forbidden = previous


@contextlib.contextmanager
def _as_script(path: str) -> Iterator[None]:
    """While a file is imported: ``sys.argv`` is ``[file]`` and no bytecode lands in the user's tree.

    (A worker sets both for its whole life; this covers the in-process path too.)
    """
    argv, bytecode = sys.argv, sys.dont_write_bytecode
    sys.argv, sys.dont_write_bytecode = [path], True
    try:
        yield
    finally:
        sys.argv, sys.dont_write_bytecode = argv, bytecode


def import_file(path: str, sites: CreationSites) -> ModuleType:
    """Import a file as a module (never as ``__main__``), with its package root on sys.path."""
    if _imports_forbidden:
        raise ImportForbidden(path)
    path = os.path.abspath(path)
    root, name = package_root(path)
    if root not in sys.path:
        sys.path.insert(0, root)
    existing = sys.modules.get(name)
    if existing is not None and _same_file(getattr(existing, "__file__", None), path):
        return existing
    display = relpath(path)
    try:
        with sites.recording(), user_code(), _as_script(path):
            if "." in name and existing is None:
                return importlib.import_module(name)
            if existing is not None:  # another file already took this name
                name = f"{name}__netlint{sum(1 for m in sys.modules if m.startswith(name + '__netlint'))}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            return module
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise NetlintError(
            display, f"importing the file failed: {describe_exception(exc)}.",
            "netlint imports model files (never as __main__) to build their models; fix the error or "
            "guard top-level code with if __name__ == '__main__':.",
        ) from None  # fmt: skip


def _same_file(a: str | None, b: str) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


# -- building ---------------------------------------------------------------------------------


def _module_forward():
    import torch.nn as nn

    return nn.Module.forward


def _is_module_class(obj: Any) -> bool:
    import torch.nn as nn

    return isinstance(obj, type) and issubclass(obj, nn.Module)


def _is_module_instance(obj: Any) -> bool:
    nn = sys.modules.get("torch.nn")
    return nn is not None and isinstance(obj, nn.Module)


def _required_params(fn: Callable[..., Any]) -> list[str]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in params
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def build_meta(spec: ModelSpec):
    """Build on the meta device; if the constructor needs real tensors, build with init skipped."""
    import torch

    if spec.instance is not None:
        return meta_copy(spec.instance)
    assert spec.factory is not None
    try:
        with spec.sites.recording(), user_code(), torch.device("meta"), _quiet_rng():
            return spec.factory()
    except Exception as meta_exc:
        first = meta_exc
    try:  # e.g. regnet computes widths with tensors in its constructor: .tolist() has no meta data
        with spec.sites.recording(), user_code(), _SkipInit(), _quiet_rng():
            model = spec.factory()
        return meta_copy(model)
    except Exception:
        raise NetlintError(spec.name, f"building the model failed: {describe_exception(first)}.",
                           "netlint builds models with random weights and no arguments; name a factory "
                           "that needs none.") from None  # fmt: skip


@contextlib.contextmanager
def _quiet_rng() -> Iterator[None]:
    """Constructors may draw random numbers; the user's generators must not move."""
    from .state import preserved_rng

    with preserved_rng():
        yield


def meta_copy(model):
    """A copy of ``model`` whose parameters and buffers are meta tensors; the original is untouched."""
    import torch
    import torch.nn as nn
    from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

    memo: dict[int, Any] = {}
    for t in itertools.chain(model.parameters(), model.buffers()):
        if id(t) in memo or isinstance(t, (UninitializedParameter, UninitializedBuffer)):
            continue
        try:
            meta = torch.empty_like(t, device="meta")
        except Exception:
            continue
        memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    return copy.deepcopy(model, memo)


class _SkipInit:
    """Skips in-place initialisers on parameters (``kaiming_uniform_``, ``normal_``...) while building.

    The parameters stay as allocated (untouched pages cost no memory) and are copied to meta next.
    """

    def __enter__(self):
        import torch
        from torch.overrides import TorchFunctionMode

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = getattr(func, "__name__", "")
                in_place = name.endswith("_") and not name.endswith("__")  # normal_, not __get__
                # nn.init functions pass their tensor as a keyword (tensor=...).
                target = args[0] if args else (kwargs or {}).get("tensor")
                if in_place and isinstance(target, torch.nn.Parameter):
                    return target
                return func(*args, **(kwargs or {}))

        self._mode = Mode()
        return self._mode.__enter__()

    def __exit__(self, *exc):
        return self._mode.__exit__(*exc)

"""Find the user's models and build them.

Targets: ``file.py`` (its models), ``file.py:Name``, ``package.module:name`` (optionally called with
literal keyword arguments: ``torchvision.models:densenet121(drop_rate=0.2)``) and directories.
Models are built under ``torch.device("meta")``: no weight initialisation, no memory.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import importlib
import importlib.util
import inspect
import itertools
import os
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, NoReturn

from ..cells import is_notebook
from ..errors import NetlintError, describe_exception, starts_a_process, user_frame
from ..source import CreationSites, relpath
from .copying import copy_module
from .known import TORCH_PACKAGES
from .libraries import INSTALLED
from .scan import FileScan, Project
from .targets import describe_os_error, is_source_file, package_root, split_target, walk_python_files


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
    attr: str = ""  # its name in ``module`` (dotted), and the keyword arguments a factory is called with
    kwargs: dict[str, Any] = field(default_factory=dict)
    real_import: str | None = None  # why its file had to be imported with real tensors (None: on meta)
    _meta: Any = None

    def meta(self):
        """The model with meta tensors: built under the meta device, or a meta copy of an instance."""
        if self._meta is None:
            self._meta = build_meta(self)
        return self._meta

    def build(self) -> tuple[str, str]:
        """How the model was built, for the report: "meta" (no weight allocated), "real" and why, or
        "object" (a model object given to the API)."""
        if self.instance is None:
            return "meta", ""
        if self.file is None and self.module is None:
            return "object", ""
        if holds_meta(self.instance):
            return "meta", ""
        return "real", self.real_import or "its file makes it with real tensors (an explicit device, torch.load)"

    def real_cost(self) -> tuple[Any, bool]:
        """The size (``memory.Size``) a real build allocates, and whether that is more than the model's
        own: an instance made on meta is built by importing its file again, with its other models."""
        from ..memory import size_of

        own = size_of(self.meta())
        record = _imports.get(self.module.__name__) if self.module is not None else None
        rebuilt = self.instance is not None and record is not None and holds_meta(self.instance)
        if rebuilt and record.size is not None and record.size.bytes > own.bytes:
            return record.size, True
        return own, False

    def real(self, device: str = "cpu"):
        """A model with real (random, seeded) weights that netlint owns: safe to run and change.

        An instance made when its file was imported on the meta device has no values: it comes from
        a fresh import of that file with real tensors, as are factories that use tensors it made."""
        import torch

        from ..memory import Counter
        from ..state import preserved_rng

        with Counter(real=True).counting():  # the size reached names the model if the OOM killer ends us
            if self.instance is not None and not holds_meta(self.instance):
                return copy_module(self.instance).to(device)
            if self.instance is None:
                assert self.factory is not None
                with preserved_rng(seed=0, devices=[device]), user_code(), torch.device(device):
                    model = self.factory()
                if not holds_meta(model):
                    return model
            return _rebuilt(self, device)


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
        self.notes.extend(n for n in other.notes if n not in self.notes)
        self.errors.extend(other.errors)
        self.files += other.files
        self.whole_files.extend(other.whole_files)


def resolve(target: str, *, strict: bool = True, project: Project | None = None) -> Loaded:
    """Models of ``target``; raises NetlintError for bad input.

    ``strict``: an explicit file in which no model is found is an error (else a note).
    """
    path, name = split_target(target)
    if name and not is_source_file(path) and not os.path.exists(path):
        return Loaded([_from_module(path, name)])
    if not os.path.exists(path):
        if os.path.islink(path):  # a broken link or a link loop: say which
            try:
                os.stat(path)
            except OSError as exc:
                raise NetlintError(target, f"{describe_os_error(exc, path)}.", "Check the link.") from None
        raise NetlintError(
            target, "no such file or directory.", "Check the path (it is relative to the working directory)."
        )
    project = project or Project(library_class_check, library_call_check)
    if os.path.isdir(path):
        if name:
            raise NetlintError(target, "a directory cannot name a model.", "Use file.py:Name.")
        return _from_directory(path, project)
    if not is_source_file(path):
        raise NetlintError(
            target, "not a Python file or a Jupyter notebook.",
            "Targets are .py files, .ipynb notebooks, directories, or package.module:name.",
        )  # fmt: skip
    if name:
        return _named_from_file(path, name, project)
    return _guarded(path, lambda: _from_file(path, strict=strict, project=project))


def _guarded(path: str, load: Callable[[], Loaded]) -> Loaded:
    """An unexpected exception while finding one file's models becomes that file's error."""
    try:
        return load()
    except NetlintError:
        raise
    except Exception as exc:
        _raise_internal_error(path, "failed while finding the file's models", exc)


def _raise_internal_error(path: str, what: str, exc: Exception, hint: str = "") -> NoReturn:
    """A bug in netlint's own loading, as this file's error; with --debug (NETLINT_DEBUG) the exception itself.

    Call it from the ``except`` block that caught ``exc``.
    """
    if os.environ.get("NETLINT_DEBUG"):
        raise  # the exception being handled, with its traceback
    raise NetlintError(
        relpath(path), f"netlint {what} (internal error): {describe_exception(exc)}.",
        "Please report it; set NETLINT_DEBUG=1 (or pass --debug) for the traceback." + hint,
    ) from None  # fmt: skip


# -- directories and files ------------------------------------------------------------------


def _from_directory(directory: str, project: Project) -> Loaded:
    walk = walk_python_files(directory)
    display = relpath(directory)
    if walk.unreadable is not None:
        raise NetlintError(display, f"cannot list this directory: {walk.unreadable}.",
                           "Check its permissions; nothing in it was checked.")  # fmt: skip
    out = Loaded(notes=list(walk.skipped))
    for file in walk.files:
        try:
            out.extend(_guarded(file, lambda file=file: _from_file(file, strict=False, project=project)))
        except NetlintError as exc:  # one bad file does not hide the others
            out.errors.append(exc)
            out.files += 1
    if not out.files:  # a typo in CI must not pass
        skipped = f" ({len(walk.skipped)} path{'s' * (len(walk.skipped) != 1)} skipped: {'; '.join(walk.skipped)})"
        raise NetlintError(display, f"no Python file or notebook in this directory{skipped if walk.skipped else ''}.",
                           "Check the path; targets are .py files, .ipynb notebooks or directories that hold them.")  # fmt: skip
    if not out.models and not out.errors:
        out.notes.append(f"{display}: no model in its {out.files} Python file{'s' * (out.files != 1)}.")
    return out


def _scan(path: str, project: Project) -> FileScan:
    try:
        scan = project.scan(path)
    except Exception as exc:  # a bug in the scanner must not end the run: this file is not checked
        _raise_internal_error(
            path, "could not analyse the file's syntax tree", exc, " Nothing in the file was imported."
        )
    if scan.read_error is not None:
        raise NetlintError(relpath(path), f"cannot read the file: {describe_os_error(scan.read_error, path)}.",
                           "Check its permissions; nothing in it was imported or checked.")  # fmt: skip
    if scan.syntax_error is not None:
        err = scan.syntax_error
        if err.lineno is None and err.msg.startswith("cannot read"):  # not text, or not a notebook's JSON
            raise NetlintError(relpath(path), f"{err.msg}.", "Nothing in it was imported or checked.")
        where = f" at line {err.lineno}" + (f", column {err.offset}" if err.offset else "") if err.lineno else ""
        raise NetlintError(
            relpath(path), f"syntax error{where}: {err.msg}.", "Fix the file; nothing in it was imported or checked."
        )
    return scan


def _import(
    path: str, scan: FileScan, sites: CreationSites, notes: list[str], names: tuple[str, ...] = ()
) -> ModuleType:
    if is_notebook(path):  # only the code that defines its models runs: never a training cell
        from .notebook import import_notebook

        return import_notebook(path, scan, sites, notes, names, import_file)
    if scan.top_level_code is not None:
        display = relpath(path)
        notes.append(
            f"importing {display} runs top-level code at line {scan.top_level_code} "
            "(guard it with if __name__ == '__main__')"
        )
    return import_file(path, sites)


def _no_model(display: str, why: str, strict: bool, *, factories: list[str] = (), hint: str = "") -> Loaded:
    message = f"no model in {display}: {why}"
    if factories and not hint:
        hint = f"Name one of its factories ({', '.join(f'{display}:{f}' for f in factories)}) or define a module-level instance."
    hint = hint or f"Define a module-level instance (model = Net()) or name a factory with {display}:factory."
    if strict:
        raise NetlintError(display, message + ".", hint[:-1] + " (--allow-no-model makes this a note).")
    return Loaded(notes=[f"{message}."], files=1)


def _from_file(path: str, *, strict: bool, project: Project) -> Loaded:
    scan = _scan(path, project)
    display = relpath(path)
    if scan.guesses == scan.instances and not scan.classes and not is_notebook(path):
        scan.instances = []  # only guesses, in a script: its top-level code must not run for them
    if not scan.may_define_models:  # decided from the syntax tree: the file is never imported
        if scan.guesses and not scan.instances:
            why = (
                f"{', '.join(scan.guesses)} may be a model (a library function that declares no return type builds "
                f"it), but importing the file would run its top-level code at line {scan.top_level_code}, so it was "
                "not imported"
            )
            hint = f"Guard that code with if __name__ == '__main__', or name the model ({display}:{scan.guesses[0]})."
            return _no_model(display, why, strict, hint=hint)
        if scan.unresolved:
            return _no_model(display, "; ".join(scan.unresolved), strict)
        if strict:
            return _no_model(display, "it defines no torch.nn.Module subclass and binds no module-level model", True)
        return Loaded(files=1)
    sites = CreationSites()
    notes: list[str] = []
    module = _import(path, scan, sites, notes)
    instances, skipped = _module_instances(module, scan)
    classes, no_forward = _candidate_classes(module, scan)
    skipped += no_forward

    specs: list[ModelSpec] = []
    real = real_import_reason(module)
    for name, obj in instances:
        key = f"{os.path.abspath(path)}:{name}"
        specs.append(ModelSpec(f"{display}:{name}", path, module, instance=obj, sites=sites, key=key, attr=name,
                               real_import=real))  # fmt: skip

    def spec_of(name: str, cls: type) -> ModelSpec:
        key = f"{os.path.abspath(path)}:{name}"
        return ModelSpec(f"{display}:{name}", path, module, factory=cls, sites=sites, key=key, attr=name)

    # A class is a building block, checked through another model, when a model that is built holds an
    # instance of it. Classes that the syntax tree sees used by others are built last, and only when
    # nothing built holds one (a block made only under a flag that is off by default); those used by a
    # class that needs arguments wait for it (the message about that class covers them).
    blocks = set(scan.blocks)
    built, needs_args, failures = _build_classes([c for c in classes if c[0] not in blocks], spec_of)
    inner, parts = _contents([*specs, *built.values()])
    unbuilt = {name for name, cls, _ in classes if (cls in failures or cls in needs_args) and cls not in inner}
    waiting = _waiting(scan, blocks, unbuilt)
    alone = [c for c in classes if c[0] in blocks and c[1] not in inner and c[0] not in waiting]
    built_alone, blocks_need_args, blocks_failed = _build_classes(alone, spec_of)
    built.update(built_alone)
    inner, parts = _contents([*specs, *built.values()])

    models = [s for s in specs if id(s.instance) not in parts]
    for name, cls, _ in classes:  # in file order
        spec = built.get(cls)
        if spec is None or cls in inner:
            continue
        if _parameter_free(spec.meta()) and not _declares_inputs(cls, module):  # an interaction layer
            skipped.append(f"{name} holds no parameter or buffer (not a model; define example_inputs() to check it)")
        else:
            models.append(spec)
    errors = [exc for cls, exc in failures.items() if cls not in inner and cls not in needs_args]
    needs = [c for c in classes if c[1] in needs_args and c[1] not in inner]
    if not models and not errors:
        if needs:
            why, hint = _needs_args_message(display, scan, needs, failures)
            if strict:
                raise NetlintError(display, why, hint)
            notes.append(why)
            return Loaded(notes=notes, files=1)
        why = "; ".join(skipped) or "it builds no torch.nn.Module"
        loaded = _no_model(display, why, strict, factories=scan.factories)
        loaded.notes[:0] = notes
        return loaded
    top = set(scan.top_classes)
    unchecked = [name for name, _, _ in needs if name in top]
    for name, cls, params in needs:  # a network of its own beside the checked ones: say it was not checked
        if name in top:
            tried = f" (without them, {failures[cls].message.rstrip('.')})" if cls in failures else ""
            notes.append(f"{display}: {name} was not checked: it needs constructor arguments ({', '.join(params)})"
                         f"{tried}; check it as {_check_as(display, name, params)}.")  # fmt: skip
    for name, cls, params in alone:  # a block that no model here builds, and that cannot be built alone
        if cls in inner or cls in built:
            continue
        unchecked.append(name)
        if cls in blocks_need_args:
            why = (
                f"it needs constructor arguments ({', '.join(params)}); check it as {_check_as(display, name, params)}"
            )
        else:
            why = blocks_failed[cls].message.replace("building the model", "building it alone", 1).rstrip(".")
        notes.append(f"{display}: {name} was not checked: no model of the file builds one, and {why}.")
    whole = [os.path.abspath(path)] if models and not errors and not unchecked else []
    return Loaded(models, notes, errors, files=1, whole_files=whole)


def _contents(specs: list[ModelSpec]) -> tuple[set[type], set[int]]:
    """The classes built inside these models (an instance replaces its class), and the ids of their
    submodules (a module-level instance inside another one is a part: backbone = ...; model = Net(backbone))."""
    inner: set[type] = set()
    parts: set[int] = set()
    for spec in specs:
        model = spec.instance if spec.instance is not None else spec.meta()
        for module_ in itertools.islice(model.modules(), 1, None):
            inner.add(type(module_))
            parts.add(id(module_))
        if spec.instance is not None:
            inner.add(type(spec.instance))
    return inner, parts


def _waiting(scan: FileScan, blocks: set[str], unbuilt: set[str]) -> set[str]:
    """Blocks used, directly or through other blocks, by a class that could not be built."""
    waiting: set[str] = set()
    frontier = set(unbuilt)
    while frontier:
        frontier = {b for user in frontier for b in scan.uses.get(user, []) if b in blocks} - waiting
        waiting |= frontier
    return waiting


def _build_classes(
    candidates: list[Candidate], spec_of: Callable[[str, type], ModelSpec]
) -> tuple[dict[type, ModelSpec], dict[type, list[str]], dict[type, NetlintError]]:
    """Build each class on the meta device: those built, those that need arguments (named ones, or only
    ``*args, **kwargs`` that it cannot do without), and the failures."""
    built: dict[type, ModelSpec] = {}
    needs_args: dict[type, list[str]] = {}
    failures: dict[type, NetlintError] = {}
    for name, cls, params in candidates:
        if params and not params[0].startswith("*"):
            needs_args[cls] = params
            continue
        spec = spec_of(name, cls)
        try:
            spec.meta()
        except NetlintError as exc:
            failures[cls] = exc
            if params:
                needs_args[cls] = params
            continue
        built[cls] = spec
    return built, needs_args, failures


def _parameter_free(model: Any) -> bool:
    return next(itertools.chain(model.parameters(), model.buffers()), None) is None


def _declares_inputs(cls: type, module: ModuleType) -> bool:
    """Whether the file says how to run the class (``example_inputs()`` on it, or in the file): then it is
    a model even without parameters (a pooling example)."""
    return hasattr(cls, "example_inputs") or callable(module.__dict__.get("example_inputs"))


def _module_instances(module: ModuleType, scan: FileScan) -> tuple[list[tuple[str, Any]], list[str]]:
    """Module-level models of the file, and why the other module-level modules are not models."""
    instances: list[tuple[str, Any]] = []
    skipped: list[str] = []
    seen: set[int] = set()
    for name in scan.names:
        obj = module.__dict__.get(name)
        if not _is_module_instance(obj) or id(obj) in seen:
            continue
        seen.add(id(obj))
        why_not = _not_a_model(obj, module)
        if why_not:
            skipped.append(f"{name} is {why_not}")
        else:
            instances.append((name, obj))
    return instances, skipped


Candidate = tuple[str, type, list[str]]  # the name the file binds, the class, the arguments it needs


def _candidate_classes(module: ModuleType, scan: FileScan) -> tuple[list[Candidate], list[str]]:
    """The file's module classes with a forward, in file order, and why the others are not models."""
    candidates: list[Candidate] = []
    skipped: list[str] = []
    seen: list[type] = []
    for name in [*scan.classes, *scan.unresolved_classes]:  # bases the syntax tree could not decide: now known
        cls = module.__dict__.get(name)
        if not _is_module_class(cls) or cls.__module__ != module.__name__ or cls in seen:
            continue
        seen.append(cls)
        if inspect.isabstract(cls) or not has_forward(cls):
            skipped.append(f"{name} has no forward")
            continue
        candidates.append((name, cls, required_params(cls)))
    return candidates, skipped


def _check_as(display: str, name: str, params: list[str]) -> str:
    example = ", ".join(f"{p}=..." for p in params if not p.startswith("*")) or "..."
    return f'"{display}:{name}({example})"'


def _needs_args_message(
    display: str, scan: FileScan, needs_args: list[Candidate], failures: dict[type, NetlintError]
) -> tuple[str, str]:
    """Name the top-level class (the one no other class of the file uses), its parameters and both remedies."""
    by_name = {name: (cls, params) for name, cls, params in needs_args}
    top = [c for c in scan.top_classes if c in by_name] or list(by_name)
    listed = ", ".join(f"{c}({', '.join(by_name[c][1])})" for c in top)
    first = top[0]
    cls, params = by_name[first]
    example = ", ".join(f"{p}=..." for p in params if not p.startswith("*")) or "..."
    why = f"no model in {display} can be built without arguments: {listed} need{'s' * (len(top) == 1)} constructor arguments"
    if cls in failures:  # it takes only *args, **kwargs: say what building it without them did
        why += f" (without them, {failures[cls].message.rstrip('.')})"
    others = [c for c in scan.classes if c not in top]
    if others:
        why += f" (its building blocks {', '.join(others)} are checked through it)"
    hint = (
        f"Add a module-level instance (model = {first}({example})) or check it as "
        f'"{display}:{first}({example})" with literal values.'
    )
    if scan.factories:
        hint += f" Or name a factory: {', '.join(f'{display}:{f}' for f in scan.factories)}."
    return why + ".", hint


def _named_from_file(path: str, name: str, project: Project) -> Loaded:
    scan = _scan(path, project)
    sites = CreationSites()
    notes: list[str] = []
    module = _import(path, scan, sites, notes, (name,))
    spec = _named(module, name, f"{relpath(path)}:{name}", path, sites, f"{os.path.abspath(path)}:{name}")
    return Loaded([spec], notes, files=1)


def _from_module(module_name: str, name: str) -> ModelSpec:
    sites = CreationSites()
    try:
        with sites.recording(), user_code():
            module = without_weights(lambda: importlib.import_module(module_name), module_name)
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
        return ModelSpec(display, file, module, instance=obj, sites=sites, key=key, attr=attr,
                         real_import=real_import_reason(module))  # fmt: skip
    if not callable(obj):
        raise NetlintError(display, f"{attr} is a {type(obj).__name__}, not a model, class or factory.")
    if isinstance(obj, type) and not _is_module_class(obj):
        raise NetlintError(display, f"{attr} is a class, but not a subclass of torch.nn.Module.")
    params = required_params(obj)
    missing = [p for p in params if p not in kwargs and not p.startswith("*")]
    hint = (f"Pass literal keyword arguments ({display.split(':')[0]}:{attr}({(missing or ['name'])[0]}=...)), "
            "or name a factory function that takes none.")  # fmt: skip
    if missing:
        raise NetlintError(display, f"{attr} needs constructor arguments ({', '.join(missing)}).", hint)
    factory = (lambda: obj(**kwargs)) if kwargs else obj
    spec = ModelSpec(display, file, module, factory=factory, sites=sites, key=key, attr=attr, kwargs=kwargs)
    try:
        model = spec.meta()
    except NetlintError as exc:
        if params and params[0].startswith("*") and not kwargs:  # only *args, **kwargs: it cannot do without them
            message = f"{attr} needs constructor arguments ({', '.join(params)}): without them, {exc.message}"
            raise NetlintError(display, message, hint) from None
        raise
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
            kwargs = {}
            for kw in expr.keywords:
                if kw.arg is None:
                    raise ValueError(f"**{ast.unparse(kw.value)} is not a keyword argument")
                try:
                    kwargs[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:  # its own message names an AST node by address
                    raise ValueError(
                        f"{kw.arg}={ast.unparse(kw.value)} is not a literal (a number, string, tuple, list, dict, "
                        "True, False or None)"
                    ) from None
            expr = expr.func
        else:
            kwargs = {}
        return ast.unparse(expr), kwargs
    except (SyntaxError, ValueError) as exc:
        why = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        raise NetlintError(
            display,
            f"cannot read {text!r}: {why}.",
            "Write NAME or NAME(key=literal, ...), e.g. vgg16_bn(num_classes=10).",
        ) from None


# -- importing --------------------------------------------------------------------------------


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


def import_file(path: str, sites: CreationSites, source: str | None = None) -> ModuleType:
    """Import a file as a module (never as ``__main__``), with its package root on sys.path; a notebook
    as ``source``, the part of its joined cells that runs.

    On the meta device (``without_weights``): a module-level model allocates no weights.
    """
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

    def load() -> ModuleType:
        if "." in name and existing is None:
            return importlib.import_module(name)
        unique = name
        if existing is not None:  # another file already took this name
            unique = f"{name}__netlint{sum(1 for m in sys.modules if m.startswith(name + '__netlint'))}"
        return _exec_file(unique, path, source=source)

    try:
        with sites.recording(), user_code(), _as_script(path):
            return without_weights(load, display, path, source)
    except NetlintError:
        raise
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        if starts_a_process(exc):
            where = user_frame(exc)
            at = f" at {where[0]}:{where[1]}" if where else ""
            raise NetlintError(
                display, f"importing the file starts a process with multiprocessing{at}, which netlint's worker "
                "process may not do (each target is checked in one).",
                "Start processes under if __name__ == '__main__': (netlint imports model files, never as __main__).",
            ) from None  # fmt: skip
        raise NetlintError(
            display, f"importing the file failed: {describe_exception(exc)}.",
            _weights_hint(exc, display) or "netlint imports model files (never as __main__) to build their "
            "models; fix the error or guard top-level code with if __name__ == '__main__':.",
        ) from None  # fmt: skip


# Library functions that download or read pretrained weights (transformers, diffusers, Lightning, torch.hub).
_WEIGHT_LOADERS = frozenset({
    "from_pretrained", "load_from_checkpoint", "hf_hub_download", "snapshot_download", "load_state_dict_from_url",
    "download_url_to_file",
})  # fmt: skip


def _weights_hint(exc: BaseException, display: str) -> str:
    """For pretrained weights that could not be had (no network, no local copy): how to check without them."""
    chain, seen = [], exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if not any(isinstance(e, OSError) for e in chain):
        return ""
    loader = next((f.name for f in traceback.extract_tb(exc.__traceback__) if f.name in _WEIGHT_LOADERS), None)
    if loader is None:
        return ""
    return (
        f"It failed in {loader}, which needs pretrained weights that are not available here (no network, or no "
        "local copy). netlint checks the architecture, which needs no weights: build the model from a "
        "configuration (AutoModel.from_config(config), or the model class called with one) at module level or "
        f"in a factory checked as {display.split(':')[0]}:factory; --weights FILE.pt gives the probe trained weights."
    )


def _exec_file(name: str, path: str, package: bool = False, source: str | None = None) -> ModuleType:
    """Run ``path`` as the module ``name`` (in sys.modules while it runs, as an import does); a notebook
    as ``source``, the part of its cells that runs."""
    if source is not None:
        from .notebook import module_spec

        spec = module_spec(name, path, source)
    else:
        folder = [os.path.dirname(path)] if package else None
        spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=folder)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


# -- importing without weights ------------------------------------------------------------------


@dataclass
class _Import:
    """How a user module was imported: on meta, or with real tensors and why; what a real copy needs."""

    path: str
    real: str | None  # why it needed real tensors (None: imported on the meta device)
    modules: tuple[str, ...]  # the user's modules the import added to sys.modules (itself included)
    size: Any = None  # ``memory.Size``: the weights it built (on meta, or for real)
    source: str | None = None  # a notebook's code that runs (None: the file itself)


_imports: dict[str, _Import] = {}


def without_weights(
    load: Callable[[], ModuleType], display: str, path: str | None = None, source: str | None = None
) -> ModuleType:
    """``load()`` (an import of user code) on the meta device; when that code needs tensor values,
    ``load()`` again with real tensors, once the weights it had reached on meta are known to fit."""
    from ..memory import Counter
    from ..state import preserved_rng
    from .empty import empty_weights

    before = set(sys.modules)
    counter = Counter(real=False)
    try:
        with counter.counting(), empty_weights():
            module = load()
        size = counter.reached()
    except Exception as exc:
        if isinstance(exc, (ImportError, SyntaxError, NetlintError)):
            raise  # the same with real tensors
        needs = describe_exception(exc)
        for name in _user_modules_since(before):  # a partial import: everything again, for real
            sys.modules.pop(name, None)
        _real_import_fits(display, needs, counter.reached())
        with Counter(real=True).counting() as counter, preserved_rng(seed=0):  # seeded, as factories are
            module = load()
        size = counter.reached()
        real = f"its file's import needs tensor values: {needs}"
    else:
        real = None
    file = path or getattr(module, "__file__", None)
    if file:
        _imports[module.__name__] = _Import(file, real, tuple(_user_modules_since(before)), size, source)
    return module


def real_import_reason(module: ModuleType | None) -> str | None:
    """Why ``module`` had to be imported with real tensors; None when it was imported on meta."""
    record = _imports.get(module.__name__) if module is not None else None
    return record.real if record is not None else None


def _real_import_fits(display: str, needs: str, reached) -> None:
    """Refuse a real import that cannot fit: the weights the meta attempt reached are a lower bound."""
    from ..memory import available_memory, gb

    room, bound = available_memory()
    if room is None or reached.bytes <= room:
        return
    raise NetlintError(
        display,
        f"the file's import needs tensor values ({needs}), and on the meta device the models it builds "
        f"had already reached {reached.describe()}, more than the {gb(room)} that {bound} leaves: it was not "
        "imported with real weights.",
        "Move the code that needs values under if __name__ == '__main__': or into a function, or check a class "
        f"or factory ({display}:Name): netlint builds those on the meta device.",
    )


def _user_modules_since(before: set[str]) -> list[str]:
    from ..source import is_user_file

    return [
        name for name in set(sys.modules) - before
        if (file := getattr(sys.modules.get(name), "__file__", None)) and is_user_file(file)
    ]  # fmt: skip


def holds_meta(model: Any) -> bool:
    """Whether a module has a parameter or buffer on the meta device (no values)."""
    return any(t.is_meta for t in itertools.chain(model.parameters(), model.buffers()))


def _rebuilt(spec: ModelSpec, device: str):
    """``spec``'s model from a fresh import of its file with real tensors (its own copy of the file's
    other user modules too), seeded as factories are."""
    import torch

    from ..state import preserved_rng

    record = _imports.get(spec.module.__name__) if spec.module is not None else None
    if record is None or not spec.attr:  # nothing to import again: what a copy gives (an error on meta)
        if spec.instance is not None:
            return copy_module(spec.instance).to(device)
        with user_code(), torch.device(device):
            return spec.factory()
    stashed = {name: sys.modules.pop(name) for name in record.modules if name in sys.modules}
    fresh = f"{spec.module.__name__}__netlint_real{sum(1 for m in sys.modules if '__netlint_real' in m)}"
    try:
        with user_code(), _as_script(record.path), preserved_rng(seed=0, devices=[device]):
            package = os.path.basename(record.path) == "__init__.py"
            module = _exec_file(fresh, record.path, package=package, source=record.source)
        sys.modules.pop(fresh, None)  # the caller owns the model: nothing else keeps its weights alive
        obj: Any = module
        for part in spec.attr.split("."):
            obj = getattr(obj, part)
        if spec.instance is not None:
            return obj.to(device)
        with preserved_rng(seed=0, devices=[device]), user_code(), torch.device(device):
            return obj(**spec.kwargs)
    finally:
        for name in record.modules:
            sys.modules.pop(name, None)
        sys.modules.update(stashed)


def _same_file(a: str | None, b: str) -> bool:
    try:
        return a is not None and os.path.samefile(a, b)
    except OSError:
        return False


# -- building ---------------------------------------------------------------------------------


def _is_module_class(obj: Any) -> bool:
    nn = sys.modules.get("torch.nn")
    return nn is not None and isinstance(obj, type) and issubclass(obj, nn.Module)


def _is_module_instance(obj: Any) -> bool:
    nn = sys.modules.get("torch.nn")
    return nn is not None and isinstance(obj, nn.Module)


# Class inspection never evaluates descriptors (a ScriptModule's ``forward`` is one that raises when read
# from the class): attributes are looked up in the classes' own ``__dict__`` along the MRO.


def _defining_class(cls: type, attr: str) -> type | None:
    for klass in inspect.getmro(cls):
        if attr in klass.__dict__:
            return klass
    return None


def has_forward(cls: type) -> bool:
    """Whether a module class defines a forward: nn.Module's own raises NotImplementedError, and so does
    an abstract base's (``def forward(self, *inputs): raise NotImplementedError``)."""
    import torch.nn as nn

    owner = _defining_class(cls, "forward")
    return owner not in (None, nn.Module) and not _only_raises_not_implemented(owner.__dict__["forward"])


def _only_raises_not_implemented(fn: Any) -> bool:
    """Whether a function's body (past its docstring) is ``raise NotImplementedError[(...)]``."""
    if not inspect.isfunction(fn):
        return False
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    except Exception:  # no source (a REPL, a compiled file): it may well be a forward
        return False
    body = [s for s in getattr(node, "body", []) if not isinstance(s, ast.Pass)]
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def required_params(fn: Any) -> list[str]:
    """The arguments a class or function needs. A constructor that takes only ``*args, **kwargs`` gets
    them, written ``*args``, ``**kwargs``: whether it needs them is told by building it without any."""
    target = fn
    if isinstance(fn, type):
        import torch.nn as nn

        owner = _defining_class(fn, "__init__")
        if owner in (None, object, nn.Module):
            return []
        target = owner.__dict__["__init__"]
    try:
        params = list(inspect.signature(target).parameters.values())
    except Exception:  # no signature to read (a builtin, an odd descriptor): try building it
        return []
    if (
        isinstance(fn, type)
        and params
        and params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD)
    ):
        params = params[1:]  # self
    named = [p for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    required = [p.name for p in named if p.default is p.empty]
    if not named and params:
        return [("*" if p.kind is p.VAR_POSITIONAL else "**") + p.name for p in params]
    return required


def _not_a_model(obj: Any, module: ModuleType) -> str | None:
    """Why a module-level module is not a model: a parameter-free library layer (``criterion =
    nn.CrossEntropyLoss()``, ``act = nn.ReLU()``, an empty container, a transform), a parameter-free
    layer of the file that it gives no example input, or one without forward."""
    cls = type(obj)
    if not has_forward(cls):
        return f"a {cls.__name__} (no forward)"
    if not _parameter_free(obj):
        return None
    package = cls.__module__.split(".")
    if package[0] in TORCH_PACKAGES:
        where = "torch.nn" if package[:2] == ["torch", "nn"] else cls.__module__
        return f"a parameter-free {where}.{cls.__name__}, not a model"
    if not _declares_inputs(cls, module):
        return f"a parameter-free {cls.__name__}, not a model (define example_inputs() to check it)"
    return None


def library_class_check(dotted: str) -> bool | str:
    """Whether ``package.module.Name`` of an installed library is a torch.nn.Module class, or
    ``package.module.Name.method`` a classmethod or staticmethod of one (``BertModel.from_pretrained``).

    Imports that library module (library code, never the user's file); a string says why it cannot tell.
    """
    found = _library_object(dotted)
    if isinstance(found, str):
        return found
    owner, obj = found
    if isinstance(obj, (classmethod, staticmethod)):  # a factory: Model.from_config(cfg)
        return _is_module_class(owner)
    return _is_module_class(obj)


def library_call_check(dotted: str) -> bool | str | None:
    """Whether a call to ``dotted`` of an installed library builds a model: a module class, a classmethod
    or staticmethod of one, or a function (or a ``functools.partial``) whose return annotation names a
    torch.nn.Module. None: a function without one may (``build_model()``), and the value it builds decides,
    in the worker. A classmethod of another class (``Tokenizer.from_pretrained``) must say it returns a
    module. Imports the library, never calls anything in it; a string says why it cannot tell."""
    found = _library_object(dotted)
    if isinstance(found, str):
        return found
    owner, obj = found
    if isinstance(obj, (classmethod, staticmethod)):
        return _is_module_class(owner) or _may_return_module(obj.__func__, unknown=False)
    while isinstance(obj, functools.partial):
        obj = obj.func
    if isinstance(obj, type):
        return _is_module_class(obj)
    if inspect.isfunction(inspect.unwrap(obj)) or inspect.ismethod(obj):
        return _may_return_module(obj)
    return False  # a builtin, an instance, a module: never a model's constructor


def _library_object(dotted: str) -> tuple[Any, Any] | str:
    """The object ``dotted`` names in an installed library, and the object it was read from (a class, for
    a method: read statically, so a classmethod stays one); a string says why it could not be had.

    In the parent process nothing is imported (ImportForbidden: the target goes to a worker)."""
    parts = dotted.split(".")
    try:  # only an installed library: a module found elsewhere on sys.path is the user's code
        spec = importlib.util.find_spec(parts[0])
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return f"{parts[0]} is not installed, so {dotted} could not be checked"
    where = spec.origin or next(iter(spec.submodule_search_locations or []), "")
    if not INSTALLED.search(where):
        return f"{parts[0]} is not an installed library, so {dotted} was not imported to check it"
    if _imports_forbidden:  # importing a library here could cost seconds (torch) that the worker pays anyway
        raise ImportForbidden(dotted)
    owner: Any = None
    try:
        with user_code():
            obj: Any = importlib.import_module(parts[0])
            for i, part in enumerate(parts[1:], start=2):
                owner = obj
                try:  # a module may load names lazily (module __getattr__); a class is read statically
                    obj = getattr(obj, part) if isinstance(obj, ModuleType) else inspect.getattr_static(obj, part)
                except AttributeError:
                    obj = importlib.import_module(".".join(parts[:i]))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        return f"{dotted} could not be imported to check it ({describe_exception(exc, 120)})"
    return owner, obj


def _may_return_module(fn: Any, *, unknown: bool | None = None) -> bool | None:
    """Whether a function's return annotation allows a torch.nn.Module; ``unknown`` when it does not tell
    (none, ``Any``, a name only type checkers import)."""
    try:
        annotation = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        return unknown
    if annotation is inspect.Signature.empty:
        return unknown
    if isinstance(annotation, str):  # from __future__ import annotations: evaluated where the library wrote it
        try:
            annotation = eval(annotation, dict(getattr(inspect.unwrap(fn), "__globals__", {})))
        except Exception:
            return unknown
    return _allows_module(annotation, unknown)


def _allows_module(annotation: Any, unknown: bool | None = None) -> bool | None:
    """``nn.Module``, ``ResNet``, ``Optional[nn.Module]``: yes; ``Tensor``, ``tuple[...]``, ``Pipeline``,
    ``DatasetDict``, ``None``: no; ``Any``, an unbound TypeVar, a name that did not evaluate: ``unknown``."""
    import types
    import typing

    import torch.nn as nn

    if annotation is typing.Any or annotation is object or isinstance(annotation, (str, typing.ForwardRef)):
        return unknown
    if isinstance(annotation, typing.TypeVar):
        bounds = [annotation.__bound__] if annotation.__bound__ is not None else list(annotation.__constraints__)
        return _either(_allows_module(b, unknown) for b in bounds) if bounds else unknown
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return _either(_allows_module(a, unknown) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _allows_module(typing.get_args(annotation)[0], unknown)
    return isinstance(annotation, type) and issubclass(annotation, nn.Module)


def _either(verdicts: Iterable[bool | None]) -> bool | None:
    """A union: True if one member is a module, None if one cannot tell, else False."""
    found = list(verdicts)
    return True if True in found else None if None in found else False


def build_meta(spec: ModelSpec):
    """Build on the meta device; if the constructor needs real tensors, build with init skipped."""
    from ..memory import Counter
    from .empty import empty_weights

    if spec.instance is not None:
        return meta_copy(spec.instance)
    assert spec.factory is not None
    try:
        with spec.sites.recording(), user_code(), Counter(real=False).counting(), empty_weights(), _quiet_rng():
            return spec.factory()
    except Exception as meta_exc:
        first = meta_exc
    try:  # e.g. regnet computes widths with tensors in its constructor: .tolist() has no meta data
        with spec.sites.recording(), user_code(), _SkipInit(), _quiet_rng():
            model = spec.factory()
        return meta_copy(model)
    except Exception:
        raise NetlintError(spec.name, f"building the model failed: {describe_exception(first)}.",
                           _weights_hint(first, relpath(spec.file) if spec.file else "FILE.py")
                           or "netlint builds models with random weights and no arguments; name a factory "
                           "that needs none.") from None  # fmt: skip


@contextlib.contextmanager
def _quiet_rng() -> Iterator[None]:
    """Constructors may draw random numbers; the user's generators must not move."""
    from ..state import preserved_rng

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
            # Not empty_like: on a meta tensor that runs a Python reference that imports sympy and
            # the symbolic-shapes machinery (about 0.3 s) for nothing.
            meta = torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device="meta")
        except Exception:
            continue
        memo[id(t)] = nn.Parameter(meta, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else meta
    return copy_module(model, memo)


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

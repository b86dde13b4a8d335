"""TorchScript and compiled submodules, seen through their Python source.

Neither engine can look inside a ``torch.jit.script``-ed module (its forward runs in the
TorchScript interpreter) or a ``torch.compile``-d one. Where the Python source still exists, the
module is replaced, in netlint's own copy of the model, by a plain Python module of the same class
that shares its parameters and buffers:

- a subclass of ``torch.jit.ScriptModule`` keeps its Python class, and each ``@script_method``
  keeps its original Python function;
- ``torch.jit.script(module)`` remembers the scripted module's Python class (for every submodule);
- ``torch.compile(module)`` keeps the original module as ``_orig_mod``.

What has no Python source (a ``torch.jit.trace``-d or ``torch.jit.load``-ed module) stays as it
is and is listed as not analysed, so that no part of a model is skipped silently.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterator

import torch
import torch.nn as nn

from ..source import Site, module_sites
from .ir import AnalysisPart

NOT_ANALYSED = "not analysed"
FROM_SOURCE = "TorchScript read from its Python source"


def python_equivalent(root: nn.Module) -> tuple[nn.Module, list[AnalysisPart]]:
    """``root`` with its scripted and compiled parts in Python, and what that means for the report.

    ``root`` itself is not changed: containers on the way to a replaced module are shallow copies.
    """
    if not any(_is_scripted(m) or _is_compiled(m) for m in root.modules()):
        return root, []
    parts: list[AnalysisPart] = []
    return _convert(root, "", parts), parts


def in_python(
    model: nn.Module, sites: dict[str, Site], materialize: Callable[[], nn.Module] | None
) -> tuple[nn.Module, dict[str, Site], Callable[[], nn.Module] | None, list[AnalysisPart]]:
    """What graph building needs: the model in Python, its layers' sites, a materializer that
    converts too, and the parts to name in the report (all unchanged when nothing is scripted)."""
    model, parts = python_equivalent(model)
    if not parts:
        return model, sites, materialize, parts
    sites = _with_source_sites(model, sites, parts)
    if materialize is not None:
        materialize = functools.partial(_python_copy, materialize)
    return model, sites, materialize, parts


def tensors_on_meta(model: nn.Module) -> None:
    """Parameters and buffers of netlint's Python copy on the meta device.

    A copy of a scripted module (``copy.deepcopy`` of a model built earlier) keeps real tensors:
    TorchScript's own copy does not follow the meta copy of the rest. The rebuilt Python modules
    are netlint's own, so their entries are replaced; the tensors themselves are not touched.
    """
    for m in model.modules():
        if _is_scripted(m):
            continue  # what has no Python source stays as it is (one opaque node)
        for store in (m._parameters, m._buffers):
            for name, t in store.items():
                if t is not None and not t.is_meta:
                    meta = torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device="meta")
                    store[name] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta


def _python_copy(materialize: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    return python_equivalent(materialize())[0]


def _with_source_sites(model: torch.nn.Module, sites: dict[str, Site], scripted: list[AnalysisPart]) -> dict[str, Site]:
    """Layers inside a scripted module read from Python point at their lines in its class, not at the
    line that created the scripted block (the scripted copies were not recorded at creation)."""
    roots = [p.module for p in scripted if p.engine == FROM_SOURCE]
    inside = [path for path, _ in model.named_modules() if any(path.startswith(r + ".") or not r for r in roots)]
    if not inside:
        return sites
    fresh = module_sites(model, None)
    return {**sites, **{path: fresh[path] for path in inside if path in fresh and path}}


def _is_scripted(m: nn.Module) -> bool:
    return isinstance(m, torch.jit.ScriptModule)


def _is_compiled(m: nn.Module) -> bool:
    return type(m).__name__ == "OptimizedModule" and isinstance(getattr(m, "_orig_mod", None), nn.Module)


def _convert(m: nn.Module, path: str, parts: list[AnalysisPart], noted: bool = False) -> nn.Module:
    """``m`` in Python; ``noted``: an enclosing scripted module is already in ``parts``."""
    if _is_compiled(m):
        wrapper = _Compiled()
        wrapper.training = m.training
        wrapper._orig_mod = _convert(m._orig_mod, _join(path, "_orig_mod"), parts, noted)
        return wrapper
    if _is_scripted(m):
        cls = _python_class(m)
        if cls is None:
            parts.append(
                AnalysisPart(path, NOT_ANALYSED, "a TorchScript module without Python source (traced or loaded)")
            )
            return m
        if noted:
            return _rebuild(m, cls, path, parts)
        inner: list[AnalysisPart] = []
        try:
            rebuilt = _rebuild(m, cls, path, inner)
        except _Frozen:
            reason = "a traced TorchScript module: its Python forward was replaced by a recording"
        except Exception as exc:  # an unusual scripted module must not stop the analysis of the rest
            reason = f"could not be rebuilt from its Python class ({type(exc).__name__}: {exc})"
        else:
            parts.extend([AnalysisPart(path, FROM_SOURCE), *inner])
            return rebuilt
        parts.append(AnalysisPart(path, NOT_ANALYSED, reason))
        return m
    if not any(_is_scripted(c) or _is_compiled(c) for c in m.modules() if c is not m):
        return m
    copy = m.__class__.__new__(m.__class__)
    copy.__dict__ = dict(m.__dict__)
    copy._modules = {name: (_convert(c, _join(path, name), parts, noted) if c is not None else None)
                     for name, c in m._modules.items()}  # fmt: skip
    return copy


class _Frozen(Exception):
    """A scripted module that cannot be rebuilt in Python: a traced one, whose copy lost its constants."""


class _Compiled(nn.Module):
    """Stands for a ``torch.compile``-d module: runs the original one, at the same path."""

    def forward(self, *args, **kwargs):
        return self._orig_mod(*args, **kwargs)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _python_class(m: nn.Module) -> type | None:
    """The Python class a scripted module was made from, as a plain ``nn.Module`` class; None if unknown."""
    if isinstance(m, torch.jit.TracedModule):
        return None  # the trace replaced forward by a recorded graph
    if not isinstance(m, torch.jit.RecursiveScriptModule) or type(m) is not torch.jit.RecursiveScriptModule:
        cls = type(m)  # a user's ScriptModule subclass
    else:
        concrete = getattr(m, "_concrete_type", None)
        cls = getattr(concrete, "py_class", None) if concrete is not None else None
        if cls is None:  # a copy (netlint's meta copy) forgets the class: find it by its TorchScript name
            cls = _class_named(m)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module) or cls.__module__.startswith("torch.jit"):
        return None
    if issubclass(cls, torch.jit.ScriptModule):
        return _plain_class(cls)
    return cls if "forward" in dir(cls) and cls.forward is not nn.Module.forward else None


def _class_named(m: nn.Module) -> type | None:
    """``__torch__.pkg.mod.Block`` (``___torch_mangle_N`` parts dropped) -> the class ``pkg.mod.Block``."""
    try:
        name = m._c._type().qualified_name()
    except Exception:
        return None
    parts = [p for p in name.split(".") if not p.startswith("___torch_mangle")]
    if parts[:1] != ["__torch__"] or len(parts) < 3:
        return None
    module = sys.modules.get(".".join(parts[1:-1]))
    cls = getattr(module, parts[-1], None) if module is not None else None
    return cls if isinstance(cls, type) else None


def _plain_class(cls: type) -> type | None:
    """A plain ``nn.Module`` class with the methods of a ScriptModule subclass, in Python."""
    namespace: dict = {}
    for base in reversed(cls.__mro__):
        if base in (object, nn.Module, torch.jit.ScriptModule) or base.__module__.startswith("torch."):
            continue
        for name, value in vars(base).items():
            if name in ("__dict__", "__weakref__", "__init__", "_methods", "_constants_set", "__constants__"):
                continue
            namespace[name] = value
        for name, stub in (vars(base).get("_methods") or {}).items():
            original = getattr(stub, "original_method", None)
            if original is not None:
                namespace[name] = original
    if "forward" not in namespace:
        return None
    plain = type(cls.__name__, (nn.Module,), namespace)
    plain.__module__, plain.__qualname__ = cls.__module__, cls.__qualname__
    return plain


def _rebuild(m: nn.Module, cls: type, path: str, parts: list[AnalysisPart]) -> nn.Module:
    """An instance of ``cls`` (not initialised) with ``m``'s attributes, parameters, buffers and children."""
    obj = cls.__new__(cls)
    nn.Module.__init__(obj)
    names = _attribute_names(m, cls)
    params = dict(m.named_parameters(recurse=False))
    buffers = dict(m.named_buffers(recurse=False))
    for name in names:
        if name in params or name in buffers or name in m._modules or name == "_is_full_backward_hook":
            continue
        try:
            if not m._c.hasattr(name):
                continue
            value = getattr(m, name)
        except Exception:  # an attribute the scripted module does not expose to Python
            continue
        object.__setattr__(obj, name, value) if name == "training" else setattr(obj, name, value)
    needed = set(getattr(cls, "__constants__", ()) or ()) | _self_reads(cls)
    missing = sorted(
        n for n in needed if n not in obj.__dict__ and n not in params and n not in buffers and n not in m._modules
        and not hasattr(cls, n)
    )  # fmt: skip
    if missing:  # a traced copy keeps tensors, not the values its class reads (Dropout.p, self.scale)
        raise _Frozen(f"{cls.__name__} lacks {', '.join(missing)}")
    obj._parameters.update(params)
    obj._buffers.update(buffers)
    for name, child in m.named_children():
        obj._modules[name] = _convert(child, _join(path, name), parts, noted=True)
    obj.training = m.training
    return obj


def _attribute_names(m: nn.Module, cls: type) -> set[str]:
    """Names the Python class may read from ``self``: the scripted type's constants and attributes
    (a copy forgets them), the class's ``__constants__``, and every name its methods' code uses."""
    names: set[str] = set(getattr(cls, "__constants__", ()) or ())
    concrete = getattr(m, "_concrete_type", None)
    if concrete is not None:
        names |= set(concrete.get_constants()) | set(concrete.get_attributes())
    for base in cls.__mro__:
        if base in (object, nn.Module):
            continue
        for value in vars(base).values():
            code = getattr(value, "__code__", None)
            stack = [code] if code is not None else []
            while stack:
                code = stack.pop()
                names.update(code.co_names)
                stack.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    return names


@functools.lru_cache(maxsize=256)
def _self_reads(cls: type) -> frozenset[str]:
    """``self.<name>`` read outside ``__init__`` in the source of the user's classes of ``cls``'s MRO."""
    names: set[str] = set()
    for base in cls.__mro__:
        if base.__module__.startswith("torch.") or base is object:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(base)))
        except (OSError, TypeError, SyntaxError):
            continue
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.name == "__init__":
                continue
            names.update(
                n.attr for n in ast.walk(fn)
                if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Load)
                and isinstance(n.value, ast.Name) and n.value.id == "self"
            )  # fmt: skip
    return frozenset(names)


@contextlib.contextmanager
def script_functions_in_python(root: nn.Module) -> Iterator[None]:
    """While tracing or recording, ``@torch.jit.script`` functions that the model's code calls by
    a global name run as their original Python functions, so that fx can trace them and the
    capture engine sees their ops. The user's module globals are restored afterwards."""
    saved: list[tuple[dict, str, object]] = []
    try:
        for namespace, name, python in _script_functions(root):
            saved.append((namespace, name, namespace[name]))
            namespace[name] = python
        yield
    finally:
        for namespace, name, value in reversed(saved):
            namespace[name] = value


def _script_functions(root: nn.Module) -> list[tuple[dict, str, object]]:
    """(globals, name, Python function) for each scripted function in the globals of the model's code."""
    pending = [
        fn.__globals__
        for cls in {type(m) for m in root.modules()}
        for base in cls.__mro__
        if not base.__module__.startswith("torch.") and base is not object
        for fn in vars(base).values()
        if hasattr(fn, "__globals__")
    ]
    seen: set[int] = set()
    found: list[tuple[dict, str, object]] = []
    while pending:
        namespace = pending.pop()
        if id(namespace) in seen:
            continue
        seen.add(id(namespace))
        for name, value in list(namespace.items()):
            python = (
                getattr(value, "_torchdynamo_inline", None) if isinstance(value, torch.jit.ScriptFunction) else None
            )
            if callable(python) and hasattr(python, "__globals__"):
                found.append((namespace, name, python))
                pending.append(python.__globals__)
    return found

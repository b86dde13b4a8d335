"""The torch.fx engine: symbolic tracing, then shape propagation that builds IR nodes.

When tracing fails inside a submodule, that submodule's class is made a leaf ("opaque") and the
trace is retried; opaque submodules are later recorded by the capture engine while the fx graph
around them is interpreted. Only a failure in the root's own ``forward`` leaves fx with nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import operator
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

from ..errors import ForwardFailure, describe_exception
from ..source import call_site, location
from . import functions, ops, shapes
from .builder import Builder
from .capture import method_name, module_paths, record_call
from .eager import Run
from .guards import running_only_in_training
from .ir import ModuleCall, Node
from .scripted import script_functions_in_python

MAX_RETRACES = 16


class RandomBranch(Exception):
    """forward decides on a random draw: a trace would freeze one outcome, so fx must not trace it."""


class _RandomBranchGuard(TorchFunctionMode):
    """While tracing, taints real tensors drawn at random and fails on a decision taken on one.

    ``torch.rand(())`` has no symbolic input, so fx runs it and would bake one outcome of
    ``if torch.rand(()) < p: return x`` into the graph: a block skipped at trace time would vanish
    without a word. Failing instead sends the module to the capture engine, which records the
    decision (and seeds the draw).
    """

    def __init__(self) -> None:
        super().__init__()
        self.tainted = WeakIdKeyDictionary()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        method = method_name(func)
        deciding = method in ops.CONTROL_METHODS or ops.is_decision(func, method)
        if deciding and any(isinstance(t, torch.Tensor) and t in self.tainted for t in tree_leaves((args, kwargs))):
            site = call_site()
            where = f" at {location(site.file, site.line)}" if site else ""
            raise RandomBranch(f"forward decides on a random draw{where}; a trace would freeze one outcome")
        out = func(*args, **kwargs)
        drawn = ops.is_random(func, method)
        if drawn or any(isinstance(t, torch.Tensor) and t in self.tainted for t in tree_leaves((args, kwargs))):
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    self.tainted[t] = True
        return out


class _Tracer(fx.Tracer):
    def __init__(self, opaque: set[str], opaque_types: set[type]):
        super().__init__()
        self.opaque = opaque
        self.opaque_types = opaque_types
        self.calls: dict[int, ModuleCall] = {0: ModuleCall("", None)}  # every module call, as graph.calls
        self.call_stack = [0]

    def is_leaf_module(self, m: torch.nn.Module, qualname: str) -> bool:
        return qualname in self.opaque or type(m) in self.opaque_types or ops.is_leaf(m)

    def call_module(self, m, forward, args, kwargs):
        key = len(self.calls)
        site = call_site()
        path = "?"
        with contextlib.suppress(Exception):
            path = self.path_of_module(m)
        self.calls[key] = ModuleCall(path, self.call_stack[-1], *(site.best if site is not None else (None, None)))
        self.call_stack.append(key)
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception as exc:
            if not hasattr(exc, "_netlint_module"):
                with contextlib.suppress(Exception):
                    exc._netlint_module = self.path_of_module(m)  # innermost module whose forward failed
            raise
        finally:
            self.call_stack.pop()

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        node.meta["netlint_call"] = self.call_stack[-1]  # for call_module: the layer's own call
        node.meta["netlint_grad"] = torch.is_grad_enabled()  # a ``with torch.no_grad():`` in forward
        if kind in ("call_function", "call_method", "call_module"):
            node.meta["netlint_site"] = call_site()
            node.meta["netlint_owner"] = self.scope.module_path
            if kind == "call_function" and ops.is_functional_dropout(target):
                # Read now, while the user's frames are on the stack: ``if self.training:`` around the call.
                node.meta["netlint_training_only"] = running_only_in_training(getattr(target, "__name__", ""))
        return node


@dataclass
class Trace:
    """The outcome of tracing: an fx graph (None if the root itself is untraceable)."""

    graph: fx.Graph | None
    concrete: dict[str, Any] = field(default_factory=dict)
    params: list[str] = field(default_factory=list)  # forward's parameters: one placeholder each, in order
    opaque: dict[str, str] = field(default_factory=dict)  # module path -> why fx failed there
    root_reason: str = ""
    calls: dict[int, ModuleCall] = field(default_factory=dict)  # module calls seen while tracing


def trace(root: torch.nn.Module, inputs: list[Any], opaque: dict[str, str] | None = None) -> Trace:
    """Trace ``root`` for positional ``inputs``; non-tensor inputs and defaults become constants.

    ``opaque``: module paths to record rather than trace from the start, with the reason.
    """
    try:
        concrete, params = _concrete_args(root, inputs)
    except _Unsupported as exc:
        return Trace(None, root_reason=str(exc))
    opaque_paths: dict[str, str] = dict(opaque or {})
    opaque_types: set[type] = set()
    for _ in range(MAX_RETRACES):
        tracer = _Tracer(set(opaque_paths), opaque_types)
        try:
            with (
                _RandomBranchGuard(),
                torch.enable_grad(),
                script_functions_in_python(root),
                functions.calls_to(_apply_node),
                _jit_isinstance(),
                _attributes_restored(root),
            ):
                graph = tracer.trace(root, concrete_args=concrete or None)
        except Exception as exc:
            culprit = getattr(exc, "_netlint_module", "")
            if not culprit or culprit in opaque_paths:
                return Trace(None, root_reason=describe_exception(exc), opaque=opaque_paths)
            reason = describe_exception(exc)
            module = root.get_submodule(culprit)
            # Sibling layers of the same class almost always fail the same way: one retrace, not N.
            opaque_types.add(type(module))
            for path, sub in root.named_modules():
                if type(sub) is type(module) and not any(path.startswith(p + ".") for p in opaque_paths):
                    opaque_paths.setdefault(path, reason)
            continue
        # Drop opaque entries nested inside another opaque module: the outer one is recorded whole.
        kept = {p: r for p, r in opaque_paths.items() if not any(p.startswith(q + ".") for q in opaque_paths)}
        return Trace(graph, concrete, params, kept, calls=tracer.calls)
    return Trace(None, root_reason=f"more than {MAX_RETRACES} untraceable submodule types", opaque=opaque_paths)


class _Unsupported(Exception):
    pass


@contextlib.contextmanager
def _attributes_restored(root: torch.nn.Module) -> Iterator[None]:
    """Every module's attributes as they were before tracing.

    A forward that re-binds an attribute (``self.grid = self.grid.to(x.device)``, a cache) stores an
    fx proxy on the module while it is traced; left there, the next run computes with a proxy of a
    finished trace and never ends. What existed is put back (parameters, buffers and submodules
    too); a new attribute is dropped when it holds a proxy, kept otherwise (fx's own tensor
    constants, ``_tensor_constant0``, which the graph reads).
    """
    saved = [(m, _state(m)) for m in root.modules()]
    try:
        yield
    finally:
        for module, before in saved:
            for where, old in zip(_state_dicts(module), before):
                for key in [k for k in where if k not in old and isinstance(where[k], fx.Proxy)]:
                    del where[key]
                where.update(old)


def _state_dicts(module: torch.nn.Module) -> list[dict]:
    return [vars(module), *(vars(module)[k] for k in ("_parameters", "_buffers", "_modules") if k in vars(module))]


def _state(module: torch.nn.Module) -> list[dict]:
    return [dict(d) for d in _state_dicts(module)]


def _apply_node(cls: type, args: tuple, kwargs: dict) -> Any:
    """``Fn.apply(proxy)`` is one node: its forward runs with gradients off, so the interpreter records it
    with the capture engine, which knows what backward makes of it (graph/functions.py)."""
    proxy = next((a for a in tree_leaves((args, kwargs)) if isinstance(a, fx.Proxy)), None)
    if proxy is None:
        return functions.original_apply(cls)(*args, **kwargs)
    return proxy.tracer.create_proxy("call_function", functions.Apply(cls), args, kwargs)


@contextlib.contextmanager
def _jit_isinstance() -> Iterator[None]:
    """``torch.jit.isinstance(x, torch.Tensor)`` answers True for a traced value, as it does when the model runs.

    The real check is False for an fx proxy, so a branch on it (MONAI's ``if torch.jit.isinstance(skip,
    torch.Tensor): x = torch.cat([x, skip], 1)``) would silently vanish from the graph. A proxy stands
    for a tensor; asked about another type (``List[torch.Tensor]``), the trace fails instead and the
    module is recorded while it runs.
    """
    original = torch.jit.isinstance

    def checked(obj: Any, target_type: Any) -> bool:
        if not isinstance(obj, fx.Proxy):
            return original(obj, target_type)
        union = typing.get_origin(target_type) in (typing.Union, types.UnionType)
        if target_type is torch.Tensor or (union and torch.Tensor in typing.get_args(target_type)):
            return True  # Optional[Tensor] and Union[Tensor, ...] hold a tensor too
        raise fx.proxy.TraceError(f"torch.jit.isinstance of a traced value against {target_type}")

    torch.jit.isinstance = checked
    try:
        yield
    finally:
        torch.jit.isinstance = original


def _concrete_args(root: torch.nn.Module, inputs: list[Any]) -> tuple[dict[str, Any], list[str]]:
    """Tensor inputs become placeholders; other inputs and unused defaults are traced as constants."""
    params = list(inspect.signature(root.forward).parameters.values())
    concrete: dict[str, Any] = {}
    for i, param in enumerate(params):
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise _Unsupported(f"forward takes {param}: traced by recording instead")
        if i < len(inputs) and param.kind != param.KEYWORD_ONLY:
            if not _holds_tensor(inputs[i]):  # a dict or list of tensors stays an input (batch["image"])
                concrete[param.name] = inputs[i]
        elif param.default is not param.empty:
            concrete[param.name] = param.default
        else:
            raise _Unsupported(f"forward needs argument {param.name!r}")
    return concrete, [p.name for p in params]


def interpret(
    t: Trace, root: torch.nn.Module, inputs: list[Any], builder: Builder, device: str, known: Run | None = None
) -> None:
    """Run the traced graph on ``inputs`` (meta or real), building IR nodes as values appear.

    ``known``: an eager run of the same model on the same input (``eager.Run``) whose layer outputs
    stand in for running those layers again.
    """
    assert t.graph is not None
    engine = "torch.fx" if device == "meta" else f"torch.fx ({device})"
    builder.part("", engine)
    builder.graph.calls.update(t.calls)
    _Interpreter(t, root, inputs, builder, engine, f"capture ({device})", known).run()


class _Interpreter:
    def __init__(
        self,
        t: Trace,
        root,
        inputs: list[Any],
        builder: Builder,
        engine: str,
        capture_engine: str,
        known: Run | None = None,
    ):
        self.t, self.root, self.builder, self.engine, self.capture_engine = t, root, builder, engine, capture_engine
        self.known, self.calls_of = known, {}
        self.placeholders = iter(t.params)
        self.tensors = iter([x for x in inputs if _holds_tensor(x)])
        self.env: dict[fx.Node, tuple[Any, Any]] = {}  # fx node -> (value, IR node or a structure of them)
        self.paths: dict[int, str] | None = None

    def run(self) -> None:
        for n in self.t.graph.nodes:
            try:
                with torch.set_grad_enabled(n.meta.get("netlint_grad", True)):
                    self.env[n] = self.step(n)
                self._alias_in_place(n)
            except ForwardFailure:
                raise
            except Exception as exc:
                failure = ForwardFailure(exc, _where(n))
                failure.owner = self._owner(n)
                raise failure from exc

    def _owner(self, n: fx.Node) -> str:
        """The module whose forward made node ``n``'s call."""
        if n.op == "call_module":
            own = self.t.calls.get(n.meta.get("netlint_call", -1))
            parent = self.t.calls.get(own.parent) if own is not None and own.parent is not None else None
            return parent.module if parent is not None else ""
        return n.meta.get("netlint_owner", "") or ""

    def _alias_in_place(self, n: fx.Node) -> None:
        """``out.mul_(g)`` then ``out * a``: fx's later users read ``out``'s node, but the tensor they get is
        the one ``mul_`` wrote; point them at the in-place op's IR node, as the capture engine does."""
        if n.op not in ("call_method", "call_function") or not n.args or not isinstance(n.args[0], fx.Node):
            return
        name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
        ir = self.env[n][1]
        if name.endswith("_") and not name.endswith("__") and isinstance(ir, Node) and n.args[0] in self.env:
            self.env[n.args[0]] = (self.env[n.args[0]][0], ir)

    def load(self, a: Any) -> Any:
        return fx.node.map_arg(a, lambda n: self.env[n][0])

    def ir_inputs(self, n: fx.Node) -> list[Node]:
        found = []
        for p in n.all_input_nodes:
            found.extend(x for x in tree_leaves(self.env[p][1]) if isinstance(x, Node))
        return found

    def step(self, n: fx.Node) -> tuple[Any, Any]:
        b = self.builder
        if n.op == "placeholder":
            name = next(self.placeholders)  # fx renames constant parameters (scale -> scale_1)
            if name in self.t.concrete:
                return self.t.concrete[name], None
            value = next(self.tensors)
            return value, b.inputs(name, value)
        if n.op == "get_attr":
            value = _fetch(self.root, n.target)
            return value, (b.param(n.target, value, self.engine) if isinstance(value, torch.Tensor) else None)
        if n.op == "output":
            value = self.load(n.args[0])
            b.output(self.ir_inputs(n), value)
            return value, None
        value, ir = self._compute(n)
        if isinstance(ir, Node) and ir.call is None:
            ir.call = n.meta.get("netlint_call")
        return value, ir

    def _compute(self, n: fx.Node) -> tuple[Any, Any]:
        b, env = self.builder, self.env
        args, kwargs = self.load(n.args), self.load(n.kwargs)
        if n.op == "call_module":
            module = self.root.get_submodule(n.target)
            if n.target in self.t.opaque:
                return self.opaque(n, module, args, kwargs)
            # netlint's shape functions check what PyTorch checks, without a (slow) meta kernel
            value = shapes.module_output(module, args, kwargs)
            k = self.calls_of[n.target] = self.calls_of.get(n.target, -1) + 1
            if value is not None:
                value = shapes.as_output(value, (args, list(module.parameters())))
            elif self.known is not None and (ran := self.known.reuse(n.target, k, args, kwargs)) is not None:
                value = ran  # the layer's own output in the eager run, gradients and all
            else:
                shapes.check_module(module, args)
                value = module(*args, **kwargs)
            return value, b.module(n.target, module, self.ir_inputs(n), value, self.engine)
        if n.op == "call_function" and isinstance(n.target, functions.Apply):
            owner, call = n.meta.get("netlint_owner", ""), n.meta.get("netlint_call")
            return self._record(n, owner, lambda: n.target(*args, **kwargs), self.engine, call)
        if n.op == "call_function":
            value = shapes.function_output(n.target, args, kwargs)
            value = n.target(*args, **kwargs) if value is None else shapes.as_output(value, (args, kwargs))
        else:
            self_obj, *rest = args
            value = shapes.method_output(n.target, args, kwargs)
            value = (
                getattr(self_obj, n.target)(*rest, **kwargs)
                if value is None
                else shapes.as_output(value, (args, kwargs))
            )
        if n.op == "call_function" and n.target is operator.getitem and _is_structure(env[n.args[0]][1]):
            return value, _index(env[n.args[0]][1], args[1])  # an element of an opaque call's output
        if not any(isinstance(x, torch.Tensor) for x in tree_leaves(value)):
            return value, None  # sizes, shapes, Python numbers: not data
        owner, site = n.meta.get("netlint_owner", ""), n.meta.get("netlint_site")
        if n.op == "call_function":
            node = b.function(n.target, args, kwargs, self.ir_inputs(n), value, owner, site, self.engine)
            if n.meta.get("netlint_training_only"):
                node.params["only_in_training"] = True
            return value, node
        return value, b.method(n.target, self.ir_inputs(n), value, owner, site, self.engine, args[1:], kwargs)

    def opaque(self, n: fx.Node, module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[Any, Any]:
        """A submodule fx could not trace: record its forward with the capture engine."""
        self.builder.part(n.target, self.capture_engine, self.t.opaque[n.target])
        own = self.t.calls.get(n.meta.get("netlint_call", -1))  # the recording makes this call's record anew
        parent = own.parent if own is not None else None
        return self._record(n, n.target, lambda: module(*args, **kwargs), self.capture_engine, parent)

    def _record(self, n: fx.Node, owner: str, call, engine: str, parent: int | None) -> tuple[Any, Any]:
        """Run ``call`` under the capture engine, its inputs connected to ``n``'s producers."""
        if self.paths is None:
            self.paths = module_paths(self.root)
        seeds = [(self.env[p][0], self.env[p][1]) for p in n.all_input_nodes if isinstance(self.env[p][1], Node)]
        return record_call(self.builder, self.paths, owner, call, seeds, engine, parent)


def _where(n: fx.Node) -> str:
    site = n.meta.get("netlint_site")
    if n.op == "call_module":
        return f"layer {n.target}" + (f", called at {location(site.file, site.line)}" if site is not None else "")
    owner = n.meta.get("netlint_owner")
    name = getattr(n.target, "__name__", n.target)
    place = f" at {location(site.file, site.line)}" if site is not None else ""
    return f"{name}(){place}" + (f" in {owner}" if owner else "")


def _holds_tensor(x: Any) -> bool:
    return any(isinstance(t, torch.Tensor) for t in tree_leaves(x))


def _fetch(root: torch.nn.Module, target: str) -> Any:
    obj: Any = root
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _is_structure(ir: Any) -> bool:
    return isinstance(ir, (tuple, list, dict))


def _index(ir: Any, key: Any) -> Any:
    try:
        return ir[key]
    except (IndexError, KeyError, TypeError):
        return None

"""Decide from syntax trees alone which files define models, without importing them.

Importing a file runs its top-level code, and in a pre-commit run most files are not model files (a
training script's loop must never run), so this module imports neither torch nor the file. A file is
imported only when it defines a class whose bases resolve to ``torch.nn.Module`` or binds a
module-level name to a call that builds one. Names are resolved through imports, aliases, star
imports, classes of the same file and the syntax trees of the project's other files. A name from an
installed library (a base ``LightningModule``, a call ``smp.Unet()`` or ``nets.resnet18()``) is decided
by the callbacks the caller passes (the loader imports the library, never the user's file), in files
that import torch and wherever the library's own source imports torch (read, not imported:
``libraries.uses_torch``); a library function is asked about only in the latter case.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..cells import is_notebook, read_notebook
from .known import NOT_TORCH, SELF_METHODS, TORCH_PACKAGES, call_kind, class_verdict
from .libraries import INSTALLED, uses_torch

_BUILTINS = frozenset(dir(builtins))
_PARENT_LEVELS = 2

# A library check answers whether a dotted name (``pytorch_lightning.LightningModule``) is a
# torch.nn.Module class: True, False, or a string that says why it could not tell. A call check answers
# whether a call to one (``nets.resnet18``, a function) builds a model, in the same terms, or None: it may
# (no return annotation tells), and only the value built can say.
LibraryCheck = Callable[[str], "bool | str | None"]


@dataclass
class FileScan:
    path: str
    syntax_error: SyntaxError | None = None
    read_error: OSError | None = None  # the file could not be read at all (permissions, a broken link)
    classes: list[str] = field(default_factory=list)  # names bound to nn.Module classes, in file order
    instances: list[str] = field(default_factory=list)  # module-level names bound to a call that builds a model
    factories: list[str] = field(default_factory=list)  # functions without required arguments that return a model
    uses: dict[str, list[str]] = field(default_factory=dict)  # model class -> other model classes of the file it uses
    blocks: list[str] = field(default_factory=list)  # model classes used by another model class or instance
    unresolved: list[str] = field(default_factory=list)  # classes whose bases could not be decided, and why
    unresolved_classes: list[str] = field(default_factory=list)  # their names (decided once the file is imported)
    guesses: list[str] = field(default_factory=list)  # instances only a library function without annotation makes
    names: dict[str, int] = field(default_factory=dict)  # every top-level name bound -> line
    top_level_code: int | None = None  # line of the first top-level loop or with block outside a main guard
    imports_torch: bool = False

    @property
    def may_define_models(self) -> bool:
        return bool(self.classes or self.instances)

    @property
    def top_classes(self) -> list[str]:
        """Model classes that no other model class of the file uses (a network, not its blocks)."""
        used = {u for users in self.uses.values() for u in users}
        return [c for c in self.classes if c not in used] or list(self.classes)


def read_source(path: str) -> str:
    """The text of a source file, decoded as its PEP 263 coding declaration says (UTF-8 by default); of a
    notebook, its code cells joined (``netlint.cells``)."""
    if is_notebook(path):
        return read_notebook(path).python
    with open(path, "rb") as fh:
        data = fh.read()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def scan_source(source: str, path: str, project: Project | None = None) -> FileScan:
    """Scan ``source`` as if it were the file ``path`` (the project's other files are read from disk)."""
    project = project or Project()
    return project.scan(path, source)


def scan_file(path: str, project: Project | None = None) -> FileScan:
    return (project or Project()).scan(path)


# -- one file's names -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    """What a name denotes: ``ext`` a dotted name outside the project, ``module`` a project file,
    ``class`` / ``func`` / ``value`` a top-level binding of a project file, ``builtin``, ``unknown``."""

    kind: str
    file: str = ""
    name: str = ""  # the dotted name (ext), or the binding name
    index: int = 0  # which binding of that name (a name may be bound in an if and in its else)


@dataclass
class _File:
    path: str
    tree: ast.Module | None
    error: SyntaxError | None = None
    read_error: OSError | None = None
    bindings: dict[str, list[ast.AST]] = field(default_factory=dict)  # name -> ClassDef, FunctionDef, import, value
    lines: dict[str, int] = field(default_factory=dict)
    stars: list[str] = field(default_factory=list)
    top_level_code: int | None = None
    imports_torch: bool = False
    roots: tuple[str, ...] = ()


@dataclass
class _Scope:
    """A function's own names: its imports and the values it assigns."""

    imports: dict[str, list] = field(default_factory=dict)
    values: dict[str, list[ast.AST]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Import:
    dotted: str  # "torch.nn", "..layers.Block" (relative: leading dots)


def _is_main_guard(test: ast.expr) -> bool:
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    return any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and any(
        isinstance(s, ast.Constant) and s.value == "__main__" for s in sides
    )


def _top_level(body: list[ast.stmt], loops: list[int]) -> Iterator[ast.stmt]:
    """Statements that run on import, through top-level if/try/with (not a main guard's body)."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            if not _is_main_guard(node.test):
                yield from _top_level(node.body, loops)
            yield from _top_level(node.orelse, loops)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            for part in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _top_level(part, loops)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            loops.append(node.lineno)
            yield from _top_level(node.body, loops)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            loops.append(node.lineno)


def _bind_statements(statements: Iterator[ast.stmt] | list[ast.stmt], file: _File) -> None:
    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    file.bindings.setdefault(alias.asname, []).append(_Import(alias.name))
                else:
                    root = alias.name.split(".")[0]
                    file.bindings.setdefault(root, []).append(_Import(root))
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                dotted = f"{base}.{alias.name}" if node.module else f"{base}{alias.name}"
                if alias.name == "*":
                    file.stars.append(base)
                else:
                    file.bindings.setdefault(alias.asname or alias.name, []).append(_Import(dotted))
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            file.bindings.setdefault(node.name, []).append(node)
            file.lines.setdefault(node.name, node.lineno)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name, value in _pairs(target, node.value):
                    file.bindings.setdefault(name, []).append(value)
                    file.lines.setdefault(name, node.lineno)


def _pairs(target: ast.expr, value: ast.expr | None) -> Iterator[tuple[str, ast.expr | None]]:
    """``a, b = Net(), Adam()`` binds a to ``Net()`` and b to ``Adam()``; unknown values are None."""
    if isinstance(target, ast.Name):
        yield target.id, value
    elif isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
        if values is not None and len(values) != len(target.elts):
            values = None
        for i, elt in enumerate(target.elts):
            yield from _pairs(elt, values[i] if values is not None else None)
    elif isinstance(target, ast.Starred):
        yield from _pairs(target.value, None)


def _search_roots(path: str) -> tuple[str, ...]:
    """Where an absolute import of the project is looked for: the package root (which the loader puts on
    sys.path), the file's folder, then a few folders above it (scripts that extend sys.path with '..')."""
    directory = os.path.dirname(os.path.abspath(path))
    root = directory
    while os.path.exists(os.path.join(root, "__init__.py")):
        root = os.path.dirname(root)
    roots = [root, directory]
    for _ in range(_PARENT_LEVELS):
        parent = os.path.dirname(roots[-1])
        if parent == roots[-1]:
            break
        roots.append(parent)
    return tuple(dict.fromkeys(roots))


def _is_type_call(value: ast.AST | None) -> bool:
    """``type("Name", (nn.Module,), {...})``."""
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "type"
        and len(value.args) == 3
        and isinstance(value.args[1], (ast.Tuple, ast.List))
    )


def _any(verdicts: Iterator[bool | str]) -> bool | str:
    """True if any is True; else the first reason it could not be decided; else False."""
    undecided: bool | str = False
    for verdict in verdicts:
        if verdict is True:
            return True
        if isinstance(verdict, str) and undecided is False:
            undecided = verdict
    return undecided


# -- the project: files resolved by their syntax trees --------------------------------------------


class Project:
    """The syntax trees of one run's files, parsed once, and what their names resolve to."""

    def __init__(self, library_check: LibraryCheck | None = None, call_check: LibraryCheck | None = None):
        self._library_check = library_check
        self._call_check = call_check
        self._files: dict[str, _File] = {}
        self._memo: dict[tuple, bool | str] = {}
        self._library: dict[str, bool | str] = {}
        self._calls: dict[str, bool | str] = {}
        self._active: set[tuple] = set()  # names being resolved (import and alias cycles end there)
        self._guess = True  # whether a library function that may return a model (None from the call check) counts

    # files

    def _file(self, path: str, source: str | None = None) -> _File:
        path = os.path.abspath(path)
        if source is None and path in self._files:
            return self._files[path]
        if path in self._files:  # new text for a file read before: what was decided about it may change
            self._memo.clear()
        try:
            text = read_source(path) if source is None else source
            tree = ast.parse(text, path)
            file = _File(path, tree)
        except OSError as exc:
            file = _File(path, None, read_error=exc)
        except (SyntaxError, ValueError, UnicodeDecodeError, LookupError, RecursionError, MemoryError) as exc:
            error = exc if isinstance(exc, SyntaxError) else SyntaxError(f"cannot read the file: {exc}")
            file = _File(path, None, error)
        if file.tree is not None:
            loops: list[int] = []
            _bind_statements(_top_level(file.tree.body, loops), file)
            file.top_level_code = loops[0] if loops else None
            for node in ast.walk(file.tree):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                if any(n.split(".")[0] in TORCH_PACKAGES for n in names):
                    file.imports_torch = True
                    break
        file.roots = _search_roots(path)
        self._files[path] = file
        return file

    def _module_file(self, parts: list[str], roots: tuple[str, ...]) -> str | None:
        for root in roots:
            base = os.path.join(root, *parts)
            for candidate in (base + ".py", os.path.join(base, "__init__.py")):
                if os.path.isfile(candidate) and not INSTALLED.search(candidate):
                    return candidate
        return None

    # names

    def _resolve_dotted(self, file: _File, dotted: str) -> list[_Ref]:
        """``torch.nn.Module`` -> ext; ``.layers.Block`` or ``models.net.Net`` -> that project file's binding."""
        level = len(dotted) - len(dotted.lstrip("."))
        parts = [p for p in dotted[level:].split(".") if p]
        if level:
            directory = os.path.dirname(file.path)
            for _ in range(level - 1):
                directory = os.path.dirname(directory)
            roots: tuple[str, ...] = (directory,)
            if not parts:
                init = os.path.join(directory, "__init__.py")
                return [_Ref("module", init)] if os.path.isfile(init) else [_Ref("unknown", name=dotted)]
        elif not parts or parts[0] in NOT_TORCH or parts[0] == "torch":
            return [_Ref("ext", name=dotted[level:])]
        else:
            roots = file.roots
        for k in range(len(parts), 0, -1):
            found = self._module_file(parts[:k], roots)
            if found is not None:
                refs = [_Ref("module", found)]
                for attr in parts[k:]:
                    refs = [r for ref in refs for r in self._attribute(ref, attr)]
                return refs
        return [_Ref("unknown", name=dotted)] if level else [_Ref("ext", name=dotted)]

    def _resolve_name(self, file: _File, name: str, scope: _Scope | None = None) -> list[_Ref]:
        bound = (scope.imports.get(name) if scope else None) or file.bindings.get(name)
        if bound:
            refs: list[_Ref] = []
            for i, node in enumerate(bound):
                if isinstance(node, ast.ClassDef) or _is_type_call(node):
                    refs.append(_Ref("class", file.path, name, i))
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    refs.append(_Ref("func", file.path, name, i))
                elif isinstance(node, (_Import, ast.Name, ast.Attribute, ast.Subscript, ast.IfExp)):
                    key = (file.path, name, i, id(node))
                    if key in self._active:  # ``Module = Module``, or two files importing a name from each other
                        continue
                    self._active.add(key)
                    try:
                        if isinstance(node, _Import):
                            refs.extend(self._resolve_dotted(file, node.dotted))
                        else:
                            refs.extend(self._resolve_expr(file, node))
                    finally:
                        self._active.discard(key)
                else:
                    refs.append(_Ref("value", file.path, name, i))
            return refs
        if name in _BUILTINS:
            return [_Ref("builtin", name=name)]
        stars = [ref for star in file.stars for ref in self._resolve_dotted(file, star)]
        for ref in stars:  # the project's own modules first: they are read, not guessed
            if ref.kind == "module" and name in self._file(ref.file).bindings:
                return self._attribute(ref, name)
        from_libraries = [
            _Ref("ext", name=f"{ref.name}.{name}")
            for ref in stars
            if ref.kind == "ext" and ref.name.split(".")[0] not in NOT_TORCH
        ]
        return from_libraries or [_Ref("unknown", name=name)]

    def _attribute(self, ref: _Ref, attr: str) -> list[_Ref]:
        if ref.kind == "ext":
            return [_Ref("ext", name=f"{ref.name}.{attr}")]
        if ref.kind == "module":
            target = self._file(ref.file)
            if attr in target.bindings:
                return self._resolve_name(target, attr)
            if os.path.basename(ref.file) == "__init__.py":  # import pkg.layers binds pkg; pkg.layers is a file
                sub = self._module_file([attr], (os.path.dirname(ref.file),))
                if sub is not None:
                    return [_Ref("module", sub)]
            if target.stars:
                return self._resolve_name(target, attr)
        return [_Ref("unknown", name=attr)]

    def _resolve_expr(self, file: _File, expr: ast.AST, local: _Scope | None = None) -> list[_Ref]:
        if isinstance(expr, ast.Name):
            return self._resolve_name(file, expr.id, local)
        if isinstance(expr, ast.Attribute):
            return [r for ref in self._resolve_expr(file, expr.value, local) for r in self._attribute(ref, expr.attr)]
        if isinstance(expr, ast.Subscript):  # Generic[T], SomeBase[T]
            return self._resolve_expr(file, expr.value, local)
        if isinstance(expr, ast.IfExp):
            return [*self._resolve_expr(file, expr.body, local), *self._resolve_expr(file, expr.orelse, local)]
        return [_Ref("unknown", name=ast.unparse(expr))]

    # verdicts

    def _memoised(self, key: tuple, compute: Callable[[], bool | str]) -> bool | str:
        key = (*key, self._guess)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = False  # a cycle (class A(B), class B(A)) decides nothing
        try:
            verdict = compute()
        except BaseException:  # e.g. a library check that may not import here: nothing was decided
            del self._memo[key]
            raise
        self._memo[key] = verdict
        return verdict

    def _binding(self, ref: _Ref) -> ast.AST:
        return self._file(ref.file).bindings[ref.name][ref.index]

    def class_verdict(self, ref: _Ref) -> bool | str:
        """Whether a class binding is an nn.Module class (a string: why it cannot be told)."""
        node = self._binding(ref)
        file = self._file(ref.file)
        bases = node.bases if isinstance(node, ast.ClassDef) else node.args[1].elts  # type: ignore[attr-defined]
        return self._memoised(("class", ref), lambda: _any(v for b in bases for v in self._base_verdict(file, b)))

    def _base_verdict(self, file: _File, base: ast.expr) -> Iterator[bool | str]:
        for ref in self._resolve_expr(file, base):
            if ref.kind == "class":
                yield self.class_verdict(ref)
            elif ref.kind == "ext":
                yield self._ext_class_verdict(file, ref.name)
            elif ref.kind in ("unknown", "value") and file.imports_torch:
                yield f"its base {ast.unparse(base)} could not be resolved from the source"

    def _ext_class_verdict(self, file: _File, dotted: str) -> bool | str:
        known = class_verdict(dotted)
        if known is not None:
            return known
        if not file.imports_torch and not uses_torch(dotted.split(".")[0]):
            return False  # a library without torch in a file without torch (a Django model): not imported
        if dotted not in self._library:
            if self._library_check is None:
                self._library[dotted] = f"{dotted} was not imported to check it"
            else:
                self._library[dotted] = self._library_check(dotted)
        return self._library[dotted]

    def call_verdict(self, file: _File, call: ast.AST, scope: _Scope | None = None) -> bool:
        """Whether a call builds a model: ``Net()``, ``nn.Sequential(nn.Linear(2, 2))``, ``resnet18()``,
        ``build()`` (a function that returns such a call), ``Net().to(device)``, ``net.eval()``."""
        if not isinstance(call, ast.Call):
            return False
        return self._memoised(("call", file.path, id(call)), lambda: self._call_verdict(file, call, scope)) is True

    def _call_verdict(self, file: _File, call: ast.Call, scope: _Scope | None) -> bool:
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, (ast.Call, ast.Name)):
            if isinstance(func.value, ast.Call):  # Net().eval(), Net().parameters()
                return func.attr in SELF_METHODS and self.call_verdict(file, func.value, scope)
            values = self._values(file, func.value.id, scope)
            if values and func.attr in SELF_METHODS:  # net.to(device)
                return any(self.call_verdict(file, v, scope) for v in values)
        if isinstance(func, ast.Attribute):  # Net.from_config(cfg), Net.build(): a classmethod of a model class
            for ref in self._resolve_expr(file, func.value, scope):
                if ref.kind == "class" and self.class_verdict(ref) is True and self._factory_method(ref, func.attr):
                    return True
        for ref in self._resolve_expr(file, func, scope):
            if ref.kind == "class" and self.class_verdict(ref) is True:
                return True
            if ref.kind == "func" and self.returns_model(ref):
                return True
            if ref.kind == "ext" and self._ext_call_verdict(file, ref.name, call, scope):
                return True
        return False

    def _factory_method(self, ref: _Ref, attr: str) -> bool:
        """Whether ``attr`` is a classmethod or staticmethod of a project class, defined in it or inherited
        (from the project's classes, read here, or from a library's, imported by the library check)."""

        def compute() -> bool | str:
            node = self._binding(ref)
            file = self._file(ref.file)
            if isinstance(node, ast.ClassDef):
                for stmt in node.body:
                    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name == attr:
                        names = {ast.unparse(d).rsplit(".", 1)[-1] for d in stmt.decorator_list}
                        return bool(names & {"classmethod", "staticmethod"})
                    if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and attr in _assigned(stmt):
                        return False
            bases = node.bases if isinstance(node, ast.ClassDef) else node.args[1].elts  # type: ignore[attr-defined]
            for base in bases:
                for base_ref in self._resolve_expr(file, base):
                    if base_ref.kind == "class" and self._factory_method(base_ref, attr):
                        return True
                    if base_ref.kind == "ext" and self._ext_class_verdict(file, f"{base_ref.name}.{attr}") is True:
                        return True
            return False

        return self._memoised(("factory", ref, attr), compute) is True

    def _values(self, file: _File, name: str, scope: _Scope | None) -> list[ast.AST]:
        if scope is not None and name in scope.values:
            return scope.values[name]
        return [n for n in file.bindings.get(name, []) if isinstance(n, ast.expr)]

    def _ext_call_verdict(self, file: _File, dotted: str, call: ast.Call, local: _Scope | None) -> bool:
        kind = call_kind(dotted)
        if kind == "wrapper":
            return any(self.call_verdict(file, a, local) for a in call.args[:1])
        if kind == "container":
            return self._holds_layers(file, call, local)
        if kind == "library" and not dotted.rsplit(".", 1)[-1][:1].isupper():
            kind = "function"  # torchvision.ops.nms, timm.layers.create_conv2d
        if kind == "function":
            return self._library_function(dotted)
        if kind in ("library", "factory"):  # smp.Unet(), Model.from_config(cfg), or a function: MODELS.build(cfg)
            return self._ext_class_verdict(file, dotted) is True or self._library_function(dotted)
        return kind == "model"

    def _library_function(self, dotted: str) -> bool:
        """A function of an installed library whose source imports torch, that may return a model (the call
        check imports the library and reads the function's return annotation): the value built decides."""
        if self._call_check is None or not uses_torch(dotted.split(".")[0]):
            return False
        if dotted not in self._calls:
            self._calls[dotted] = self._call_check(dotted)
        verdict = self._calls[dotted]
        return verdict is True or (verdict is None and self._guess)

    def _holds_layers(self, file: _File, call: ast.Call, local: _Scope | None) -> bool:
        """A container with a layer inside; ``nn.Sequential(*layers)`` hides its contents: assume so."""
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            if isinstance(arg, (ast.Starred, ast.Name, ast.Attribute)):
                return True
            if any(self.call_verdict(file, c, local) for c in ast.walk(arg) if isinstance(c, ast.Call)):
                return True
        return False

    def returns_model(self, ref: _Ref) -> bool:
        """A function of the project whose returned value is a call that builds a model."""

        def compute() -> bool:
            node = self._binding(ref)
            file = self._file(ref.file)
            body = [n for n in ast.walk(node) if isinstance(n, ast.stmt) and n is not node]
            inner = _File(file.path, None)
            _bind_statements([n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))], inner)
            scope = _Scope(imports=inner.bindings)
            for n in body:
                if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
                    for target in n.targets if isinstance(n, ast.Assign) else [n.target]:
                        for name, value in _pairs(target, n.value):
                            if value is not None:
                                scope.values.setdefault(name, []).append(value)
            for n in body:
                if isinstance(n, ast.Return) and n.value is not None:
                    values = self._values(file, n.value.id, scope) if isinstance(n.value, ast.Name) else [n.value]
                    if any(self.call_verdict(file, v, scope) for v in values):
                        return True
            return False

        return self._memoised(("returns", ref), compute) is True

    # one file

    def scan(self, path: str, source: str | None = None) -> FileScan:
        file = self._file(path, source)
        result = FileScan(path, file.error, file.read_error, names=dict(file.lines), top_level_code=file.top_level_code)
        result.imports_torch = file.imports_torch
        if file.tree is None:
            return result
        model_nodes: dict[str, list[ast.AST]] = {}
        for name, nodes in file.bindings.items():
            for i, node in enumerate(nodes):
                ref = _Ref("class", file.path, name, i)
                if isinstance(node, ast.ClassDef) or _is_type_call(node):
                    verdict = self.class_verdict(ref)
                    if verdict is True:
                        model_nodes.setdefault(name, []).append(node)
                    elif isinstance(verdict, str):
                        result.unresolved.append(f"class {name} (line {file.lines[name]}): {verdict}")
                        result.unresolved_classes.append(name)
                elif isinstance(node, ast.expr) and self.call_verdict(file, node):
                    model_nodes.setdefault(name, []).append(node)
                    if name not in result.instances:
                        result.instances.append(name)
                elif (
                    isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and not _required_args(node)
                    and self.returns_model(_Ref("func", file.path, name, i))
                ):
                    result.factories.append(name)
        classes = [n for n, nodes in model_nodes.items() if n not in result.instances]
        if result.top_level_code is not None and result.instances and not classes:
            result.guesses = self._guesses(file, model_nodes, result.instances)
        result.classes = sorted(classes, key=lambda n: file.lines.get(n, 0))
        result.instances.sort(key=lambda n: file.lines.get(n, 0))
        known = set(result.classes)
        blocks: set[str] = set()
        for name in (*result.classes, *result.instances):
            used = {
                n.id
                for node in model_nodes[name]
                for part in _uses_of(node)
                for n in ast.walk(part)
                if isinstance(n, ast.Name) and n.id in known and n.id != name
            }
            if name in known:
                result.uses[name] = sorted(used, key=lambda n: file.lines.get(n, 0))
            blocks |= used
        # ResNet(BasicBlock, [2, 2, 2, 2]) in a factory: a class passed to another model class is its block
        for call in ast.walk(file.tree):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in known:
                passed = {
                    n.id
                    for arg in [*call.args, *(k.value for k in call.keywords)]
                    for n in ast.walk(arg)
                    if isinstance(n, ast.Name) and n.id in known and n.id != call.func.id
                }
                if passed - set(result.uses[call.func.id]):
                    uses = set(result.uses[call.func.id]) | passed
                    result.uses[call.func.id] = sorted(uses, key=lambda n: file.lines.get(n, 0))
                blocks |= passed
        result.blocks = [c for c in result.classes if c in blocks]
        return result

    def _guesses(self, file: _File, model_nodes: dict[str, list[ast.AST]], instances: list[str]) -> list[str]:
        """The instances that are models only if a library function without a return annotation returns one.

        A training script (``loader = lib.make_loader(...)`` then a top-level loop) must not run for them."""
        self._guess = False
        try:
            return [n for n in instances if not any(self.call_verdict(file, v) for v in model_nodes[n])]
        finally:
            self._guess = True


def _assigned(stmt: ast.Assign | ast.AnnAssign) -> set[str]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _uses_of(node: ast.AST) -> list[ast.AST]:
    """The parts of a binding that use other classes: a class's body (its bases are not uses)."""
    if isinstance(node, ast.ClassDef):
        return list(node.body)
    return [node.args[2]] if _is_type_call(node) else [node]  # type: ignore[attr-defined]


def _required_args(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    args = node.args
    positional = [*args.posonlyargs, *args.args]
    return len(positional) > len(args.defaults) or any(d is None for d in args.kw_defaults)

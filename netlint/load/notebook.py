"""Which statements of a notebook define its models, and the source that runs only those.

A notebook interleaves model code with data loading, training loops and plots at top level: importing
it whole would train. From the syntax tree of its joined code cells (``netlint.cells``) netlint keeps
what the models need and blanks the rest, so that line numbers stay those of the joined cells:

- the roots: the file's model classes (and classes whose bases only an import can decide), its
  module-level model instances and factories, ``example_inputs`` and the name a target gives
  (``nb.ipynb:Net``), as the scanner found them;
- for each name a kept statement reads, the latest statement before it that binds the name (an
  import, a def or class, an assignment, an ``if``/``try``/``with`` block) and the statements between
  them that change it in place (``model.fc = nn.Linear(...)``, ``layers.append(...)``); the names a
  function reads when it runs are needed as they are where it is called, or at the end (netlint builds
  the classes and factories after the import);
- ``sys.path`` changes and star imports always (later imports may need them);
- never: a ``while`` loop, an ``async`` statement, and a ``for`` loop or other statement that trains:
  it calls ``backward``, ``step``, ``zero_grad``, ``fit`` or a ``train...`` function, itself or
  through a function of the notebook. What the models do not need (plots, prints, data loaders,
  optimizers) is not run either; a note says what was left out.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.util
import linecache
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import ModuleType

from ..cells import Notebook, read_notebook, split_lines
from ..source import relpath
from .scan import FileScan

# Methods that change a module or a list of layers in place (``model.fc = ...`` counts too).
_CHANGING = frozenset({
    "append", "extend", "insert", "add_module", "register_module", "register_buffer", "register_parameter",
    "update", "setdefault", "pop", "remove", "clear", "requires_grad_",
})  # fmt: skip
_TRAINING_METHODS = frozenset({"backward", "step", "zero_grad", "fit"})
# train(...), train_model, train_one_epoch, run_training, do_train (not train_test_split: that splits data)
_TRAINING_NAME = re.compile(r"^(train|fit)(_(model|net|network|one_epoch|epoch|epochs|step|loop))?$|_train(ing)?$")
_DATA = re.compile(r"(?i)loader|dataset|datamodule|read_|download|imagefolder")
_WEIGHTS = re.compile(r"state_dict$|^torch\.(load|save)$|from_pretrained$|load_from_checkpoint$|save_pretrained$")
_LOSS = re.compile(r"Loss$|(^|_)loss$")
_OPTIMIZERS = re.compile(r"optim|^(Adam|AdamW|SGD|RMSprop|Adagrad|Adadelta|LBFGS|Lion)$|[Ss]cheduler")
_OUTPUT = re.compile(r"^(print|display|show|imshow|plot|summary|savefig|subplots|figure|hist|scatter|legend)$")
_NOTE_LIMIT = 10  # cells named in the note, then "and N more"


@dataclass
class _Statement:
    node: ast.stmt
    position: int
    binds: set[str] = field(default_factory=set)
    changes: set[str] = field(default_factory=set)  # names whose value it changes in place
    now: set[str] = field(default_factory=set)  # names read when it runs
    later: set[str] = field(default_factory=set)  # names read when a function it defines runs
    trains: bool = False
    loop: bool = False  # a for loop (at its top or inside a block)
    endless: bool = False  # a while loop or an async statement: never run
    always: bool = False  # sys.path changes, star imports and __future__ imports


def runnable_source(path: str, scan: FileScan, names: Iterable[str] = ()) -> tuple[str, str]:
    """The notebook's joined source with only what its models need, and what was left out ("" if nothing):
    ``not run: cell 5 (a training loop), cell 3 lines 4-6 (an optimizer); IPython magics ... skipped in cell 1``."""
    notebook = read_notebook(path)
    tree = ast.parse(notebook.python, path)
    roots = {*scan.classes, *scan.unresolved_classes, *scan.instances, *scan.factories, "example_inputs"}
    roots |= {m.group(0) for n in names if (m := re.match(r"[A-Za-z_]\w*", n.strip()))}
    statements = [_analyse(node, i) for i, node in enumerate(tree.body)]
    _mark_training(tree, statements)
    kept = _select(statements, roots)
    dropped = [s for s in statements if s.position not in kept]
    running = {found[0].number for s in statements if s.position in kept and (found := notebook.where(s.node.lineno))}
    left_out = _left_out(notebook, dropped, running, set(scan.instances))
    return _blank(notebook.python, dropped, statements, kept), left_out


def import_notebook(
    path: str, scan: FileScan, sites, notes: list[str], names: Iterable[str], import_file: Callable[..., ModuleType]
) -> ModuleType:
    """Import (with ``import_file``, the loader's) the part of the notebook its models need; ``notes`` gets
    what was left out."""
    from ..errors import NetlintError

    source, left_out = runnable_source(path, scan, names)
    if left_out:
        notes.append(f"{relpath(path)}: netlint ran only the code that defines its models; {left_out}.")
    try:
        return import_file(path, sites, source)
    except NetlintError as exc:  # the code that ran may have needed something that did not
        raise NetlintError(
            exc.target, exc.message.replace("importing the file failed", "running the notebook's model code failed"),
            "netlint runs only the statements that define the models, never training code"
            + (f" ({left_out})" if left_out else "")
            + f"; build what they need outside training code, or check a class or factory as {exc.target}:Name.",
        ) from None  # fmt: skip


class NotebookLoader(importlib.abc.Loader):
    """Runs the notebook's runnable source as a module whose ``__file__`` is the notebook: frames, tracebacks
    and ``inspect`` name the notebook, with the lines of its joined cells."""

    def __init__(self, path: str, source: str):
        self.path, self.source = path, source

    def create_module(self, spec):
        return None

    def exec_module(self, module) -> None:
        module.__file__ = self.path
        full = read_notebook(self.path).python
        # inspect.getsource and tracebacks read lines through linecache: the joined cells, not the JSON
        # (no mtime: linecache.checkcache keeps the entry).
        linecache.cache[self.path] = (len(full), None, split_lines(full), self.path)
        exec(compile(self.source, self.path, "exec", dont_inherit=True), module.__dict__)


def module_spec(name: str, path: str, source: str):
    return importlib.util.spec_from_loader(name, NotebookLoader(path, source), origin=path)


# -- what each statement does --------------------------------------------------------------------


def _analyse(node: ast.stmt, position: int) -> _Statement:
    s = _Statement(node, position)
    own = {id(t) for c in ast.walk(node) if isinstance(c, ast.comprehension) for t in ast.walk(c.target)}
    for sub in _module_scope(node):
        if isinstance(sub, (ast.Import, ast.ImportFrom)):
            for alias in sub.names:
                if alias.name == "*":
                    s.always = True
                else:
                    s.binds.add(alias.asname or alias.name.split(".")[0])
            if isinstance(sub, ast.ImportFrom) and sub.module == "__future__":
                s.always = True
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            s.binds.add(sub.name)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)) and id(sub) not in own:
            s.binds.add(sub.id)
        elif isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = sub.targets if isinstance(sub, (ast.Assign, ast.Delete)) else [sub.target]
            for target in targets:
                for part in _flatten(target):
                    root = _root(part)
                    if root and root is not part:
                        s.changes.add(root.id)
                        s.always |= _is_sys_path(part)
        elif isinstance(sub, ast.Expr) and isinstance(sub.value, ast.Call):
            func = sub.value.func
            if isinstance(func, ast.Attribute) and func.attr in _CHANGING and (root := _root(func.value)):
                s.changes.add(root.id)
                s.always |= _is_sys_path(func.value)
        elif isinstance(sub, (ast.While, ast.AsyncFor, ast.AsyncWith)):
            s.endless = True
        elif isinstance(sub, ast.For):
            s.loop = True
        elif isinstance(sub, ast.Await):
            s.endless = True
    s.now, s.later = _reads(node)
    return s


def _module_scope(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a top-level statement that run at module level (not the bodies of functions, classes
    or lambdas, whose definitions it yields)."""
    yield node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
        return
    for child in ast.iter_child_nodes(node):
        yield from _module_scope(child)


def _flatten(target: ast.expr) -> Iterator[ast.expr]:
    if isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            yield from _flatten(elt)
    elif isinstance(target, ast.Starred):
        yield from _flatten(target.value)
    else:
        yield target


def _root(expr: ast.expr) -> ast.Name | None:
    """``model`` of ``model.layers[0].fc``."""
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    return expr if isinstance(expr, ast.Name) else None


def _is_sys_path(expr: ast.expr) -> bool:
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    return isinstance(expr, ast.Attribute) and ast.unparse(expr) == "sys.path"


def _reads(node: ast.stmt) -> tuple[set[str], set[str]]:
    """Names a statement reads when it runs, and those the functions it defines read when they run."""
    now: set[str] = set()
    later: set[str] = set()

    def visit(n: ast.AST, bucket: set[str]) -> None:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = n.args
            for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
                visit(default, bucket)
            if not isinstance(n, ast.Lambda):
                for part in [*n.decorator_list, n.returns, *(a.annotation for a in _arguments(args))]:
                    if part is not None:
                        visit(part, bucket)
            later.update(_free_names(n))
        elif isinstance(n, ast.ClassDef):
            for part in [*n.decorator_list, *n.bases, *(k.value for k in n.keywords)]:
                visit(part, bucket)
            for statement in n.body:  # the class body runs now; its methods later
                visit(statement, bucket)
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner: set[str] = set()
            for child in ast.iter_child_nodes(n):
                visit(child, inner)
            targets = {t.id for g in n.generators for t in ast.walk(g.target) if isinstance(t, ast.Name)}
            bucket |= inner - targets
        elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            bucket.add(n.id)
        else:
            for child in ast.iter_child_nodes(n):
                visit(child, bucket)

    visit(node, now)
    if isinstance(node, ast.For):  # the loop's own variables are not read from before it
        now -= {t.id for t in ast.walk(node.target) if isinstance(t, ast.Name)}
    return now, later


def _arguments(args: ast.arguments) -> list[ast.arg]:
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *filter(None, [args.vararg, args.kwarg])]


def _free_names(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Names a function reads from outside it: those it loads, less its parameters and what it binds."""
    body = function.body if isinstance(function.body, list) else [function.body]
    loaded: set[str] = set()
    local = {a.arg for a in _arguments(function.args)}
    for statement in body:
        for n in ast.walk(statement):
            if isinstance(n, ast.Name):
                (loaded if isinstance(n.ctx, ast.Load) else local).add(n.id)
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                local |= {a.arg for a in _arguments(n.args)}
                if not isinstance(n, ast.Lambda):
                    local.add(n.name)
            elif isinstance(n, ast.ClassDef):
                local.add(n.name)
            elif isinstance(n, (ast.Import, ast.ImportFrom)):
                local |= {a.asname or a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ExceptHandler) and n.name:
                local.add(n.name)
    return loaded - local


# -- training -------------------------------------------------------------------------------------


def _callee(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _is_training_call(call: ast.Call, training: set[str]) -> bool:
    name = _callee(call)
    if isinstance(call.func, ast.Attribute):
        if name == "train":  # model.train() / model.train(False) only switch the mode
            return len(call.args) + len(call.keywords) > 1 or bool(
                call.args and not isinstance(call.args[0], ast.Constant)
            )
        return name in _TRAINING_METHODS or bool(_TRAINING_NAME.search(name))
    return name in training or bool(_TRAINING_NAME.search(name))


def _mark_training(tree: ast.Module, statements: list[_Statement]) -> None:
    """A statement trains when it calls a training method or a function of the notebook that trains."""
    functions = {
        n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
    }  # fmt: skip
    training: set[str] = set()
    changed = True
    while changed:  # functions that call training functions train too
        changed = False
        for name, function in functions.items():
            if name in training:
                continue
            calls = [n for n in ast.walk(function) if isinstance(n, ast.Call)]
            if any(_is_training_call(c, training) for c in calls):
                training.add(name)
                changed = True
    for s in statements:
        calls = [n for n in _module_scope(s.node) if isinstance(n, ast.Call)]
        s.trains = any(_is_training_call(c, training) for c in calls)


# -- choosing -------------------------------------------------------------------------------------


def _runnable(s: _Statement) -> bool:
    return not s.endless and not s.trains


def _select(statements: list[_Statement], roots: set[str]) -> set[int]:
    """Positions of the statements to run: what the roots need, name by name, as of where it is needed."""
    end = len(statements)
    kept: set[int] = set()
    work: list[tuple[str, int]] = [(name, end) for name in sorted(roots)]
    seen: set[tuple[str, int]] = set()

    def keep(s: _Statement, at: int) -> None:
        kept.add(s.position)
        work.extend((name, s.position) for name in s.now)
        work.extend((name, at) for name in s.later)  # its functions may run where the name is needed

    for s in statements:
        if s.always and _runnable(s):
            keep(s, end)
    while work:
        name, at = work.pop()
        if (name, at) in seen:
            continue
        seen.add((name, at))
        for s in reversed(statements[:at]):
            if name not in s.binds and name not in s.changes:
                continue
            if not _runnable(s):
                continue
            keep(s, at)
            if name in s.binds:
                break
    return kept


# -- the source that runs -------------------------------------------------------------------------


def _lines(node: ast.stmt) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)]), node.end_lineno or node.lineno


def _blank(python: str, dropped: list[_Statement], statements: list[_Statement], kept: set[int]) -> str:
    """The joined source with the dropped statements blanked, line for line."""
    lines = split_lines(python)
    kept_lines = {n for s in statements if s.position in kept for n in range(_lines(s.node)[0], _lines(s.node)[1] + 1)}
    for s in dropped:
        first, last = _lines(s.node)
        if any(n in kept_lines for n in (first, last)):  # shares a line with kept code (a; b): replace its text
            node = s.node
            start = sum(len(x) for x in lines[: first - 1]) + _column(lines[first - 1], node.col_offset)
            stop = sum(len(x) for x in lines[: last - 1]) + _column(lines[last - 1], node.end_col_offset or 0)
            text = "".join(lines)
            middle = "pass" + "".join(c for c in text[start:stop] if c in "\r\n")
            lines = split_lines(text[:start] + middle + text[stop:])
            continue
        for n in range(first, last + 1):
            line = lines[n - 1]
            lines[n - 1] = line[len(line.rstrip("\r\n")) :] or "\n"
    return "".join(lines)


def _column(line: str, byte_offset: int) -> int:
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", "ignore"))


# -- the note -------------------------------------------------------------------------------------


def _kind(s: _Statement, models: set[str]) -> str | None:
    """What a dropped statement is, for the note; None for what is not worth a word (an unused import).

    ``models``: the names bound to model instances."""
    node = s.node
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.Pass)):
        return None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return None  # a string used as a comment
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and not any(isinstance(n, ast.Call) for n in ast.walk(node)):
        return None  # a constant no model uses
    if s.loop or s.endless:
        return "a training loop" if s.trains else "a loop"
    if s.trains:
        return "training"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "definitions no model uses"
    names = [_dotted(c.func) for c in _module_scope(node) if isinstance(c, ast.Call)]
    if any(_WEIGHTS.search(n) for n in names):
        return "loading or saving weights"
    if any(n in models for n in names):
        return "running a model"
    if s.binds & models and isinstance(node, (ast.Assign, ast.AnnAssign)):
        return "a model built again later"
    if any(_LOSS.search(n.rsplit(".", 1)[-1]) for n in names):
        return "a loss"
    if any(_DATA.search(n) for n in names):
        return "data loading"
    if any(_OPTIMIZERS.search(part) for n in names for part in n.split(".")):
        return "an optimizer"
    if isinstance(node, ast.Expr) and (
        not isinstance(node.value, ast.Call) or any(_OUTPUT.match(n.rsplit(".", 1)[-1]) for n in names)
    ):
        return "output"
    return "other code"


def _dotted(func: ast.expr) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def _left_out(notebook: Notebook, dropped: list[_Statement], running: set[int], models: set[str]) -> str:
    """``not run: cell 5 (a training loop), cell 3 lines 4-6 (an optimizer); IPython magics ... in cell 1``

    ``running``: the cells some kept statement starts in (the others did not run at all).
    """
    by_cell: dict[int, list[tuple[int, int, str]]] = {}
    for s in dropped:
        kind = _kind(s, models)
        first, last = _lines(s.node)
        start, end = notebook.where(first), notebook.where(last)
        if kind is None or start is None or end is None:
            continue
        by_cell.setdefault(start[0].number, []).append((start[1], end[1], kind))
    entries: list = []
    for number, parts in sorted(by_cell.items()):
        kinds = ", ".join(dict.fromkeys(k for _, _, k in parts))
        if number in running:
            spans: list[list[int]] = []
            for a, b, _ in sorted(parts):  # statements on consecutive lines read as one range
                if spans and a <= spans[-1][1] + 1:
                    spans[-1][1] = max(spans[-1][1], b)
                else:
                    spans.append([a, b])
            many = len(spans) > 1 or spans[0][1] > spans[0][0]
            shown_spans = ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)
            entries.append((number, f"cell {number} line{'s' * many} {shown_spans} ({kinds})"))
        else:
            entries.append((number, f"cell {number} ({kinds})"))
    entries += [(c.number, f"cell {c.number} ({c.skipped})") for c in notebook.cells if c.skipped]
    entries = [text for _, text in sorted(entries)]
    magics = [str(c.number) for c in notebook.cells if c.ipython and not c.skipped]
    shown = entries[:_NOTE_LIMIT] + ([f"and {len(entries) - _NOTE_LIMIT} more"] if len(entries) > _NOTE_LIMIT else [])
    parts = [f"not run: {', '.join(shown)}"] if entries else []
    if magics:
        parts.append(f"IPython magics and shell lines skipped in cell{'s' * (len(magics) > 1)} {', '.join(magics)}")
    return "; ".join(parts)

"""A model class's own code as syntax trees: its methods and the layers they refer to (``self.heads[i]``).

Shared by the readings of code a recording did not run (``unrun``: branches on arguments left at
their defaults, other methods) and of code whose run depended on tensor values (``routing``).
Line numbers are the file's, so that they can be matched with the lines a recording ran.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch

# Base classes whose methods refer to no user layer by name (and are large to read).
LIBRARY_BASES = ("torch.", "lightning.", "pytorch_lightning.", "builtins", "typing")
ANY = "*"  # a chain component indexed by a value: ``self.heads[i]``
CONTAINERS = (torch.nn.ModuleList, torch.nn.ModuleDict, torch.nn.Sequential)


@dataclass
class Method:
    node: ast.FunctionDef
    params: list[str] = field(default_factory=list)  # without self
    file: str = ""  # the real path of the file that defines it

    def lines_of(self, lines: Iterable[tuple[str, int]]) -> set[int]:
        """Those of ``(file, line)`` pairs that lie in this method."""
        first, last = self.node.lineno, self.node.end_lineno or self.node.lineno
        return {line for file, line in lines if first <= line <= last and real_path(file) == self.file}


def methods(cls: type) -> dict[str, Method]:
    """The methods of ``cls`` and its user-written bases, the nearest definition first."""
    found: dict[str, Method] = {}
    for klass in cls.__mro__:
        if (klass.__module__ or "").startswith(LIBRARY_BASES) or klass.__module__ == "builtins":
            continue
        read = class_tree(klass)
        if read is None:
            continue
        tree, file = read
        for stmt in tree.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name not in found:
                args = stmt.args
                params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]][1:]
                found[stmt.name] = Method(stmt, params, file)
    return found


@functools.lru_cache(maxsize=512)
def class_tree(cls: type) -> tuple[ast.ClassDef, str] | None:
    """The class statement, with the line numbers of its file, and that file's real path."""
    try:
        lines, start = inspect.getsourcelines(cls)
        tree = ast.parse(textwrap.dedent("".join(lines)))
        file = real_path(inspect.getsourcefile(cls) or "")
    except Exception:  # no source (built by exec, a C extension), or source that does not parse alone
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.ClassDef):
        return None
    ast.increment_lineno(node, max(start, 1) - 1)
    return node, file


@functools.lru_cache(maxsize=1024)
def real_path(file: str) -> str:
    return os.path.realpath(file) if file else ""


def star_params(fn: ast.FunctionDef) -> set[str]:
    return {a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None}


def reach(found: dict[str, Method], start: Iterable[str]) -> set[str]:
    """The methods ``start`` refers to through ``self.name``, transitively (called or passed on)."""
    seen: set[str] = set()
    todo = [m for m in start if m in found]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(c[0] for c in chains(found[name].node) if c[0] in found)
    return seen


def chain(node: ast.AST) -> tuple[str, ...] | None:
    """``self.a.b[0].c`` -> ``("a", "b", "0", "c")``; ``self.heads[i]`` -> ``("heads", "*")``."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            key = node.slice
            parts.append(str(key.value) if isinstance(key, ast.Constant) and isinstance(key.value, int) else ANY)
            node = node.value
        elif isinstance(node, ast.Name) and node.id == "self" and parts:
            return tuple(reversed(parts))
        else:
            return None


def chain_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every maximal ``self...`` chain expression in ``tree`` (its inner attributes are not; its indices are)."""
    if chain(tree) is not None:
        yield tree
        for part in subscripts(tree):
            yield from chain_nodes(part)
        return
    for child in ast.iter_child_nodes(tree):
        yield from chain_nodes(child)


def chains(tree: ast.AST) -> Iterator[tuple[str, ...]]:
    """Every maximal ``self...`` chain in ``tree``."""
    for node in chain_nodes(tree):
        found = chain(node)
        if found is not None:
            yield found


def subscripts(node: ast.AST) -> Iterator[ast.AST]:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Subscript):
            yield node.slice
        node = node.value


def mentions(node: ast.AST, names: Iterable[str]) -> bool:
    names = set(names)
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(node))


def assigned(node: ast.AST) -> set[str]:
    """The names an assignment with a value binds (``a, b = ...``, ``x: T = ...``, ``x += ...``)."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) or node.value is None:
        return set()
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def through_containers(module: torch.nn.Module, path: tuple[str, ...]) -> tuple[str, ...]:
    """``path`` as far as it names submodules (and a parameter of the last), with ``*`` for every element
    of a container it reaches: ``("experts", "items")`` -> ``("experts", "*")`` for a ModuleDict (``for k, e
    in self.experts.items()``), ``("experts",)`` -> ``("experts", "*")``; after a ``*`` the rest as written."""
    target: torch.nn.Module | None = module
    for i, part in enumerate(path):
        if part == ANY and isinstance(target, CONTAINERS):
            return path  # ``self.blocks[i].attn``: the same attribute of every element
        child = target._modules.get(part) if target is not None else None
        if child is None:
            if target is not None and (part in target._parameters or part in target._buffers):
                return path[: i + 1]
            if i == 0:
                return path  # not a submodule of this instance (a method, a plain attribute): as written
            return (*path[:i], ANY) if isinstance(target, CONTAINERS) else path[:i]
        target = child
    return (*path, ANY) if isinstance(target, CONTAINERS) else path


def covers(path: tuple[str, ...], rel: list[str]) -> str | None:
    """The path (relative to the class) where ``path`` meets the way to parameter ``rel``: a module
    above it, or the parameter itself (whether using that module uses the parameter: the caller's question)."""
    path = path[: len(rel)]
    if not path:
        return None
    if all(c in (r, ANY) for c, r in zip(path, rel)):
        return ".".join(rel[: len(path)])
    return None


def aliases(fn: ast.AST) -> dict[str, list[tuple[str, ...]]]:
    """Names that stand for layers: ``for i, e in enumerate(self.experts)``, ``layer = self.experts[i]``."""
    found: dict[str, list[tuple[str, ...]]] = {}
    for node in ast.walk(fn):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            targets, refs = bound_names(node.target), list(chains(node.iter))
        elif isinstance(node, ast.Assign) and chain(node.value) is not None:
            targets, refs = {n for t in node.targets for n in bound_names(t)}, [chain(node.value)]
        else:
            continue
        for name in targets:
            found.setdefault(name, []).extend(c for c in refs if c is not None)
    return found


def bound_names(target: ast.AST) -> set[str]:
    """The names a target binds: ``a``, ``i, (k, e)``, ``*rest``; not those inside ``y[mask]`` or ``self.cache``."""
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return {n for t in target.elts for n in bound_names(t)}
    if isinstance(target, ast.Starred):
        return bound_names(target.value)
    return set()

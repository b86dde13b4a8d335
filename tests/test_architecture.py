"""The house's shape: folders by stage, and imports that only flow one way.

Read from the modules' syntax trees (nothing is imported): every ``import`` counts, the lazy ones
inside functions included, except those under ``if TYPE_CHECKING:`` (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("load", "graph", "rules", "probing", "config", "run", "report")
# Plain data and helpers every stage may use; they import only each other.
SHARED = {"errors", "findings", "source", "state", "messages", "progress", "options", "results", "loss_names", "memory"}
# What each stage (and each top-level module that is not an entry point) may import besides itself.
ALLOWED = {
    "load": SHARED,
    "graph": SHARED | {"load"},
    "rules": SHARED | {"graph"},
    "probing": SHARED | {"load", "graph"},
    "config": SHARED | {"load", "rules"},
    "fix": SHARED | {"graph"},
    "run": SHARED | {"load", "graph", "rules", "probing", "config", "fix"},
    "report": SHARED | {"rules", "netlint"},  # netlint: the package's __version__
    **{name: SHARED for name in SHARED},
}
ENTRY_POINTS = {"netlint", "__main__", "api", "cli", "testing"}  # they may import anything


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in ((ROOT / "netlint", "netlint"), (ROOT / "rules", "netlint.rules")):
        for path in folder.rglob("*.py"):
            if "examples" in path.parts:
                continue
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    skipped = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    out.add(f"{base}.{alias.name}")
                elif base in modules:
                    out.add(base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in modules)
    return out - {name}


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "netlint"


MODULES = _modules()
IMPORTS = {name: _imports(name, path, MODULES) for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its nodes in order), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_detector_sees_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_module_imports_itself_through_others():
    assert _cycle(IMPORTS) is None


def test_stages_import_only_the_stages_before_them():
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in IMPORTS.items()
        for target in targets
        if _stage(name) != _stage(target)
        and _stage(name) not in ENTRY_POINTS
        and _stage(target) not in ALLOWED[_stage(name)]
    )
    assert not wrong, "\n".join(wrong)
    between = {s: {_stage(t) for n, ts in IMPORTS.items() if _stage(n) == s for t in ts} - {s} for s in ALLOWED}
    assert _cycle(between) is None


def test_every_module_belongs_to_a_known_place():
    places = set(STAGES) | SHARED | ENTRY_POINTS | {"fix"}
    assert {_stage(m) for m in MODULES} <= places, sorted({_stage(m) for m in MODULES} - places)


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_folder_says_what_it_holds_and_may_import(stage):
    folder = ROOT / "rules" if stage == "rules" else ROOT / "netlint" / stage
    doc = ast.get_docstring(ast.parse((folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc and "import" in doc


def _top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        for sub in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in sub.names)
            elif isinstance(sub, (ast.Assign, ast.AnnAssign)):
                for target in sub.targets if isinstance(sub, ast.Assign) else [sub.target]:
                    names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def test_every_name_imported_from_netlint_exists():
    """A lazy import inside a function fails only when it runs: check them all here, once."""
    defined = {name: _top_level_names(path) for name, path in MODULES.items()}
    missing = []
    for name, path in MODULES.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            if base not in MODULES or "__getattr__" in defined[base]:
                continue
            missing += [
                f"{name}: from {base} import {a.name}"
                for a in node.names
                if a.name not in defined[base] and f"{base}.{a.name}" not in MODULES
            ]
    assert not missing, "\n".join(missing)

"""Decide from a file's syntax tree alone whether it may define models.

Importing a file runs its top-level code, and in a pre-commit run most files are not model files,
so this module imports neither torch nor the file. A file is imported only when it defines a class
whose base is a torch ``nn.Module`` (directly, through a class of the same file, or through an
imported base in a file that uses torch), or binds a module-level name to such a model.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field

# Packages whose classes may be nn.Modules. Anything else counts only in files that import torch.
_TORCH_PACKAGES = frozenset({
    "torch", "torchvision", "torchaudio", "torchtext", "timm", "transformers", "lightning",
    "pytorch_lightning", "monai", "segmentation_models_pytorch", "mmcv", "mmengine", "detectron2",
    "torch_geometric", "kornia", "open_clip", "diffusers", "peft", "accelerate", "torchmetrics",
})  # fmt: skip
_STDLIB = frozenset(sys.stdlib_module_names) | {"builtins", "typing_extensions", "numpy", "pydantic", "attr", "attrs"}


@dataclass
class FileScan:
    path: str
    syntax_error: SyntaxError | None = None
    classes: list[str] = field(default_factory=list)  # classes that may be nn.Modules, in file order
    instances: list[str] = field(default_factory=list)  # module-level names bound to a model
    names: dict[str, int] = field(default_factory=dict)  # every top-level name bound -> line
    imports_torch: bool = False

    @property
    def may_define_models(self) -> bool:
        return bool(self.classes or self.instances)


def scan_source(source: str, path: str) -> FileScan:
    result = FileScan(path)
    try:
        tree = ast.parse(source, path)
    except (SyntaxError, ValueError) as exc:
        if not isinstance(exc, SyntaxError):
            exc = SyntaxError(str(exc))
        result.syntax_error = exc
        return result

    origins: dict[str, str] = {}  # local name -> dotted origin ("torch.nn", "torchvision.models.resnet18")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                origins[local] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                origins[alias.asname or alias.name] = f"{base}.{alias.name}"
    bindings = {name: ("." if origin.startswith(".") else origin.split(".")[0]) for name, origin in origins.items()}
    result.imports_torch = any(p in _TORCH_PACKAGES for p in bindings.values())

    top_classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    defined = {c.name for c in top_classes}
    model_classes: set[str] = set()
    changed = True
    while changed:  # a class is a model class if any base is; bases may come later in the file
        changed = False
        for cls in top_classes:
            if cls.name not in model_classes and any(
                _is_model_base(b, bindings, model_classes, defined, result.imports_torch) for b in cls.bases
            ):
                model_classes.add(cls.name)
                changed = True
    result.classes = [c.name for c in top_classes if c.name in model_classes]

    for node in tree.body:
        targets: list[ast.expr] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            for name in _names(target):
                result.names.setdefault(name, node.lineno)
                if isinstance(value, ast.Call) and _is_model_call(value.func, origins, model_classes):
                    result.instances.append(name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            result.names.setdefault(node.name, node.lineno)
    return result


def scan_file(path: str) -> FileScan:
    import io
    import tokenize

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        encoding, _ = tokenize.detect_encoding(io.BytesIO(raw).readline)  # honours a coding cookie, as Python does
        source = raw.decode(encoding)
    except (UnicodeDecodeError, SyntaxError, LookupError) as exc:
        result = FileScan(path)
        reason = exc.reason if isinstance(exc, UnicodeDecodeError) else exc
        result.syntax_error = SyntaxError(f"not text in its declared encoding (UTF-8 by default): {reason}")
        return result
    return scan_source(source, path)


def _root_name(expr: ast.expr) -> str | None:
    while isinstance(expr, (ast.Attribute, ast.Subscript, ast.Call)):
        expr = expr.value if not isinstance(expr, ast.Call) else expr.func
    return expr.id if isinstance(expr, ast.Name) else None


def _is_model_base(base, bindings, model_classes, defined, imports_torch) -> bool:
    root = _root_name(base)
    if root is None:
        return False
    if root in model_classes:
        return True
    if root in defined:
        return False  # a class of this file that is not (yet) known to be a model class
    package = bindings.get(root)
    if package is None:
        return False  # a builtin (object, Exception) or an undefined name
    if package in _TORCH_PACKAGES:
        return True
    # A base imported from the user's own code may well be an nn.Module, if torch is around.
    return imports_torch and package not in _STDLIB


def _is_model_call(func: ast.expr, origins: dict[str, str], model_classes: set[str]) -> bool:
    """``Net()``, ``nn.Sequential(...)``, ``torchvision.models.resnet18()``, ``timm.create_model(...)``."""
    root = _root_name(func)
    if root is None:
        return False
    if root in model_classes:
        return True
    origin = origins.get(root)
    if origin is None or origin.split(".")[0] not in _TORCH_PACKAGES:
        return False
    dotted = [*origin.split("."), *_attribute_chain(func)]
    if dotted[0] == "torch":
        return dotted[-1][:1].isupper()  # a layer class, not a function such as torch.randn
    return "models" in dotted or dotted[-1] in ("create_model", "get_model", "from_pretrained")


def _attribute_chain(expr: ast.expr) -> list[str]:
    chain = []
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.value
    return chain[::-1]


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for elt in target.elts for n in _names(elt)]
    return []

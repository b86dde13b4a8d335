"""Every torch function and tensor method the zoos use is classified: no path walk stops at "other".

tests/data/zoo_ops.txt lists the torch functions, ``operator`` functions and tensor methods found
in netlint's graphs of torchvision's 80 classification models and two seeded samples of timm
models (`python scripts/collect_ops.py --timm 30 --seed 0 --write`, then `--timm 40 --seed 1`:
each run adds to the list). Building those
graphs takes minutes, classifying a list of names takes milliseconds: the list is checked in, every
entry is classified here with the current tables, and a few representative models whose graphs
use many kinds of op check that what they use is on the list (so that the list does not go stale).
"""

from __future__ import annotations

import builtins
import importlib
from pathlib import Path

import pytest

from netlint.graph import ops
from netlint.graph.ir import Op
from netlint.options import Options
from netlint.run.targets import check_targets

LIST = Path(__file__).parent / "data" / "zoo_ops.txt"


def listed() -> list[tuple[str, str]]:
    lines = [line for line in LIST.read_text().splitlines() if line and not line.startswith("#")]
    return [tuple(line.split("\t")) for line in lines]


def resolve(name: str):
    """``torch.nn.functional.pad`` -> the function object (the longest importable module prefix)."""
    if "." not in name:
        return getattr(builtins, name)
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for part in parts[i:]:
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return obj
    raise LookupError(name)


def category(kind: str, name: str) -> str:
    if kind == "method":
        return ops.classify_method(name)[0]
    return ops.classify_function(resolve(name), (), {})[0]


def test_the_list_is_substantial():
    entries = listed()
    assert len(entries) > 60 and {k for k, _ in entries} == {"function", "method"}


def test_every_op_of_the_zoos_is_classified():
    unclassified = [f"{kind} {name}" for kind, name in listed() if category(kind, name) == Op.OTHER]
    assert unclassified == []


@pytest.mark.parametrize("target", ["torchvision.models:swin_t", "torchvision.models:mobilenet_v3_small"])
def test_representative_models_use_only_listed_ops(target):
    # In this process (isolate=False): worker processes keep the graph to themselves.
    report = check_targets([target], Options(select=["NL001"], probe=False, isolate=False))
    assert not report.errors, [e.text for e in report.errors]
    on_the_list = set(listed())
    used = {
        (n.kind, n.target)
        for n in report.models[0].graph.nodes
        if n.kind == "method" or (n.kind == "function" and n.target.startswith(("torch.", "operator.")))
    }
    assert used and used <= on_the_list, sorted(used - on_the_list)


@pytest.mark.parametrize(
    ("kind", "name", "expected"),
    [
        ("function", "torch.nn.functional.pad", Op.PAD),
        ("function", "torch.nn.functional.interpolate", Op.RESAMPLE),
        ("function", "torch.roll", Op.PERMUTE),
        ("function", "torch.mean", Op.REDUCE),
        ("function", "torch.clamp", Op.MATH),
        ("function", "torch.zeros", Op.CONSTANT),
        ("function", "torch.equal", Op.CONTROL),
        ("function", "operator.setitem", Op.GETITEM),
        ("method", "expand_as", Op.RESHAPE),
        ("method", "contiguous", Op.IDENTITY),
        ("method", "allclose", Op.CONTROL),
        ("method", "__lt__", Op.MATH),
    ],
)
def test_categories_of_layout_and_decision_ops(kind, name, expected):
    assert category(kind, name) == expected

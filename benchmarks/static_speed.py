"""The static check's cost against the bare minimum it builds on, in the same process.

Baseline: build the model under ``torch.device("meta")``, ``torch.fx.symbolic_trace`` it and
propagate shapes with ``torch.fx.passes.shape_prop.ShapeProp`` on a meta input. netlint: the full
static check of the same model (``netlint.check("torchvision.models:NAME")`` without the probe:
building with source-site recording, tracing, the shape-propagating interpreter, the rules).
Runs are interleaved and medians compared. Target: at most 1.5x.

    python benchmarks/static_speed.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torchvision.models as tvm
from torch.fx.passes.shape_prop import ShapeProp

import netlint

MODELS = ["resnet50", "vgg16_bn", "densenet121", "efficientnet_b0", "vit_b_16"]


def bare(name: str) -> None:
    with torch.device("meta"):
        model = getattr(tvm, name)()
    gm = torch.fx.symbolic_trace(model)
    ShapeProp(gm).propagate(torch.empty(2, 3, 224, 224, device="meta"))


def full(name: str) -> None:
    report = netlint.check(f"torchvision.models:{name}", probe=False)
    assert not report.errors, report.errors


def timed(fn, name) -> float:
    start = time.perf_counter()
    fn(name)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"torch {torch.__version__}; medians of {args.repeats} interleaved runs")
    print(f"{'model':18s} {'meta+trace+shapes':>18s} {'netlint check':>14s} {'ratio':>7s}")
    worst = 0.0
    for name in MODELS:
        bare(name), full(name)  # warm up imports and caches
        b, f = [], []
        for _ in range(args.repeats):
            b.append(timed(bare, name))
            f.append(timed(full, name))
        mb, mf = statistics.median(b), statistics.median(f)
        worst = max(worst, mf / mb)
        print(f"{name:18s} {mb * 1000:16.0f}ms {mf * 1000:12.0f}ms {mf / mb:6.2f}x")
    return 0 if worst <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())

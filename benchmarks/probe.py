"""The probe's cost: its wall time divided by that of four plain forward passes of the same batch.

The probe runs four passes (training behaviour, inference behaviour, and inference with the
running statistics of each). Two baselines, timed in the same process, interleaved, medians
compared (these machines are noisy):

- ``eval``: four plain ``model(x)`` calls in eval mode under ``no_grad`` (the strict one);
- ``same modes``: the same four passes uninstrumented (one in training mode, three in eval
  mode), which isolates what the instrumentation costs: training-mode dropout has to draw its
  masks, and that is the measurement itself.

Target: at most 1.3x.

    python benchmarks/probe.py [--device cpu|cuda] [--repeats 5] [--json out.json]

``--cli`` instead measures what a user waits for: ``netlint check TARGET`` with the default probe
decision and budget against ``--no-probe``, each a fresh process, interleaved, on the five
benchmark models, densenet121(drop_rate=0.2) and examples/ (target: at most 1.5x for models
without an NL001/NL005/NL006 finding; within the budget plus the static time for the others).

    python benchmarks/probe.py --cli [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

from netlint.probing.shift import measure, resolve_device


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(512, 1024), nn.BatchNorm1d(1024), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(1024, 1024), nn.BatchNorm1d(1024), nn.ReLU(), nn.Dropout(0.3),
        nn.Linear(1024, 10),
    )  # fmt: skip


def cases(device: torch.device):
    import torchvision.models as tvm

    big = 32 if device.type == "cuda" else 8
    yield "resnet50", tvm.resnet50, (big, 3, 224, 224)
    yield "densenet121(drop_rate=0.2)", lambda: tvm.densenet121(drop_rate=0.2), (big, 3, 224, 224)
    yield "mlp (512-1024-1024-10)", mlp, (256, 512)


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench(name, make, shape, device, repeats: int) -> dict:
    torch.manual_seed(0)
    model = make().to(device)
    x = torch.randn(shape, device=device)

    def plain():
        model.eval()
        with torch.no_grad():
            for _ in range(4):
                model(x)

    saved = {k: v.clone() for k, v in model.state_dict().items()}

    def same_modes():
        with torch.no_grad():
            model.train()
            model(x)
            model.eval()
            for _ in range(3):
                model(x)
        model.load_state_dict(saved)  # training mode moved the running statistics

    def probe():
        measure(model, [x], seed=0)

    plain(), same_modes(), probe()  # warm up allocators, kernels and lazy imports
    plains, matched, probes = [], [], []
    for _ in range(repeats):
        plains.append(timed(plain, device))
        matched.append(timed(same_modes, device))
        probes.append(timed(probe, device))
    p, m, q = statistics.median(plains), statistics.median(matched), statistics.median(probes)
    return {"model": name, "device": str(device), "batch": list(shape), "eval_4_passes_s": p,
            "same_modes_4_passes_s": m, "probe_s": q, "ratio_vs_eval": q / p, "ratio_vs_same_modes": q / m}  # fmt: skip


CLI_TARGETS = [
    "torchvision.models:resnet50", "torchvision.models:vgg16_bn", "torchvision.models:densenet121",
    "torchvision.models:efficientnet_b0", "torchvision.models:vit_b_16",
    "torchvision.models:densenet121(drop_rate=0.2)", "examples/",
]  # fmt: skip


def cli(repeats: int) -> list[dict]:
    """Wall time of ``netlint check`` (default) vs ``--no-probe``, fresh processes, medians."""
    import subprocess

    def run(target: str, *extra: str) -> tuple[float, dict]:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "netlint", "check", target, "--format", "json", *extra],
                              capture_output=True, text=True)  # fmt: skip
        return time.perf_counter() - start, json.loads(done.stdout)

    print(f"{'target':46s} {'--no-probe':>10s} {'default':>9s} {'ratio':>6s}  probe")
    rows = []
    for target in CLI_TARGETS:
        static, default = [], []
        for _ in range(repeats):
            static.append(run(target, "--no-probe")[0])
            seconds, out = run(target)
            default.append(seconds)
        probes = [m["probe"] for m in out["models"]]
        ran = [p for p in probes if p and "layers" in p]
        what = (f"{len(ran)} of {len(probes)} probed (batch {', '.join(str(p['batch_size']) for p in ran)})"
                if ran else (probes[0] or {}).get("skipped", "off") if len(probes) == 1
                else f"0 of {len(probes)} probed")  # fmt: skip
        row = {"target": target, "no_probe_s": statistics.median(static), "default_s": statistics.median(default),
               "probe": what}  # fmt: skip
        row["ratio"] = row["default_s"] / row["no_probe_s"]
        rows.append(row)
        print(f"{target:46s} {row['no_probe_s']:9.1f}s {row['default_s']:8.1f}s {row['ratio']:5.2f}x  {what}")
        sys.stdout.flush()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", action="store_true", help="time netlint check default vs --no-probe")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    if args.cli:
        rows = cli(args.repeats)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(rows, fh, indent=2)
        return 0
    device = resolve_device(args.device)
    torch.set_num_threads(torch.get_num_threads())
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, medians of {args.repeats}")
    print(
        f"{'model':28s} {'batch':12s} {'4x eval':>9s} {'4x same modes':>14s} {'probe':>8s} {'vs eval':>8s} {'vs same':>8s}"
    )
    rows = []
    for name, make, shape in cases(device):
        row = bench(name, make, shape, device, args.repeats)
        rows.append(row)
        batch = "x".join(map(str, shape))
        print(f"{name:28s} {batch:12s} {row['eval_4_passes_s']:8.3f}s {row['same_modes_4_passes_s']:13.3f}s "
              f"{row['probe_s']:7.3f}s {row['ratio_vs_eval']:7.2f}x {row['ratio_vs_same_modes']:7.2f}x")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0 if all(r["ratio_vs_eval"] <= 1.3 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

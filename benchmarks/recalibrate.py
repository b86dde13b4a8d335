"""Does recalibrating BatchNorm statistics with dropout off help a model trained with Dropout before BatchNorm?

A small CNN with ``Dropout(p)`` in front of two of its BatchNorms is trained on the CPU, with a
fixed seed, on a synthetic 10-class task made hard on purpose (noisy, shifted, low-contrast
class patterns: test accuracy well below 100 %, so that an effect is not hidden by saturation),
for p in 0.0, 0.3 and 0.5. For each, on a held-out test set: accuracy and loss with the running
statistics training left, then after ``netlint.recalibrate`` re-estimated them on training batches
with dropout off; the running-statistics mismatch (running_var / variance that evaluation mode
feeds the BatchNorm, worst layer) before and after; and the output drift (relative L2 change of
the eval output on the calibration batches).

    python benchmarks/recalibrate.py [--epochs 4] [--train 3000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from netlint.probing.recalibrate import recalibrate

CLASSES, SIZE = 10, 12


def task(n: int, generator: torch.Generator, prototypes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class patterns at a random contrast and shift, buried in noise."""
    labels = torch.randint(0, CLASSES, (n,), generator=generator)
    contrast = 0.3 + 0.7 * torch.rand(n, 1, 1, 1, generator=generator)
    x = prototypes[labels] * contrast
    shifts = torch.randint(-3, 4, (n, 2), generator=generator)
    x = torch.stack([torch.roll(img, (int(dy), int(dx)), dims=(1, 2)) for img, (dy, dx) in zip(x, shifts)])
    return x + 1.2 * torch.randn(x.shape, generator=generator), labels


def smooth_prototypes(generator: torch.Generator) -> torch.Tensor:
    """Low-frequency random patterns (upsampled 4x4 noise), one per class, unit variance."""
    coarse = torch.randn(CLASSES, 3, 4, 4, generator=generator)
    protos = F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    return protos / protos.std(dim=(1, 2, 3), keepdim=True)


class Net(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.drop1 = nn.Dropout(p)  # before conv2 -> bn2: the variance shift of Li et al.
        self.conv2 = nn.Conv2d(16, 24, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(24)
        self.drop2 = nn.Dropout(p)  # before conv3 -> bn3
        self.conv3 = nn.Conv2d(24, 32, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32, CLASSES)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(self.drop1(x)))), 2)
        x = F.relu(self.bn3(self.conv3(self.drop2(x))))
        return self.fc(x.mean(dim=(2, 3)))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(x[i : i + 500]) for i in range(0, len(x), 500)])
    return float((logits.argmax(1) == y).float().mean()), float(F.cross_entropy(logits, y))


def worst(mismatches) -> float:
    """The running_var / eval variance ratio furthest from 1 (in log distance) over the BatchNorms."""
    return max((m.ratio_mean for m in mismatches), key=lambda r: abs(math.log(r)))


def run(p: float, data, epochs: int, seed: int) -> dict:
    (x_train, y_train), (x_test, y_test) = data
    torch.manual_seed(seed)
    model = Net(p)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), 64):
            batch = order[i : i + 64]
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    train_seconds, train_cpu = time.perf_counter() - start, time.process_time() - cpu
    acc_before, loss_before = evaluate(model, x_test, y_test)
    calibration = [x_train[i : i + 200] for i in range(0, 2000, 200)]  # 10 training batches, dropout off
    result = recalibrate(model, calibration)
    fixed = Net(p)
    fixed.load_state_dict({**model.state_dict(), **result.state})
    acc_after, loss_after = evaluate(fixed, x_test, y_test)
    return {
        "p": p, "train_seconds": round(train_seconds, 1), "train_cpu_seconds": round(train_cpu, 1),
        "acc_before": acc_before, "acc_after": acc_after, "loss_before": loss_before, "loss_after": loss_after,
        "mismatch_before": worst(result.before), "mismatch_after": worst(result.after),
        "output_drift": result.output_drift,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--train", type=int, default=3000, help="training samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    begin = time.perf_counter()
    generator = torch.Generator().manual_seed(args.seed)
    prototypes = smooth_prototypes(generator)
    data = task(args.train, generator, prototypes), task(2000, generator, prototypes)
    print(f"synthetic task: {CLASSES} classes, 3x{SIZE}x{SIZE}, {args.train} train / 2000 test, seed {args.seed}, "
          f"{args.epochs} epochs, torch {torch.__version__}", flush=True)  # fmt: skip
    print("| p | test acc before | after | test loss before | after | worst running/eval var before | after "
          "| output drift | train s (CPU s) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for p in (0.0, 0.3, 0.5):
        row = run(p, data, args.epochs, args.seed)
        rows.append(row)
        print(f"| {p:.1f} | {row['acc_before']:.2%} | {row['acc_after']:.2%} | {row['loss_before']:.3f} | "
              f"{row['loss_after']:.3f} | {row['mismatch_before']:.3f}x | {row['mismatch_after']:.3f}x | "
              f"{row['output_drift']:.2%} | {row['train_seconds']} ({row['train_cpu_seconds']}) |")  # fmt: skip
        sys.stdout.flush()
    print(f"total {time.perf_counter() - begin:.0f} s wall, {time.process_time():.0f} s CPU")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()

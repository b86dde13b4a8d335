"""Worker processes at work: one netlint run over 20 small model files with --jobs 1 and --jobs 2,
against one netlint process per file (what a naive script or a pre-commit hook without batching does).

    python benchmarks/jobs.py [--files 20] [--repeats 1]

Wall times of whole processes (medians of N runs), probe off, and their ratios to --jobs 1, all
measured in this run (the machine may be noisy).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = """import torch.nn as nn


class Net{i}(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, {width}, 3, padding=1)
        self.bn1 = nn.BatchNorm2d({width})
        self.conv2 = nn.Conv2d({width}, {width}, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d({width})
        self.fc = nn.Linear({width}, 10)

    def forward(self, x):
        x = self.bn1(self.conv1(x)).relu()
        x = self.bn2(self.conv2(x)).relu()
        return self.fc(x.mean((2, 3)))
"""


def wall(commands: list[list[str]], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for cmd in commands:
            subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "models"
        folder.mkdir()
        files = []
        for i in range(args.files):
            path = folder / f"model_{i:02d}.py"
            path.write_text(MODEL.format(i=i, width=8 + i))
            files.append(str(path))
        netlint = [sys.executable, "-m", "netlint", "check", "--no-probe", "--format", "json"]
        rows = [
            ("--jobs 1", [[*netlint, "--jobs", "1", str(folder)]]),
            ("--jobs 2", [[*netlint, "--jobs", "2", str(folder)]]),
            (f"one process per file ({args.files})", [[*netlint, f] for f in files]),
        ]
        results = [(name, wall(commands, args.repeats)) for name, commands in rows]
    base = results[0][1]
    print(f"{args.files} model files, median wall time of {args.repeats} run(s)")
    for name, seconds in results:
        print(f"{name:32s} {seconds:7.2f} s  {seconds / base:5.2f}x --jobs 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())

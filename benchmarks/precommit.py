"""How instant the pre-commit hook feels: wall time of whole processes, medians of N runs.

    python benchmarks/precommit.py [--repeats 7]

Compares ``netlint check`` on 20 plain Python files and on one small model file (probe off, as
the hook runs) with ``python -c pass`` and ``python -c "import torch"`` on the same machine.
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


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).mean((2, 3)))
"""

PLAIN = '''"""A typical helper module."""
import argparse
import json
import os


def load(path):
    with open(path) as fh:
        return json.load(fh)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("path", default=os.getcwd())
    return load(parser.parse_args().path)
'''


def wall(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain = []
        for i in range(20):
            path = Path(tmp) / f"tool_{i}.py"
            path.write_text(PLAIN)
            plain.append(str(path))
        model = Path(tmp) / "model.py"
        model.write_text(MODEL)
        py = sys.executable
        rows = [
            ("python -c pass", [py, "-c", "pass"]),
            ('python -c "import torch"', [py, "-c", "import torch"]),
            ("netlint check: 20 plain Python files", [py, "-m", "netlint", "check", "--no-probe", *plain]),
            ("netlint check: one small model file", [py, "-m", "netlint", "check", "--no-probe", str(model)]),
        ]
        results = [(name, wall(cmd, args.repeats)) for name, cmd in rows]
    base = results[0][1]
    print(f"median wall time of {args.repeats} runs each")
    for name, seconds in results:
        print(f"{name:40s} {seconds:7.3f} s  {seconds / base:6.1f}x python -c pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())

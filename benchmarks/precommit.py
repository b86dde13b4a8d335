"""How instant the pre-commit hook feels: wall time of whole processes, medians of N runs.

    python benchmarks/precommit.py [--repeats 7] [--baseline DIR]

Compares ``netlint check`` on 20 plain Python files and on one small model file (probe off, as
the hook runs) with ``python -c pass`` and ``python -c "import torch"`` on the same machine.
The target: the model file within 1.3x ``import torch``. ``--baseline DIR`` (a checkout of an
older netlint, e.g. ``git worktree add /tmp/base HEAD~5``) runs its netlint in the same
interleaved rounds, so before/after come from one run on the same (noisy) machine.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def measure(rows: list[tuple[str, list[str], dict | None]], repeats: int, cwd: str) -> list[tuple[float, float]]:
    """Median wall and CPU time (user + system of the child) per row.

    Rounds interleave the rows so that load changes hit all alike; CPU time is what to compare on
    a loaded machine, where wall time mostly measures the other processes.
    """
    wall: list[list[float]] = [[] for _ in rows]
    cpu: list[list[float]] = [[] for _ in rows]
    for _ in range(repeats):
        for i, (_, cmd, env) in enumerate(rows):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(cmd, capture_output=True, check=False, env=env, cwd=cwd)
            wall[i].append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu[i].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu)]


def _baseline_package(checkout: str, tmp: str) -> str:
    """A folder importing as the old netlint, its rules included.

    The rules live in the checkout's top-level rules/ and install as ``netlint.rules``: with only the
    checkout on PYTHONPATH, ``netlint.rules`` would come from the installed (new) tree and fail to
    import beside the old package. A copy with rules/ inside the package keeps both old.
    """
    import shutil

    folder = Path(tmp) / "baseline"
    shutil.copytree(Path(checkout) / "netlint", folder / "netlint", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        Path(checkout) / "rules", folder / "netlint" / "rules", ignore=shutil.ignore_patterns("__pycache__")
    )
    return str(folder)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", help="a folder holding an older netlint package to compare with")
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
        check = [py, "-m", "netlint", "check", "--no-probe"]
        rows: list[tuple[str, list[str], dict | None]] = [
            ("python -c pass", [py, "-c", "pass"], None),
            ('python -c "import torch"', [py, "-c", "import torch"], None),
            ("netlint check: 20 plain Python files", [*check, *plain], None),
            ("netlint check: one small model file", [*check, str(model)], None),
        ]
        if args.baseline:
            env = {**os.environ, "PYTHONPATH": _baseline_package(args.baseline, tmp)}
            rows.append(("baseline: 20 plain Python files", [*check, *plain], env))
            rows.append(("baseline: one small model file", [*check, str(model)], env))
        results = measure(rows, args.repeats, tmp)  # not the repository: python -m would import its netlint
    torch_wall, torch_cpu = results[1]
    print(f"median of {args.repeats} interleaved runs each; x: relative to import torch")
    for (name, _, _), (wall, cpu) in zip(rows, results):
        print(f"{name:38s} wall {wall:6.3f} s {wall / torch_wall:5.2f}x   cpu {cpu:6.3f} s {cpu / torch_cpu:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

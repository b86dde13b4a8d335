"""Peak memory of the static check on models far larger than this machine's memory.

Each model is checked in a fresh process (so the peak is its own), which prints its peak resident
set size. Nothing is materialised: the models are built on the meta device. Target: under 2 GB.

    python benchmarks/memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys

import torch.nn as nn


class Transformer7B(nn.Module):
    """A 7e9-parameter decoder-sized encoder built from torch.nn.TransformerEncoder (d=4096, 34 layers)."""

    def __init__(self, vocab: int = 32000, d: int = 4096, layers: int = 34, heads: int = 32, ff: int = 16384):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.1, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        return self.head(self.norm(self.encoder(self.embed(ids))))


CHILD = """
import json, resource, sys, time
start = time.perf_counter()
import netlint
report = netlint.check(sys.argv[1], probe=False)
seconds = time.perf_counter() - start
assert not report.errors, [e.text for e in report.errors]
model = report.models[0]
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "seconds": seconds,
                  "nodes": model.nodes, "analysis": sorted({p.engine for p in model.parts}),
                  "findings": len(model.findings)}))
"""

TARGETS = {
    "vit_h_14 (632 M parameters)": "torchvision.models:vit_h_14",
    "Transformer7B (7.1 G parameters)": "benchmarks/memory.py:Transformer7B",
}


def main() -> int:
    import torch

    with torch.device("meta"):
        print(f"Transformer7B has {sum(p.numel() for p in Transformer7B().parameters()) / 1e9:.2f} G parameters")
    worst = 0.0
    for name, target in TARGETS.items():
        out = subprocess.run([sys.executable, "-c", CHILD, target], capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        worst = max(worst, row["peak_mb"])
        print(f"{name:34s} peak RSS {row['peak_mb']:7.0f} MB  {row['seconds']:5.1f} s  {row['nodes']} nodes  "
              f"{', '.join(row['analysis'])}")  # fmt: skip
    return 0 if worst < 2048 else 1


if __name__ == "__main__":
    sys.exit(main())

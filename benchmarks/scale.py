"""What a check costs as decoder-only models grow from 12 M to 70 B parameters: flat in parameters, linear in layers.

Each model (``benchmarks/llama.py``: RMSNorm, rotary GQA attention with 8 key-value heads, SwiGLU,
vocabulary 128256) is checked twice, each time by a fresh ``python -m netlint check``:

- as a factory target, ``benchmarks/llama.py:llama(dim=..., layers=...)``;
- as a module-level instance, a file holding ``model = llama(dim=..., layers=...)``, the usual way.

Where transformers is installed, a ``LlamaForCausalLM`` of the 8B dimensions is checked too, built at
module level by its constructor and by ``AutoModelForCausalLM.from_config``.

Measured per run: wall time and CPU time (of the whole process tree: steadier than wall time on a
shared machine), the peak resident memory of netlint and its workers summed over the process tree
(sampled from /proc every 20 ms; an upper bound: pages a forked process shares with its parent count
twice), the largest single process's peak (from the kernel, ``wait4``), and the report's findings,
build and analysis. With the default options (the probe runs only when a finding asks for it).

    python benchmarks/scale.py                 # the size series, 8B and 70B included, and transformers
    python benchmarks/scale.py --series layers # dim 4096 at 8, 16, 32, 64 layers
    python benchmarks/scale.py --series width  # 8 layers at dim 512, 2048, 8192
    python benchmarks/scale.py --series all    # the three
    python benchmarks/scale.py --only 8B,70B --json rows.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# (label, llama() keyword arguments)
SIZES = [
    ("12M", dict(dim=48, layers=2, heads=8, kv_heads=8, ffn=128)),
    ("160M", dict(dim=512, layers=8, heads=8, kv_heads=8, ffn=1536)),
    ("1.5B", dict(dim=2048, layers=16, heads=32, kv_heads=8, ffn=8192)),  # Llama 3.2 1B, embeddings untied
    ("3.6B", dict(dim=3072, layers=28, heads=24, kv_heads=8, ffn=8192)),  # Llama 3.2 3B, embeddings untied
    ("8B", dict(dim=4096, layers=32, heads=32, kv_heads=8, ffn=14336)),  # Llama 3 8B
    ("70B", dict(dim=8192, layers=80, heads=64, kv_heads=8, ffn=28672)),  # Llama 3 70B
]
LAYERS = [(f"4096x{n}", dict(dim=4096, layers=n, heads=32, kv_heads=8, ffn=14336)) for n in (8, 16, 32, 64)]
WIDTH = [
    (f"{d}x8", dict(dim=d, layers=8, heads=d // 64, kv_heads=8, ffn=int(d * 3.5) // 256 * 256))
    for d in (512, 2048, 8192)
]

HF_CONFIG = """from transformers import LlamaConfig

config = LlamaConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=8, vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0)
"""
HF_FILES = {
    "hf_constructor.py": HF_CONFIG
    + "\nfrom transformers import LlamaForCausalLM\n\nmodel = LlamaForCausalLM(config)\n",
    "hf_from_config.py": HF_CONFIG + "\nfrom transformers import AutoModelForCausalLM\n\n"
    "model = AutoModelForCausalLM.from_config(config)\n",
}


def parameters(kwargs: dict) -> int:
    """Counted on the meta device."""
    import torch

    sys.path.insert(0, str(HERE))
    from llama import llama

    with torch.device("meta"):
        return sum(p.numel() for p in llama(**kwargs).parameters())


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def tree_memory(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss(pid)
        stack.extend(_children(pid))
    return total


def run(target: str, cwd: Path, timeout: float) -> dict:
    """One ``netlint check``, measured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "netlint", "check", target, "--format", "json"],
                                   cwd=cwd, stdout=out, stderr=err, env=env)  # fmt: skip
        peak = 0
        while True:
            done, status, usage = os.wait4(process.pid, os.WNOHANG)
            if done:
                break
            peak = max(peak, tree_memory(process.pid))
            if time.perf_counter() - start > timeout:
                process.kill()
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read().decode(), err.read().decode(errors="replace")
    row = {"target": target, "exit": process.returncode, "seconds": round(seconds, 1),
           "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "peak_tree_mb": peak >> 20,
           "peak_process_mb": usage.ru_maxrss >> 10}  # fmt: skip
    try:
        data = json.loads(text)
    except ValueError:
        row["error"] = (errors or text).strip().splitlines()[-1:] or ["no output"]
        return row
    row["errors"] = [e["message"] for e in data.get("errors", [])]
    for model in data.get("models", [])[:1]:
        row.update(
            nodes=model["nodes"],
            build=model.get("build", "?"),
            analysis=sorted({p["engine"] for p in model["analysis"]}),
            findings=sorted(f["code"] for f in model["findings"]),
            probe=(model.get("probe") or {}).get("skipped", "ran"),
        )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", choices=["size", "layers", "width", "all"], default="size")
    parser.add_argument("--only", help="comma-separated labels (12M,8B,...; hf for transformers)")
    parser.add_argument("--forms", default="factory,instance", help="factory, instance or both")
    parser.add_argument("--no-transformers", action="store_true")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", help="write the rows to this file")
    args = parser.parse_args()
    chosen = ["size", "layers", "width"] if args.series == "all" else [args.series]
    series = [
        (name, label, kw) for name in chosen for label, kw in {"size": SIZES, "layers": LAYERS, "width": WIDTH}[name]
    ]
    only = set(args.only.split(",")) if args.only else None
    forms = args.forms.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="netlint-scale-") as tmp:
        folder = Path(tmp)
        shutil.copy(HERE / "llama.py", folder / "llama.py")
        for name, label, kwargs in series:
            if only and label not in only:
                continue
            call = ", ".join(f"{k}={v}" for k, v in kwargs.items())
            n = parameters(kwargs)
            for form in forms:
                if form == "factory":
                    target, cwd = f"benchmarks/llama.py:llama({call})", ROOT
                else:
                    file = folder / f"model_{label.replace('.', '_')}.py"
                    file.write_text(f"from llama import llama\n\nmodel = llama({call})\n")
                    target, cwd = file.name, folder
                row = {"series": name, "model": label, "parameters": n, "layers": kwargs["layers"], "form": form,
                       **run(target, cwd, args.timeout)}  # fmt: skip
                rows.append(row)
                _print(row)
        if "size" in chosen and not args.no_transformers and (not only or "hf" in only):
            try:
                import transformers  # noqa: F401
            except ImportError:
                print("transformers is not installed: its LlamaForCausalLM is not measured")
            else:
                for name, text in HF_FILES.items():
                    (folder / name).write_text(text)
                    # named: the syntax tree alone does not show that a from_config call builds a model
                    row = {"series": "size", "model": "8B transformers", "parameters": 8_030_261_248, "layers": 32,
                           "form": name.removeprefix("hf_").removesuffix(".py"),
                           **run(f"{name}:model", folder, args.timeout)}  # fmt: skip
                    rows.append(row)
                    _print(row)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r.get("exit") in (0, 1) for r in rows) else 1


def _print(row: dict) -> None:
    findings = ", ".join(row.get("findings", [])) or "none"
    print(f"{row['model']:>16} {row['parameters'] / 1e9:7.2f} G {row['layers']:3d} layers {row['form']:>14}: "
          f"{row['seconds']:6.1f} s ({row['cpu_seconds']:.1f} s CPU), peak {row['peak_tree_mb']:5d} MB (largest process {row['peak_process_mb']} MB), "
          f"exit {row['exit']}, build {row.get('build', '?')}, {row.get('nodes', '?')} nodes, findings: {findings}, "
          f"{', '.join(row.get('analysis', []))}, probe: {row.get('probe', '?')} "
          f"{'; '.join(row.get('errors', []) + row.get('error', []))}", flush=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())

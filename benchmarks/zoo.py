"""Sweep a model zoo through netlint: analysis method, nodes, findings per rule, static and probe time.

    python benchmarks/zoo.py                              # torchvision's 80 classification models
    python benchmarks/zoo.py --timm 50 --seed 0           # a random sample of timm models
    python benchmarks/zoo.py --probe --json zoo.json      # with the dynamic probe, results as JSON

timm models are built with drop_rate=0.2 and drop_path_rate=0.1 (drop_rate alone where a model
does not take drop_path_rate), random weights, no download. A model whose probe would not fit in
this machine's memory is skipped for the probe and listed; nothing crashes the sweep.
"""

from __future__ import annotations

import time

START = time.perf_counter()  # the total includes importing torch

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402

from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from netlint.report.summary import make_console  # noqa: E402

CODES = ["NL001", "NL002", "NL003", "NL004", "NL005", "NL006", "NL007", "NL008", "NL009", "NL010", "NL011", "NL012",
         "NL013", "NL014"]  # fmt: skip


def torchvision_targets() -> list[tuple[str, list[str]]]:
    import torchvision.models as tvm

    return [(name, [f"torchvision.models:{name}"]) for name in tvm.list_models(module=tvm)]


def timm_targets(n: int, seed: int) -> list[tuple[str, list[str]]]:
    import timm

    names = random.Random(seed).sample(timm.list_models(), n)
    make = 'timm:create_model(model_name="{}", drop_rate=0.2{})'
    return [(name, [make.format(name, ", drop_path_rate=0.1"), make.format(name, "")]) for name in names]


def available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            info = dict(line.split(":", 1) for line in fh)
        return int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return 8 << 30


def probe_bytes(model_report, batch: int) -> int:
    """Weights plus every activation of the graph scaled to the probe's batch: an upper bound."""
    graph = model_report.graph
    weights = sum(n for node in graph.nodes if node.op == "param" for n in [_numel(node.shape)])
    activations = sum(_numel(s) for node in graph.nodes if node.op != "param" for s in node.shapes)
    return 4 * (weights + activations * max(batch, 2) // 2)


def _numel(shape) -> int:
    out = 1
    for d in shape or ():
        out *= d
    return out


def model_row(name: str, report, seconds: float) -> dict:
    """One row of the sweep: the first error, or how the model was analysed and what was found."""
    row: dict = {"model": name, "static_s": seconds}
    if report.errors:
        row["error"] = report.errors[0].text
        return row
    model = report.models[0]
    row["analysis"] = (
        "; ".join(f"{p.engine} ({p.module})" if p.module else p.engine for p in model.parts)
        if len(model.parts) <= 3
        else f"{model.parts[0].engine}; capture for {len(model.parts) - 1} submodules"
    )
    row["method"] = (
        "fx"
        if {p.engine for p in model.parts} == {"torch.fx"}
        else ("capture" if not any(p.engine.startswith("torch.fx") for p in model.parts) else "fx + capture")
    )
    row["nodes"] = model.nodes
    row["findings"] = dict(Counter(f.code for f in model.findings))
    row["sites"] = [{"code": f.code, "module": f.module, "message": f.message} for f in model.findings]
    row["unused"] = len(model.unused)
    return row


def check_one(name: str, targets: list[str], args) -> dict:
    from netlint.options import Options
    from netlint.run.targets import check_targets

    report, start = None, time.perf_counter()
    for target in targets:  # timm: without drop_path_rate where the model does not take it
        report = check_targets([target], Options(probe=False, isolate=False))  # in-process: the graph is kept
        if not (report.errors and "drop_path_rate" in report.errors[0].text):
            break
    row = model_row(name, report, time.perf_counter() - start)
    if args.probe and "error" not in row:
        from netlint.probing.budget import not_needed

        model = report.models[0]
        reason = not_needed(model.graph)  # the engine's own default decision
        if reason is not None:
            row["probe"] = reason
        elif probe_bytes(model, args.batch_size) > 0.6 * available_memory():
            row["probe"] = "skipped: would not fit in memory"
        else:
            start = time.perf_counter()
            probed = check_targets([target], Options(probe=True, batch_size=args.batch_size, device="cpu"))
            row["probe_s"] = time.perf_counter() - start - row["static_s"]
            if probed.errors:
                row["probe"] = f"error: {probed.errors[0].text}"
            else:
                result = probed.models[0].probe
                shifted = [x for x in result.layers if x.shifted]
                drift = "not measurable" if result.output_drift is None else f"{result.output_drift:.1%}"
                row["probe"] = f"{len(shifted)} of {len(result.layers)} BatchNorms shifted, drift {drift}"
    return row


def print_rows(rows: list[dict], out) -> None:
    """The table: one line per model, findings per rule."""
    table = Table(box=None, header_style="bold")
    for column in ("model", "analysis", "nodes", *CODES, "static s", "probe s", "note"):
        table.add_column(column, justify="right" if column not in ("model", "analysis", "note") else "left")
    for row in rows:
        counts = [str(row.get("findings", {}).get(c, "")) for c in CODES]
        note = row.get("crash") or row.get("error") or row.get("probe") or ""
        table.add_row(row["model"], row.get("method", "-"), str(row.get("nodes", "-")), *counts,
                      f"{row['static_s']:.2f}" if "static_s" in row else "-",
                      f"{row['probe_s']:.2f}" if "probe_s" in row else "", note[:90])  # fmt: skip
    out.print(table)


def summarize(rows: list[dict]) -> dict:
    analysed = [r for r in rows if "nodes" in r]
    by_rule = Counter()
    for r in analysed:
        by_rule.update(r["findings"])
    return {
        "models": len(rows),
        "analysed": len(analysed),
        "crashes": sum(1 for r in rows if "crash" in r),
        "errors": sum(1 for r in rows if "error" in r),
        "methods": dict(Counter(r["method"] for r in analysed)),
        "findings_by_rule": {c: by_rule.get(c, 0) for c in sorted(by_rule)},
        "probe_skipped_for_memory": [r["model"] for r in rows if r.get("probe", "").startswith("skipped")],
        "static_seconds": round(sum(r.get("static_s", 0.0) for r in rows), 2),
    }


def summary_line(summary: dict) -> str:
    return (f"analysed {summary['analysed']} of {summary['models']} models; {summary['crashes']} crashes, "
            f"{summary['errors']} errors; methods {summary['methods']}; findings {summary['findings_by_rule']}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timm", type=int, metavar="N", help="a random sample of N timm models instead of torchvision")
    parser.add_argument("--seed", type=int, default=0, help="the timm sample's seed")
    parser.add_argument("--models", help="comma-separated names (torchvision) to sweep instead of all")
    parser.add_argument("--probe", action="store_true", help="run the dynamic probe too (on the CPU)")
    parser.add_argument("--batch-size", type=int, default=8, help="the probe's batch (default 8)")
    parser.add_argument("--json", help="write the rows and the summary here")
    args = parser.parse_args()
    console = Console(stderr=True)
    targets = timm_targets(args.timm, args.seed) if args.timm else torchvision_targets()
    if args.models:
        wanted = set(args.models.split(","))
        targets = [t for t in targets if t[0] in wanted]
    rows = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("checking", total=len(targets))
        for name, candidates in targets:
            progress.update(task, description=f"checking {name}")
            try:
                rows.append(check_one(name, candidates, args))
            except Exception as exc:
                rows.append({"model": name, "crash": f"{type(exc).__name__}: {exc}"[:300]})
            progress.advance(task)
    total = time.perf_counter() - START
    out = make_console(sys.stdout)
    print_rows(rows, out)
    summary = {**summarize(rows), "total_seconds_with_imports": round(total, 2)}
    out.print(summary_line(summary))
    if summary["probe_skipped_for_memory"]:
        out.print(f"probe skipped (memory): {', '.join(summary['probe_skipped_for_memory'])}")
    out.print(f"static time {summary['static_seconds']:.1f} s; total wall time, torch import included: {total:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "summary": summary}, fh, indent=2)
    return 0 if not summary["crashes"] else 1


if __name__ == "__main__":
    sys.exit(main())

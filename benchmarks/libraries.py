"""Sweep the model zoos of other libraries through netlint: transformers, smp, MONAI, diffusers.

    pip install -e ".[zoo]"                                   # the libraries (not needed by the tests)
    python benchmarks/libraries.py                            # every library that is installed
    python benchmarks/libraries.py --library monai --json monai.json
    python benchmarks/libraries.py --keep /tmp/zoo            # also keep the generated model files

Each model (benchmarks/library_models.py) is written to a small file the way a user writes one (a
module-level instance built from a small configuration, and ``example_inputs()`` where its forward
needs named or several inputs) and checked as ``netlint check FILE --no-probe`` does: one worker
process per file, the default rules. Nothing is downloaded (``HF_HUB_OFFLINE=1``). A model that
netlint reports an error for is then run in plain PyTorch on the CPU, so that the row says whether
the model itself runs (netlint's problem) or not (the model's). Prints a table per library (the
columns of benchmarks/zoo.py), each finding's module and message, and a summary per library.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub access, ever: every model is built from a configuration
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse
import importlib.util
import json
import runpy
import sys
import tempfile
import time
from collections import Counter

from library_models import LIBRARIES, ZooModel
from zoo import CODES, START, make_console, model_row, print_rows, summarize, summary_line


def runs_in_pytorch(path: str) -> str:
    """Whether the file's model runs in plain PyTorch on the CPU, on its example input (else 2x3x224x224)."""
    import torch

    try:
        namespace = runpy.run_path(path)
        model = namespace["model"]
        values = namespace["example_inputs"]() if "example_inputs" in namespace else torch.randn(2, 3, 224, 224)
        with torch.no_grad():
            model(*(values if isinstance(values, tuple) else (values,)))
    except Exception as exc:
        return f"no: {type(exc).__name__}: {exc}"[:300]
    return "yes"


def check_one(spec: ZooModel, folder: str, timeout: float) -> dict:
    from netlint.options import Options
    from netlint.run.targets import check_targets

    path = os.path.join(folder, spec.filename)
    with open(path, "w") as fh:
        fh.write(spec.source())
    start = time.perf_counter()
    report = check_targets([path], Options(probe=False, timeout=timeout, jobs=1))
    row = model_row(spec.name, report, time.perf_counter() - start)
    row["file"] = spec.filename
    if "error" in row:
        row["runs_in_pytorch"] = runs_in_pytorch(path)
    else:
        row["inputs"] = report.models[0].inputs
        row["models_in_file"] = len(report.models)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", action="append", choices=sorted(LIBRARIES), help="only this library (repeatable)")
    parser.add_argument("--models", help="comma-separated row names to check instead of all")
    parser.add_argument("--keep", metavar="DIR", help="write the model files here (default: a temporary folder)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds per model (default 120, netlint's own)")
    parser.add_argument("--json", help="write the rows and the summaries here")
    args = parser.parse_args()
    wanted = set(args.models.split(",")) if args.models else None
    folder = args.keep or tempfile.mkdtemp(prefix="netlint-zoo-")
    os.makedirs(folder, exist_ok=True)
    out = make_console(sys.stdout)
    results: dict = {}
    for library in args.library or list(LIBRARIES):
        if importlib.util.find_spec(library) is None:
            out.print(f"{library}: not installed, skipped (pip install -e '.[zoo]')")
            continue
        # Imported here once, before the workers fork, so that no worker imports the library again.
        __import__(library)
        start = time.perf_counter()
        rows = []
        for spec in LIBRARIES[library]():
            if wanted is None or spec.name in wanted:
                print(f"checking {library}: {spec.name}", file=sys.stderr, flush=True)
                try:
                    rows.append(check_one(spec, folder, args.timeout))
                except Exception as exc:  # netlint itself raised: a crash, never expected
                    rows.append({"model": spec.name, "crash": f"{type(exc).__name__}: {exc}"[:300]})
        if not rows:
            continue
        summary = {**summarize(rows), "seconds": round(time.perf_counter() - start, 1),
                   "errors_where_the_model_runs": sum(r.get("runs_in_pytorch") == "yes" for r in rows)}  # fmt: skip
        results[library] = {"rows": rows, "summary": summary}
        out.rule(library)
        print_rows(rows, out)
        for row in rows:
            for site in row.get("sites", []):
                out.print(
                    f"  {row['model']}: {site['code']} {site['module'] or '(root)'}: {site['message']}", soft_wrap=True
                )
            if "error" in row:
                out.print(
                    f"  {row['model']}: error (runs in PyTorch: {row['runs_in_pytorch']}): {row['error']}",
                    soft_wrap=True,
                )
        out.print(f"{library}: {summary_line(summary)}; {summary['errors_where_the_model_runs']} of the errors on models "
                  f"that run in PyTorch; {summary['seconds']:.0f} s")  # fmt: skip
    overall = Counter()
    for result in results.values():
        overall.update(result["summary"]["findings_by_rule"])
    out.rule("all libraries")
    for library, result in results.items():
        s = result["summary"]
        findings = ", ".join(f"{c} {s['findings_by_rule'][c]}" for c in CODES if c in s["findings_by_rule"]) or "none"
        out.print(f"{library}: {s['analysed']} of {s['models']} analysed, {s['errors']} errors, findings: {findings}, "
                  f"{s['seconds']:.0f} s")  # fmt: skip
    out.print(f"total wall time, imports included: {time.perf_counter() - START:.0f} s; files in {folder}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0 if not any(r["summary"]["crashes"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

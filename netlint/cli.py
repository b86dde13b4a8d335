"""The command line: ``netlint check``, ``netlint rules``, ``netlint explain``."""

from __future__ import annotations

import os
import sys
import time
from enum import Enum
from typing import Annotated

import typer
import typer.core

from . import __version__

app = typer.Typer(
    name="netlint",
    help="A diagnostic linter for PyTorch models: finds architecture mistakes that never raise an error.\n\n"
    "Examples:\n\n"
    "  netlint check model.py\n\n"
    "  netlint check src/models/ --format json\n\n"
    "  netlint check torchvision.models:vgg16_bn\n\n"
    "  netlint explain NL001",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _CleanHelp(typer.core.TyperCommand):
    """Help that names values by what they are (TARGET, FILE), never by Python types (<str>, {target})."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.param_type_name == "argument":
                param.display_type_rich = lambda ctx: None
                if param.required:  # usage reads TARGET as click writes it, not typer's {TARGET}
                    param._usage_display_name = lambda p=param: (p.metavar or p.name.upper()) + "..." * (p.nargs != 1)
            if param.metavar is None and not getattr(param, "is_flag", False) and param.name:
                longest = max(param.opts, key=len).lstrip("-") if param.opts else param.name
                param.metavar = longest.upper().replace("-", "_")  # --weights WEIGHTS, as click names them


def _one_of(enum: type[Enum]):
    """A callback that accepts the values of ``enum``: a wrong one reads "'xml' is not one of 'rich', ...",
    never with the prefix of a validation library (typer's own check of an Enum option says "Value error,")."""

    def check(value: str | None) -> str | None:
        values = [member.value for member in enum]
        if value is not None and value not in values:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, values))}.")
        return value

    return check


class Format(str, Enum):
    rich = "rich"
    text = "text"
    json = "json"
    sarif = "sarif"
    github = "github"
    html = "html"


class FailOn(str, Enum):
    info = "info"
    warning = "warning"
    error = "error"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"netlint {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


@app.command(
    cls=_CleanHelp,
    epilog="Examples:\n\n"
    "  netlint check examples/\n\n"
    "  netlint check model.py:ResNet --input-shape 2,3,32,32\n\n"
    '  netlint check "torchvision.models:densenet121(drop_rate=0.2)" --format json\n\n'
    "Exit status: 0 no finding at or above --fail-on, 1 findings, 2 bad input.",
)
def check(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET",
            help="Python files, Jupyter notebooks, directories, file.py:Name, or package.module:name (a class, factory or instance). "
            "Default: the models listed in the configuration.",
            show_default=False,
        ),
    ] = None,
    input_shape: Annotated[
        list[str] | None,
        typer.Option(
            "--input-shape",
            "-i",
            metavar="SHAPE",
            help="Shape of a positional input, e.g. 2,3,224,224 (add :long for token indices); once per input. "
            "Named shapes (image=2,3,224,224) build one dict input.",
        ),
    ] = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            callback=_one_of(Format),
            metavar="<rich|text|json|sarif|github|html>",
            help="Output format; html is one self-contained page: --format html --output report.html.",
        ),
    ] = Format.rich.value,
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="FILE", help="Write the report to this file.")
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option(
            "--fail-on",
            callback=_one_of(FailOn),
            metavar="<info|warning|error>",
            help="Lowest severity that makes the exit status 1 (default: warning).",
            show_default=False,
        ),
    ] = None,
    exit_zero: Annotated[bool, typer.Option("--exit-zero", help="Exit 0 even when there are findings.")] = False,
    select: Annotated[
        list[str] | None,
        typer.Option(
            "--select", metavar="RULES", help="Rule codes, prefixes or names to run (default: all default rules)."
        ),
    ] = None,
    extend_select: Annotated[
        list[str] | None,
        typer.Option("--extend-select", metavar="RULES", help="Rules to run besides the selected ones (opt-in rules)."),
    ] = None,
    ignore: Annotated[
        list[str] | None, typer.Option("--ignore", metavar="RULES", help="Rule codes, prefixes or names to skip.")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="A TOML file to read instead of the nearest pyproject.toml's [tool.netlint].",
        ),
    ] = None,
    show_settings: Annotated[
        bool, typer.Option("--show-settings", help="Print the resolved settings, where each came from, and exit.")
    ] = False,
    probe: Annotated[
        bool | None,
        typer.Option(
            "--probe/--no-probe",
            help="Measure the variance shift at every BatchNorm on a real batch. Default: for models where a "
            "dropout or drop-path reaches a BatchNorm, or a dropout stays active at inference (NL001/NL005/NL006).",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            "--device", metavar="DEVICE", help="Where the probe runs: auto, cpu, cuda, cuda:N or mps (default auto)."
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=2,
            metavar="N",
            help="The probe's batch, used as given (default: planned from the model's FLOPs and activations; "
            "a real batch is used whole).",
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", min=0, metavar="N", help="Seed of the probe's dropout masks and random batch (default 0)."
        ),
    ] = None,
    input_file: Annotated[
        str | None,
        typer.Option(
            "--input", metavar="FILE", help="A real batch saved with torch.save (a tensor or a tuple of inputs)."
        ),
    ] = None,
    probe_budget: Annotated[
        float | None,
        typer.Option(
            "--probe-budget",
            min=0,
            metavar="SECONDS",
            help="Seconds the probe may take per model (default 10): the default batch is planned from the model's "
            "cost to take half of it on a 2-core CPU, and a probe still running at twice it is stopped with a note. "
            "0: no deadline and no memory guard.",
            show_default=False,
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            metavar="FILE",
            help="A trained checkpoint (a state dict, or {'state_dict'|'model'|'model_state_dict': ...}) to load into "
            "the model before the probe; read with torch.load(weights_only=True).",
        ),
    ] = None,
    timings: Annotated[bool, typer.Option("--timings", help="Include the probe's seconds in JSON output.")] = False,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Apply the (unsafe) fix of NL002: bias=False where every layer of the call is flagged."
        ),
    ] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show the fixes as a diff instead of writing them.")] = False,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline",
            metavar="FILE",
            help="Report and fail only on findings this baseline does not record (default: [tool.netlint] baseline).",
            show_default=False,
        ),
    ] = None,
    write_baseline: Annotated[
        str | None,
        typer.Option(
            "--write-baseline",
            metavar="FILE",
            help="Record the current findings in FILE (e.g. .netlint-baseline.json) and exit 0.",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            min=0.001,
            metavar="SECONDS",
            help="Seconds each target may take to import, build, analyse and probe (default 120).",
            show_default=False,
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            metavar="N",
            help="Targets checked in parallel (default: the number of CPU cores).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of unexpected errors (also NETLINT_DEBUG=1).")
    ] = False,
    allow_no_model: Annotated[
        bool,
        typer.Option(
            "--allow-no-model",
            help="An explicit file in which no model is found (or whose models all need constructor arguments) "
            "is a note, not an error (for pre-commit, which passes every changed file).",
        ),
    ] = False,
) -> None:
    """Check the models in TARGETS and report architecture mistakes."""
    from pathlib import Path

    from .config.settings import ConfigError, find_config, load_settings

    start = time.perf_counter()
    fresh_torch = "torch" not in sys.modules  # no torch operation ran here yet: workers may use every core
    targets = list(targets or [])
    try:
        settings = load_settings(Path(config) if config else find_config(targets))
        flags = {
            "select": _split(select) or None, "ignore": _split(ignore) or None,
            "extend-select": _split(extend_select) or None, "fail-on": fail_on,
            "probe": probe, "device": device, "batch-size": batch_size, "seed": seed, "baseline": baseline,
            "probe-budget": probe_budget, "timeout": timeout,
        }  # fmt: skip
        settings.override(flags)
    except ConfigError as exc:
        _fail(str(exc))
    if show_settings:
        _print_settings(settings)
        raise typer.Exit(0)
    if fmt == Format.html and not output and sys.stdout.isatty():  # a page of markup is no terminal report
        _fail("--format html writes a web page: add --output report.html (or redirect the output to a file)")
    try:
        settings.check_selection()
    except ConfigError as exc:
        _fail(str(exc))
    if not targets:
        targets = [_config_target(m.target, settings.root) for m in settings.models]
        if not targets:
            _fail("no targets: pass files, directories or package.module:name, or list models in [tool.netlint]")
    options = _options(settings, input_shape, input_file, allow_no_model)
    options.weights = weights
    from .progress import progress_mode

    options.progress = progress_mode(fmt, output)
    options.jobs, options.fresh_torch = jobs, fresh_torch
    if debug:  # one switch for every layer, forked workers included
        os.environ["NETLINT_DEBUG"] = "1"
    options.debug = bool(os.environ.get("NETLINT_DEBUG"))
    from .messages import warnings_as_notes
    from .report import render
    from .run.targets import check_targets

    notes: list[str] = []
    with warnings_as_notes(notes):  # warnings of torch and the user's code become notes, not stderr noise
        report = check_targets(targets, options)
    report.notes.extend(notes)
    report.notes.extend(settings.unmatched_globs())
    if fix or diff:
        code = _fix(report, write=not diff)
        if diff:
            for err in report.errors:
                typer.echo(f"netlint: {err.text}", err=True)
            raise typer.Exit(2 if report.errors else code)
    if write_baseline or settings.baseline_path:
        _baseline(report, write_baseline, settings.baseline_path)
    elapsed = time.perf_counter() - start
    if output:
        try:
            with open(output, "w", encoding="utf-8") as fh:
                render(report, fmt, fh, elapsed=elapsed, timings=timings)
        except OSError as exc:
            _fail(f"cannot write --output {output}: {exc.strerror}")
    else:
        render(report, fmt, sys.stdout, elapsed=elapsed, timings=timings)
    if report.interrupted:
        typer.echo("netlint: interrupted; the report above shows what finished.", err=True)
        raise typer.Exit(130)
    code = report.exit_code()
    raise typer.Exit(0 if (exit_zero or write_baseline) and code == 1 else code)


def _baseline(report, write: str | None, read: str | None) -> None:
    """--write-baseline records every finding (the run then exits 0); otherwise the baseline hides what it records."""
    from .config.baseline import BaselineError, apply_baseline, write_baseline

    try:
        if write:
            count = write_baseline(report, write)
            typer.echo(f"Wrote {count} finding(s) to the baseline {write}.", err=True)
        else:
            apply_baseline(report, read)
    except BaselineError as exc:
        _fail(str(exc))


def _fix(report, write: bool) -> int:
    """Apply (or show) the NL002 fixes; the fixed findings leave the report. 1 if a diff is shown.

    A file that cannot be read or written is an error entry of the report (exit status 2), never a traceback.
    """
    from .errors import NetlintError
    from .fix import WriteRefused, plan, write_atomic

    fixes = plan(report)
    for file, why in fixes.errors:
        report.errors.append(NetlintError(file, why))
    sources = fixes.sources()
    written: set[str] = set()
    if write:
        for file in sources:
            try:
                write_atomic(file, fixes.new_bytes(file), fixes.originals[file].raw)
            except WriteRefused as exc:
                from .source import relpath

                report.errors.append(
                    NetlintError(relpath(file) or file, f"--fix cannot write it: {exc}; the file is unchanged.")
                )
            else:
                written.add(file)
        fixed = {(model, module) for file, model, module in fixes.fixed if file in written}
        for model in report.models:
            model.findings = [f for f in model.findings if (f.model, f.module) not in fixed or f.code != "NL002"]
    else:
        for file in sources:
            sys.stdout.write(fixes.diff(file))
    verb = "Fixed" if write else "Would fix"
    count = sum(1 for file, *_ in fixes.fixed if file in written or not write)
    files = len(written) if write else len(sources)
    if count:
        typer.echo(
            f"{verb} {count} NL002 finding(s) in {files} file(s) with bias=False (an unsafe fix: a "
            "checkpoint saved with the bias no longer loads with strict=True).",
            err=True,
        )
    for why in fixes.skipped:
        typer.echo(f"not fixed: {why}", err=True)
    return 1 if sources else 0


def _fail(message: str) -> None:
    typer.echo(f"netlint: {message}", err=True)
    raise typer.Exit(2)


def _config_target(target: str, root) -> str:
    from .load.targets import target_key

    key = target_key(target, str(root))
    return key if key != target else target


def _options(settings, input_shape, input_file, allow_no_model):
    from .load.targets import target_key
    from .options import Options

    shapes: list = []
    model_inputs: dict = {}
    if input_shape or any(m.input_shape for m in settings.models):
        from .graph.inputs import parse_shapes  # imports torch: only when shapes are given

        try:
            shapes = parse_shapes(input_shape or [])
            model_inputs = {
                target_key(m.target, str(settings.root)): parse_shapes(m.input_shape)
                for m in settings.models
                if m.input_shape
            }
        except ValueError as exc:
            _fail(str(exc))
    inputs = _load_batch(input_file, bool(shapes)) if input_file else None
    return Options(
        input_shapes=shapes,
        inputs=inputs,
        select=settings.select,
        ignore=settings.ignore,
        extend_select=settings.extend_select,
        severity=settings.severity,
        per_file_ignores=settings.per_file_ignores,
        per_module_ignores=settings.per_module_ignores,
        config_root=str(settings.root),
        model_inputs=model_inputs,
        fail_on=settings.fail_on,
        strict=not allow_no_model,
        probe=settings.probe,
        device=settings.device,
        batch_size=settings.batch_size,
        seed=settings.seed,
        probe_budget=settings.probe_budget,
        model_weights={
            target_key(m.target, str(settings.root)): str(settings.root / m.weights)
            for m in settings.models
            if m.weights
        },
        timeout=settings.timeout,
    )


def _print_settings(settings) -> None:
    import json

    typer.echo(f"configuration file: {settings.file or '(none found)'}")
    for key, value, origin in settings.describe():
        typer.echo(f"{key} = {json.dumps(value)}  # {origin}")


def _load_batch(path: str, with_shapes: bool):
    """``--input FILE.pt``: a tensor, a dict or list of tensors (one input), or a tuple of inputs.

    ``weights_only=True`` never runs code from the file.
    """
    if with_shapes:
        typer.echo("netlint: give either --input or --input-shape, not both", err=True)
        raise typer.Exit(2)
    import torch

    from .graph.inputs import from_values

    try:
        values = torch.load(path, map_location="cpu", weights_only=True)
        return from_values(values, f"--input {path}")
    except (OSError, RuntimeError, TypeError, ValueError, EOFError, Exception) as exc:
        from .errors import describe_exception
        from .messages import safe_torch_message

        safe = safe_torch_message(str(exc))
        why = describe_exception(exc) if safe == str(exc) else " ".join(safe.split())
        typer.echo(f"netlint: cannot use --input {path}: {why}", err=True)
        raise typer.Exit(2) from None


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@app.command(
    cls=_CleanHelp,
    epilog="Example:\n\n"
    "  netlint recalibrate model.py:Net --weights best.pt --input train_batches.pt --output best_recalibrated.pt\n\n"
    "Exit status: 0 written, 2 bad input (nothing written).",
)
def recalibrate(
    target: Annotated[str, typer.Argument(help="The model: file.py:Name or package.module:name.", show_default=False)],
    weights: Annotated[
        str, typer.Option("--weights", help="The trained checkpoint to recalibrate (never overwritten).")
    ],
    input_file: Annotated[
        str,
        typer.Option(
            "--input",
            help="Training batches saved with torch.save: one tensor, or a list/tuple of batches (each a tensor or "
            "a tuple of positional inputs).",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", help="Where to write the recalibrated checkpoint: a new file in an existing folder."
        ),
    ],
    device: Annotated[str, typer.Option("--device", help="Where the batches run: cpu, cuda, cuda:N or mps.")] = "cpu",
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.001, metavar="SECONDS", help="Seconds the model may take to load and run."),
    ] = 600.0,
) -> None:
    """Re-estimate every BatchNorm's running statistics with dropout and drop-path off; write a new checkpoint."""
    from .probing.recalibrate import RecalibrateError
    from .run.recalibrate import recalibrate_target

    try:
        lines = recalibrate_target(target, weights, input_file, output, device=device, timeout=timeout,
                                   debug=bool(os.environ.get("NETLINT_DEBUG")))  # fmt: skip
    except RecalibrateError as exc:
        _fail(str(exc))
    for line in lines:
        typer.echo(line)


@app.command(cls=_CleanHelp, epilog="Examples:\n\n  netlint rules\n\n  netlint rules --markdown > docs/rules.md")
def rules(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the rules reference page (docs/rules.md).")
    ] = False,
) -> None:
    """List every rule with its code, name, default severity and summary."""
    from .report.docs import rules_markdown, rules_table

    if markdown:
        sys.stdout.write(rules_markdown())
    else:
        rules_table(sys.stdout)


@app.command(cls=_CleanHelp, epilog="Examples:\n\n  netlint explain NL001\n\n  netlint explain bias-before-batchnorm")
def explain(
    rule: Annotated[
        str, typer.Argument(metavar="RULE", help="A rule code (NL001) or name (dropout-before-batchnorm).")
    ],
) -> None:
    """Print a rule's documentation: what it does, why it matters, how to fix it."""
    from .report.docs import explain_rule
    from .rules import ALL_RULES, lookup

    found = lookup(rule)
    if found is None:
        codes = ", ".join(r.code for r in ALL_RULES)
        typer.echo(f"netlint: unknown rule {rule!r}; the rules are {codes} (see `netlint rules`).", err=True)
        raise typer.Exit(2)
    explain_rule(found, sys.stdout)


def exit_status(exc: SystemExit) -> int:
    """What the interpreter makes of a ``SystemExit``: its integer code, 0 for None, else 1 with the
    code printed to stderr."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    sys.stderr.write(f"{exc.code}\n")
    return 1


def main() -> None:
    """The console script and ``python -m netlint``.

    Once the report is out, a process that imported torch ends with ``os._exit``: the interpreter's
    teardown of torch's modules (about 0.4 s) would only delay the exit status. Only this entry
    point does so; the API and in-process runners return normally.
    """
    from .messages import hush_environment_warnings

    hush_environment_warnings()
    try:
        app(prog_name="netlint")
    except SystemExit as exc:
        if "torch" not in sys.modules:
            raise
        code = exit_status(exc)
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (BrokenPipeError, OSError):
            raise exc from None  # let the interpreter deal with a closed pipe as usual
        os._exit(code)

"""The command line: ``netlint check``, ``netlint rules``, ``netlint explain``."""

from __future__ import annotations

import sys
import time
from enum import Enum
from typing import Annotated

import typer

from . import __version__
from .findings import Severity

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


class Format(str, Enum):
    rich = "rich"
    json = "json"


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
    epilog="Examples:\n\n"
    "  netlint check examples/\n\n"
    "  netlint check model.py:ResNet --input-shape 2,3,32,32\n\n"
    '  netlint check "torchvision.models:densenet121(drop_rate=0.2)" --format json\n\n'
    "Exit status: 0 no finding at or above --fail-on, 1 findings, 2 bad input."
)
def check(
    targets: Annotated[
        list[str],
        typer.Argument(
            help="Python files, directories, file.py:Name, or package.module:name (a class, factory or instance).",
            show_default=False,
        ),
    ],
    input_shape: Annotated[
        list[str] | None,
        typer.Option(
            "--input-shape",
            "-i",
            help="Shape of a positional input, e.g. 2,3,224,224 (add :long for token indices); once per input.",
        ),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.rich,
    fail_on: Annotated[
        FailOn, typer.Option("--fail-on", help="Lowest severity that makes the exit status 1.")
    ] = FailOn.warning,
    select: Annotated[
        list[str] | None,
        typer.Option("--select", help="Rule codes, prefixes or names to run (default: all default rules)."),
    ] = None,
    ignore: Annotated[list[str] | None, typer.Option("--ignore", help="Rule codes, prefixes or names to skip.")] = None,
    probe: Annotated[
        bool | None,
        typer.Option(
            "--probe/--no-probe",
            help="Measure the variance shift at every BatchNorm on a real batch. Default: for models "
            "with an active dropout and a BatchNorm.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="Where the probe runs: auto, cpu, cuda or cuda:N.")] = "auto",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=2,
            help="The probe's batch (default 32 for spatial inputs, 256 for flat ones; a real batch is used whole).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the probe's dropout masks and random batch.")] = 0,
    input_file: Annotated[
        str | None,
        typer.Option("--input", help="A real batch saved with torch.save (a tensor or a tuple of inputs)."),
    ] = None,
    timings: Annotated[bool, typer.Option("--timings", help="Include the probe's seconds in JSON output.")] = False,
    allow_no_model: Annotated[
        bool,
        typer.Option(
            "--allow-no-model",
            help="A file whose nn.Module classes all need constructor arguments is a note, not an error "
            "(for pre-commit, which passes every changed file).",
        ),
    ] = False,
) -> None:
    """Check the models in TARGETS and report architecture mistakes."""
    from .engine import Options, check_targets
    from .report import render

    start = time.perf_counter()
    shapes = []
    for text in input_shape or []:
        from .inputs import parse_shape

        try:
            shapes.append(parse_shape(text))
        except ValueError as exc:
            typer.echo(f"netlint: {exc}", err=True)
            raise typer.Exit(2) from None
    inputs = _load_batch(input_file, bool(shapes)) if input_file else None
    if not _valid_device(device):
        typer.echo(f"netlint: invalid --device {device!r}: use auto, cpu, cuda or cuda:N", err=True)
        raise typer.Exit(2)
    options = Options(
        input_shapes=shapes,
        inputs=inputs,
        select=_split(select) or None,
        ignore=_split(ignore),
        strict=not allow_no_model,
        probe=probe,
        device=device,
        batch_size=batch_size,
        seed=seed,
    )
    report = check_targets(targets, options)
    render(report, fmt.value, sys.stdout, elapsed=time.perf_counter() - start, timings=timings)
    raise typer.Exit(report.exit_code(Severity(fail_on.value)))


def _valid_device(device: str) -> bool:
    import re

    return bool(re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device))


def _load_batch(path: str, with_shapes: bool):
    """``--input FILE.pt``: tensors only (``weights_only=True`` never runs code from the file)."""
    if with_shapes:
        typer.echo("netlint: give either --input or --input-shape, not both", err=True)
        raise typer.Exit(2)
    import torch

    from .inputs import from_values

    try:
        values = torch.load(path, map_location="cpu", weights_only=True)
        return from_values(values, f"--input {path}")
    except (OSError, RuntimeError, TypeError, ValueError, EOFError, Exception) as exc:
        from .errors import describe_exception

        typer.echo(f"netlint: cannot use --input {path}: {describe_exception(exc)}", err=True)
        raise typer.Exit(2) from None


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


@app.command(epilog="Examples:\n\n  netlint rules\n\n  netlint rules --markdown > docs/rules.md")
def rules(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the rules reference page (docs/rules.md).")
    ] = False,
) -> None:
    """List every rule with its code, name, default severity and summary."""
    from .docs import rules_markdown, rules_table

    if markdown:
        sys.stdout.write(rules_markdown())
    else:
        rules_table(sys.stdout)


@app.command(epilog="Examples:\n\n  netlint explain NL001\n\n  netlint explain bias-before-batchnorm")
def explain(
    rule: Annotated[str, typer.Argument(help="A rule code (NL001) or name (dropout-before-batchnorm).")],
) -> None:
    """Print a rule's documentation: what it does, why it matters, how to fix it."""
    from .docs import explain_rule
    from .rules import ALL_RULES, lookup

    found = lookup(rule)
    if found is None:
        codes = ", ".join(r.code for r in ALL_RULES)
        typer.echo(f"netlint: unknown rule {rule!r}; the rules are {codes} (see `netlint rules`).", err=True)
        raise typer.Exit(2)
    explain_rule(found, sys.stdout)


def main() -> None:
    app()

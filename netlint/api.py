"""The Python API: check a model object (or a target string) from your own code and tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .engine import Options, Report, check_spec, check_targets, selected_rules


def check(
    model: Any,
    inputs: Any = None,
    *,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    probe: bool | None = False,
    device: str = "auto",
    batch_size: int | None = None,
    seed: int = 0,
    name: str | None = None,
    probe_budget: float = 0.0,
) -> Report:
    """Check ``model`` (an ``nn.Module`` or a target such as ``"torchvision.models:vgg16"``).

    ``inputs`` is an example input: a tensor, a dict or a list (the single positional input), or a
    tuple of positional inputs (only shapes and dtypes matter for the static check; the probe uses
    the values). ``probe``: False (default),
    True, or None to probe when a static finding asks for it (a dropout or drop-path reaching a
    BatchNorm, or a dropout active at inference). ``probe_budget``: seconds the probe may take
    (0, the default here: no time or memory limit; the command line's default is 10). The model is
    never changed.
    """
    options = Options(select=select, ignore=ignore, probe=probe, device=device, batch_size=batch_size, seed=seed,
                      probe_budget=probe_budget)  # fmt: skip
    if isinstance(model, str):
        return check_targets([model], options)
    from .errors import NetlintError
    from .inputs import from_values
    from .load import ModelSpec

    spec = ModelSpec(name or type(model).__name__, instance=model)
    report = Report()
    try:
        if inputs is not None:
            options.inputs = from_values(inputs, "inputs=")
        model_report = check_spec(spec, options, selected_rules(select, ignore))
        report.models.append(model_report)
        if model_report.probe_error is not None:
            report.errors.append(model_report.probe_error)
    except NetlintError as exc:
        report.errors.append(exc)
    return report

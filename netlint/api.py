"""The Python API: check a model object (or a target string) from your own code and tests."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

from .config.policy import apply_policy, selected_rules
from .options import Options
from .results import Report
from .run.pipeline import check_spec
from .run.status import unexpected_error
from .run.targets import check_targets


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
    timeout: float | None = 120.0,
) -> Report:
    """Check ``model`` (an ``nn.Module`` or a target such as ``"torchvision.models:vgg16"``).

    ``inputs`` is an example input: a tensor, a dict or a list (the single positional input), or a
    tuple of positional inputs (only shapes and dtypes matter for the static check; the probe uses
    the values). ``probe``: False (default), True, or None to probe when a static finding asks for
    it (a dropout or drop-path reaching a BatchNorm, or a dropout active at inference).
    ``probe_budget``: seconds the probe may take (0, the default here: no time or memory limit; the
    command line's default is 10). The model is never changed. A target string is checked in a
    worker process (``timeout`` seconds at most), as the command line does; a model object is
    checked in this process. Either way ``sys.path``, ``sys.modules`` and ``sys.argv`` are as they
    were when this returns, and an exit or error in user code is an entry of ``report.errors``,
    never an exception.
    """
    options = Options(
        select=select, ignore=ignore, probe=probe, device=device, batch_size=batch_size, seed=seed, jobs=1,
        timeout=timeout, probe_budget=probe_budget,
    )  # fmt: skip
    from .errors import NetlintError

    if not selected_rules(select, ignore):  # select=[] must not read as "clean"
        chosen = f"select={list(select) if select is not None else None!r}, ignore={list(ignore)!r}"
        return Report(
            errors=[NetlintError("netlint.check", f"{chosen} leaves no rule to run.", "Select at least one rule.")]
        )
    if isinstance(model, str):
        return check_targets([model], options)
    from .graph.inputs import from_values
    from .load.models import ModelSpec

    spec = ModelSpec(name or type(model).__name__, instance=model)
    rules = selected_rules(select, ignore)
    report = Report(rules=rules)
    with _interpreter_kept():
        try:
            if inputs is not None:
                options.inputs = from_values(inputs, "inputs=")
            model_report = check_spec(spec, options, rules)
            report.models.append(model_report)
            if model_report.probe_error is not None:
                report.errors.append(model_report.probe_error)
        except NetlintError as exc:
            report.errors.append(exc)
        except (Exception, SystemExit) as exc:  # the model's own code exited or failed
            report.errors.append(unexpected_error(spec.name, exc, options))
    # The source's ``# netlint: ignore[...]`` comments, as the command line honours them. No file was
    # checked whole (the model may use part of one), so a suppression is never called unused here.
    apply_policy(report, options, whole_files=set())
    return report


@contextlib.contextmanager
def _interpreter_kept() -> Iterator[None]:
    """The caller's ``sys.path``, ``sys.argv`` and user modules as they were, whatever the model's code did.

    Modules that user code imported are dropped again; library modules (torch's lazy imports) stay.
    """
    from .source import is_user_file

    path, argv, modules = list(sys.path), list(sys.argv), dict(sys.modules)
    try:
        yield
    finally:
        sys.path[:] = path
        sys.argv[:] = argv
        for key in [k for k in sys.modules if k not in modules]:
            file = getattr(sys.modules[key], "__file__", None)
            if file and is_user_file(file):
                del sys.modules[key]
        for key, module in modules.items():
            if sys.modules.get(key) is not module:
                sys.modules[key] = module

"""What a check is asked to do: the options every stage reads (plain data; imports no stage)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .findings import Severity


@dataclass
class Options:
    input_shapes: Sequence[Any] = ()  # TensorTemplate per positional input (from --input-shape)
    inputs: Any = None  # an InputSpec with real values (--input FILE.pt, or the API's inputs=)
    select: Sequence[str] | None = None  # rule codes or prefixes; None: the default rules
    ignore: Sequence[str] = ()
    extend_select: Sequence[str] = ()
    severity: dict[str, Severity] = field(default_factory=dict)  # per-rule severity overrides
    per_file_ignores: dict[str, Sequence[str]] = field(default_factory=dict)  # glob -> codes
    per_module_ignores: dict[str, Sequence[str]] = field(default_factory=dict)  # module-path glob -> codes
    config_root: str | None = None  # per-file globs are relative to it (the configuration's folder)
    model_inputs: dict[str, Sequence[Any]] = field(default_factory=dict)  # model key -> TensorTemplates
    fail_on: Severity = Severity.WARNING
    strict: bool = True  # an explicit file that yields no model is an error
    probe: bool | None = None  # None: when a static finding asks for it (an NL001/NL005/NL006 site)
    probe_budget: float = 10.0  # seconds: the default batch is planned for half, stopped at twice (0: no limit)
    weights: str | None = None  # a checkpoint for every model (--weights FILE.pt)
    model_weights: dict[str, str] = field(default_factory=dict)  # model key -> checkpoint (configuration)
    progress: str | None = None  # "bar" | "plain": show long work (many files, a probe) on stderr, a terminal only
    device: str = "auto"
    batch_size: int | None = None  # None: planned from the model's cost (probing.budget.default_batch)
    seed: int = 0
    isolate: bool = True  # user code runs in one worker process per target (netlint.run.worker)
    jobs: int | None = None  # workers at a time; None: one per CPU core
    timeout: float | None = 120.0  # seconds per target for import, build, analysis and probe
    debug: bool = False  # print the traceback of unexpected exceptions to stderr
    fresh_torch: bool | None = None  # whether this process ran no torch operation yet (None: guess)
    losses: frozenset[str] = frozenset()  # loss names the checked files use (NL013), filled by check_targets

"""Settings: ``[tool.netlint]`` in the nearest pyproject.toml (or ``--config``), then the command line.

Every value is validated: an unknown key, an unknown rule code or a value of the wrong type is an
error that names the key and the file, never silently ignored. Each resolved value remembers
where it came from, for ``netlint check --show-settings``.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..findings import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KEYS = (
    "select", "ignore", "extend-select", "fail-on", "severity", "per-file-ignores", "per-module-ignores",
    "models", "probe", "device", "batch-size", "seed", "probe-budget", "baseline", "timeout",
)  # fmt: skip
MODEL_KEYS = ("target", "input-shape", "weights")


class ConfigError(Exception):
    """A bad configuration: reported as one line naming the file and the key, exit status 2."""


@dataclass
class ModelEntry:
    target: str  # as written, resolved against the configuration's folder
    input_shape: list[str] = field(default_factory=list)
    weights: str | None = None  # a checkpoint, relative to the configuration's folder


@dataclass
class Settings:
    select: list[str] | None = None  # None: the rules selected by default
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    fail_on: Severity = Severity.WARNING
    severity: dict[str, Severity] = field(default_factory=dict)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    per_module_ignores: dict[str, list[str]] = field(default_factory=dict)
    models: list[ModelEntry] = field(default_factory=list)
    probe: bool | None = None
    device: str = "auto"
    batch_size: int | None = None
    seed: int = 0
    probe_budget: float = 10.0  # seconds; 0: no time or memory limit
    baseline: str | None = None  # a baseline file, relative to the configuration's folder
    timeout: float = 120.0  # seconds per target (import, build, analysis and probe together)
    file: Path | None = None  # the configuration file, if any
    origin: dict[str, str] = field(default_factory=dict)  # key -> "default" | file | "--flag"

    @property
    def root(self) -> Path:
        """Relative paths in the configuration are relative to its folder."""
        return self.file.parent if self.file else Path.cwd()

    @property
    def baseline_path(self) -> str | None:
        """The baseline file: a --baseline flag is relative to the working directory, the file's key to its folder."""
        if self.baseline is None:
            return None
        if self.origin.get("baseline", "").startswith("--"):
            return os.path.abspath(self.baseline)
        return str(self.root / self.baseline)

    def override(self, flags: dict[str, Any]) -> None:
        """Command-line values replace the file's; each is validated like the file's."""
        for key, value in flags.items():
            if value is not None:
                _apply(self, key, value, f"--{key}")
                self.origin[key] = f"--{key}"

    def check_selection(self) -> None:
        """A selection that leaves no rule to run is an error naming the settings, never a silent "clean"."""
        from .policy import selected_rules

        if selected_rules(self.select, self.ignore, self.extend_select):
            return
        named = [
            f"{key} = {_toml_list(getattr(self, key.replace('-', '_')))} ({self.origin.get(key, 'default')})"
            for key in ("select", "ignore", "extend-select")
            if getattr(self, key.replace("-", "_")) or (key == "select" and self.select is not None)
        ]
        verb = "together leave" if len(named) > 1 else "leaves"
        raise ConfigError(
            f"{' with '.join(named) or 'the settings'} {verb} no rule to run, so every check would be switched off: "
            "select at least one rule (see `netlint rules`)"
            + (", or remove the empty select" if self.select == [] else "")
        )

    def unmatched_globs(self, limit: int = 20000) -> list[str]:
        """Notes for per-file-ignores globs that match no Python file under the configuration's folder."""
        import fnmatch

        globs = list(self.per_file_ignores)
        if not globs:
            return []
        unmatched = set(globs)
        from ..load.targets import python_files

        # The files a folder check walks (so a glob that only matches a .pyi or a build/ copy is noted).
        for count, path in enumerate(python_files(str(self.root))):
            relative = Path(os.path.relpath(path, self.root)).as_posix()
            if count >= limit:
                return []  # too large a tree to say
            name = os.path.basename(relative)
            unmatched -= {g for g in unmatched if fnmatch.fnmatch(relative, g) or fnmatch.fnmatch(name, g)}
            if not unmatched:
                return []
        where = _display(self.file) if self.file else "per-file-ignores"
        return [
            f"{where}: per-file-ignores {glob!r} matches no Python file under {_display(self.root)}/, "
            "so it ignores nothing (globs are relative to the configuration's folder)"
            for glob in globs
            if glob in unmatched
        ]

    def describe(self) -> list[tuple[str, Any, str]]:
        """``(key, value, where it came from)`` for every setting, for --show-settings."""
        out = []
        for key in KEYS:
            value = getattr(self, key.replace("-", "_"))
            if isinstance(value, Severity):
                value = value.value
            elif key == "severity":
                value = {k: v.value for k, v in value.items()}
            elif key == "models":
                value = [
                    {"target": m.target, "input-shape": m.input_shape, **({"weights": m.weights} if m.weights else {})}
                    for m in value
                ]
            out.append((key, value, self.origin.get(key, "default")))
        return out


def _toml_list(values: list[str] | None) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values or []) + "]"


def find_config(targets: Sequence[str], cwd: str | None = None) -> Path | None:
    """The nearest pyproject.toml with a [tool.netlint] table above the targets' common folder."""
    from ..load.targets import split_target

    cwd = os.path.abspath(cwd or os.getcwd())
    folders = []
    for target in targets:
        path = split_target(target)[0]
        if path.endswith(".py") or os.path.exists(path):
            absolute = os.path.abspath(path)
            folders.append(absolute if os.path.isdir(absolute) else os.path.dirname(absolute))
    start = Path(os.path.commonpath(folders)) if folders else Path(cwd)
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        try:
            found = candidate.is_file()
        except OSError:  # a folder that cannot be read: the target's own error says so
            continue
        if found:
            data = _load(candidate)
            if "netlint" in data.get("tool", {}):
                return candidate
    return None


def _load(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it: {exc.strerror}") from None


def load_settings(path: Path | None) -> Settings:
    """Settings from a file (``[tool.netlint]`` of a pyproject.toml, or the top level of another TOML)."""
    settings = Settings(file=path)
    if path is None:
        return settings
    data = _load(path)
    table = data.get("tool", {}).get("netlint", {}) if path.name == "pyproject.toml" else data.get("tool", {}).get(
        "netlint", data
    )  # fmt: skip
    where = f"{_display(path)} [tool.netlint]" if path.name == "pyproject.toml" or "tool" in data else _display(path)
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    for key, value in table.items():
        if key not in KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, KEYS)}")
        _apply(settings, key, value, where)
        settings.origin[key] = _display(path)
    return settings


def _apply(settings: Settings, key: str, value: Any, where: str) -> None:
    label = where if where.startswith("--") else f"{where}: {key}"  # a flag names its key itself

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"{label} must be {expected}, got {value!r}")

    if key in ("select", "ignore", "extend-select"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise fail("a list of rule codes or prefixes")
        setattr(settings, key.replace("-", "_"), [validate_code(v, label) for v in value])
    elif key == "fail-on":
        settings.fail_on = _severity(value, fail)
    elif key == "severity":
        if not isinstance(value, dict):
            raise fail('a table such as {NL003 = "info"}')
        settings.severity = {validate_code(k, label, exact=True): _severity(v, fail) for k, v in value.items()}
    elif key in ("per-file-ignores", "per-module-ignores"):
        if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
        ):
            raise fail('a table of glob = ["NL001", ...]')
        setattr(settings, key.replace("-", "_"), {
            glob: [validate_code(c, label) for c in codes] for glob, codes in value.items()
        })  # fmt: skip
    elif key == "models":
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise fail('an array of tables such as [{target = "models.py:Net", input-shape = "2,3,32,32"}]')
        settings.models = [_model_entry(entry, where) for entry in value]
    elif key == "probe":
        if not isinstance(value, bool):
            raise fail("true or false")
        settings.probe = value
    elif key == "device":
        if not isinstance(value, str) or not valid_device(value):
            raise fail("auto, cpu, cuda, cuda:N or mps")
        settings.device = value
    elif key == "baseline":
        if not isinstance(value, str) or not value:
            raise fail('a file name such as ".netlint-baseline.json"')
        settings.baseline = value
    elif key == "timeout":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise fail("a number of seconds greater than 0")
        settings.timeout = float(value)
    elif key in ("batch-size", "seed"):
        if not isinstance(value, int) or isinstance(value, bool) or value < (2 if key == "batch-size" else 0):
            raise fail("an integer" + (" of at least 2" if key == "batch-size" else " of at least 0"))
        setattr(settings, key.replace("-", "_"), value)
    elif key == "probe-budget":
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise fail("a number of seconds, 0 or more (0: no limit)")
        settings.probe_budget = float(value)


def _model_entry(entry: dict[str, Any], where: str) -> ModelEntry:
    for key in entry:
        if key not in MODEL_KEYS:
            raise ConfigError(f"{where}: models: unknown key {key!r}{_suggest(key, MODEL_KEYS)}")
    target = entry.get("target")
    if not isinstance(target, str) or not target:
        raise ConfigError(f'{where}: models: every entry needs a target such as "models.py:Net"')
    shapes = entry.get("input-shape", [])
    if isinstance(shapes, str):
        shapes = [shapes]
    if not isinstance(shapes, list) or not all(isinstance(s, str) for s in shapes):
        raise ConfigError(f"{where}: models: input-shape of {target!r} must be a string or a list of strings")
    weights = entry.get("weights")
    if weights is not None and (not isinstance(weights, str) or not weights):
        raise ConfigError(f"{where}: models: weights of {target!r} must be the path of a checkpoint")
    return ModelEntry(target, shapes, weights)


def _severity(value: Any, fail) -> Severity:
    try:
        return Severity(value)
    except ValueError:
        raise fail("one of info, warning, error") from None


def validate_code(code: str, where: str, exact: bool = False) -> str:
    """A rule code (``NL001``), a code prefix (``NL00``) or a rule name; anything else is an error.

    Returns the code (or prefix): names are normalised here, so that everything downstream
    (severity overrides, ignores, selection) compares codes only.
    """
    from ..rules import ALL_RULES, BY_NAME

    upper = code.upper()
    codes = [r.code for r in ALL_RULES]
    names = [r.name for r in ALL_RULES]
    if upper in codes:
        return upper
    if code in BY_NAME:
        return BY_NAME[code].code
    if not exact and upper.startswith("NL") and any(c.startswith(upper) for c in codes):
        return upper
    raise ConfigError(f"{where}: unknown rule {code!r}{_suggest(upper, codes + names)} (see `netlint rules`)")


def valid_device(device: str) -> bool:
    import re

    return bool(re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device))


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)

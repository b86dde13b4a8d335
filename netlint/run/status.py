"""What this process is checking now (phase, model, the user's line) and the one paragraph for an error nobody expected.

A worker records its phase in a buffer the parent can read when it hangs or dies; in-process (the API,
plain files) the same calls just keep the phase for messages.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import NetlintError, describe_exception

if TYPE_CHECKING:
    from ..options import Options

STATE_SIZE = 4096  # bytes of the shared buffer a worker writes its status into

# Netlint functions that tell what a worker was doing when user code hung or failed inside them,
# innermost first: (function name, phase).
_PHASES = {
    "import_file": "importing",
    "_from_module": "importing",
    "build_meta": "building",
    "real": "building",
    "build_graph": "tracing",
    "run_rules": "analysing",
    "probe_model": "probing",
    "measure": "probing",
    "recalibrated_checkpoint": "recalibrating",
}

_state: Any = None  # the worker's shared status buffer (None in the parent or in-process)
_phase: dict[str, Any] = {"phase": "checking", "name": ""}


@dataclass
class Where:
    """What a worker was doing: the phase, the model (or file) and the user's line, if known."""

    phase: str = "checking"
    name: str = ""
    line: str = ""  # "file.py:12", the deepest user frame
    size: str = ""  # the model's size ("8.0 G parameters, 32 GB in float32"), or what a build had reached
    real: bool = False  # whether ``size`` counts real weights (else a meta build's)

    def describe(self) -> str:
        name = f" `{self.name}`" if self.name else ""
        return f"while {self.phase}{name}" + (f" (last user line reached: {self.line})" if self.line else "")


def phase(name: str, model: str = "") -> None:
    """Record what the check is doing now (the parent reads it when the worker hangs or dies)."""
    _phase["phase"], _phase["name"] = name, model
    if _state is not None:
        write_state(dict(_phase))


def attach(state: Any) -> None:
    """In a worker: record the status into ``state``, a buffer the parent reads (with the size builds reach)."""
    from .. import memory

    global _state
    _state = state
    memory.listeners.append(_sized)


def _sized(size: Any, real: bool) -> None:
    _phase["size"], _phase["real"] = size.describe(), real
    write_state(dict(_phase))


def in_worker() -> bool:
    return _state is not None


def current() -> Where:
    return Where(_phase["phase"], _phase["name"], size=_phase.get("size", ""), real=_phase.get("real", False))


def write_state(data: dict[str, str]) -> None:
    raw = json.dumps(data).encode("utf-8", "replace")[: STATE_SIZE - 1]
    _state.value = raw


def where_in(frames: Sequence[Any]) -> Where:
    """The phase, model and deepest user line of a stack (frames outermost first).

    Frames outside netlint's outermost own frame (the console script that started it) are not user code that ran.
    """
    from ..source import is_user_file, location, relpath, within_netlint

    found = current()
    phase_found = line_found = False
    for frame in within_netlint(list(reversed(frames))):  # innermost first
        code = frame.f_code
        if not line_found and code.co_filename and is_user_file(code.co_filename):
            found.line, line_found = location(code.co_filename, frame.f_lineno), True
        if not phase_found and code.co_name in _PHASES and _is_netlint(code.co_filename):
            found.phase, phase_found = _PHASES[code.co_name], True
            spec = frame.f_locals.get("spec")
            path = frame.f_locals.get("path")
            if getattr(spec, "name", None):
                found.name = spec.name
            elif found.phase == "importing" and isinstance(path, str):
                found.name = relpath(path) or path
        if phase_found and line_found:
            break
    return found


def where_of_exception(exc: BaseException) -> Where:
    """Where an exception was raised: its traceback's frames."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return where_in(frames)


def _is_netlint(filename: str) -> bool:
    return filename.startswith(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)


def unexpected_error(target: str, exc: BaseException, options: Options | None = None) -> NetlintError:
    """One paragraph for an exception nobody expected: what ran, where in the user's code, what to do."""
    import traceback

    if (options is not None and options.debug) or os.environ.get("NETLINT_DEBUG"):
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    where = where_of_exception(exc)
    at = f" (at {where.line})" if where.line else ""
    name = f" `{where.name}`" if where.name else ""
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        what = f"sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else "KeyboardInterrupt"
        return NetlintError(
            target,
            f"user code raised {what} while {where.phase}{name}{at}.",
            "netlint imports model files and runs their constructors and forward passes: guard script code "
            "with if __name__ == '__main__': (sys.argv is [FILE] for user code, so argparse gets its defaults).",
        )
    return NetlintError(
        target,
        f"netlint failed while {where.phase}{name}: {describe_exception(exc)}.",
        "This is a bug in netlint or an unusual construct in the model; run with --debug for the traceback "
        "and please report it.",
    )

"""``netlint recalibrate`` as safe as ``check``: the paths checked before any work, the model run in a
worker process (timeout, exits, writes and leftover processes handled as for ``check``), the new
checkpoint written by this process, atomically, only when everything succeeded."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import NetlintError
from ..results import TargetResult

DEFAULT_TIMEOUT = 600.0  # seconds: recalibrating runs the model over every batch


@dataclass
class RecalibrateJob:
    """What the worker needs besides the target (handed where ``check`` gets its options)."""

    weights: str
    input_file: str
    device: str = "cpu"
    debug: bool = False


@dataclass
class RecalibrationOutcome(TargetResult):
    """A worker's answer: summary lines and the new statistics (checkpoint keys, unprefixed), or errors."""

    lines: list[str] = field(default_factory=list)
    # The statistics as torch.save bytes: tensors sent through a pipe as they are would travel as shared
    # memory (torch's reductions), which dies with the worker before the parent reads it.
    state: bytes = b""


def recalibrate_unit(target: str, job: RecalibrateJob, rules: Any = (), strict: bool = True) -> TargetResult:
    """The worker's part: everything that runs user code."""
    from ..load.targets import display_target
    from ..probing.recalibrate import RecalibrateError, recalibrated_checkpoint

    try:
        lines, state = recalibrated_checkpoint(target, job.weights, job.input_file, job.device)
    except RecalibrateError as exc:
        return RecalibrationOutcome(errors=[NetlintError(display_target(target), str(exc))])
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    return RecalibrationOutcome(lines=lines, state=buffer.getvalue())


def recalibrate_target(target: str, weights: str, input_file: str, output: str, *, device: str = "cpu",
                       timeout: float | None = DEFAULT_TIMEOUT, debug: bool = False) -> list[str]:  # fmt: skip
    """Check the paths, recalibrate in a worker, write OUTPUT atomically; the lines to print.

    Raises ``RecalibrateError`` (nothing written) for bad input, a model that fails, hangs or exits.
    """
    from ..load.targets import display_target, package_root, target_path
    from ..probing.recalibrate import RecalibrateError
    from . import worker

    # A process that ran torch operations before forking has a thread pool that a forked child cannot use
    # (the worker would hang): then the worker computes with one thread, as check's workers do.
    fresh = "torch" not in sys.modules
    path, is_module = target_path(target)
    check_paths(None if is_module else path, weights, input_file, output)
    if str(device) not in ("cpu", "auto"):
        from ..probing.shift import device_problem

        problem = device_problem(device)
        if problem:
            raise RecalibrateError(f"--device {device}: {problem} (use --device cpu)")
    roots = () if is_module else (os.path.dirname(os.path.abspath(path)), package_root(path)[0])
    unit = worker.Unit(target, True, roots)

    def error(unit, what: str, where, why: str = "", hint: str = "") -> TargetResult:
        if what.startswith("did not finish"):
            hint = f"Look for an endless loop there, or raise --timeout (now {timeout:g} s)."
        message = f"{what} {where.describe()}" + (f": {why}" if why else "") + "; nothing was written."
        return TargetResult(errors=[NetlintError(display_target(unit.target), message, hint)])

    job = RecalibrateJob(weights, input_file, str(device), debug)
    run = worker.run_units([unit], recalibrate_unit, job, (), jobs=1, timeout=timeout,
                           threads=(os.cpu_count() or 1) if fresh else 1, error=error)  # fmt: skip
    result = run.results[0]
    if run.interrupted or result is None:
        raise RecalibrateError("interrupted (Ctrl-C); nothing was written")
    if result.errors:
        raise RecalibrateError(result.errors[0].text)
    if not isinstance(result, RecalibrationOutcome):  # a backstop's result without an error cannot happen
        raise RecalibrateError(f"{display_target(target)}: the worker sent no statistics; nothing was written")
    import io

    import torch

    from ..load.checkpoint import CheckpointError, read_checkpoint

    try:
        checkpoint = read_checkpoint(weights)
    except CheckpointError as exc:  # changed since the worker read it
        raise RecalibrateError(str(exc)) from None
    state = torch.load(io.BytesIO(result.state), map_location="cpu", weights_only=True)
    try:
        write_atomic(checkpoint.with_tensors(state), output)
    except OSError as exc:
        raise RecalibrateError(f"cannot write --output {output}: {exc.strerror or exc}; nothing was written") from None
    return [*result.lines, f"wrote {output}"]


def check_paths(model_file: str | None, weights: str, input_file: str, output: str) -> None:
    """Before any work: the inputs readable, OUTPUT a writable file in an existing folder and none of them.

    netlint never overwrites the checkpoint it reads (nor the batches, nor the model's source): the
    recalibrated checkpoint goes beside the original, which stays to compare with.
    """
    from ..probing.recalibrate import RecalibrateError

    for flag, path in (("--weights", weights), ("--input", input_file)):
        if not os.path.isfile(path):
            raise RecalibrateError(
                f"cannot read {flag} {path}: {'it is a folder' if os.path.isdir(path) else 'no such file'}"
            )
        if not os.access(path, os.R_OK):
            raise RecalibrateError(f"cannot read {flag} {path}: permission denied")
    target = os.path.abspath(output)
    folder = os.path.dirname(target)
    if os.path.isdir(target):
        raise RecalibrateError(f"--output {output} is a folder: name the checkpoint file to write")
    if not os.path.isdir(folder):
        raise RecalibrateError(f"--output {output}: the folder {folder} does not exist; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RecalibrateError(f"--output {output}: the folder {folder} is not writable")
    if os.path.exists(target):
        if not os.access(target, os.W_OK):
            raise RecalibrateError(f"--output {output} exists and is read-only")
        for what, path in (("--weights", weights), ("--input", input_file), ("the model's file", model_file)):
            if path and os.path.exists(path) and os.path.samefile(target, path):
                raise RecalibrateError(
                    f"--output {output} is {what} itself: netlint does not overwrite it; write the recalibrated "
                    "checkpoint beside the original (e.g. best_recalibrated.pt) and keep the original to compare"
                )


def write_atomic(obj: Any, output: str) -> None:
    """``torch.save`` into a temporary file in OUTPUT's folder, then one rename: a reader never sees half a
    checkpoint, and a failure leaves OUTPUT as it was. An existing OUTPUT keeps its mode."""
    import torch

    target = os.path.abspath(output)
    folder, name = os.path.split(target)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".netlint-tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise

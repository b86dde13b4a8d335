"""User-facing errors: one paragraph that names the target and what to do, never a traceback."""

from __future__ import annotations

import traceback

# Set in a worker whose writes into the checked folders the kernel refuses (run.sandbox): a "Permission
# denied" from torch.save or a C extension is then most likely that, and the message says so.
WRITES_REFUSED = False
_REFUSED = "netlint does not let user code write into the checked folders"


class NetlintError(Exception):
    """Bad input (a missing file, a model that cannot be built or run): exit status 2."""

    def __init__(self, target: str, message: str, hint: str = ""):
        self.target = target
        self.message = message
        self.hint = hint
        super().__init__(self.text)

    def __reduce__(self):  # workers send errors to the parent pickled
        return (type(self), (self.target, self.message, self.hint))

    @property
    def text(self) -> str:
        return f"{self.target}: {self.message}" + (f" {self.hint}" if self.hint else "")


class ForwardFailure(Exception):
    """An exception raised while running one layer or call of the model, with where it happened."""

    def __init__(self, original: BaseException, where: str):
        super().__init__(str(original))
        self.original = original
        self.where = where


def original_error(exc: BaseException) -> BaseException:
    """The exception the model raised, without the ``ForwardFailure`` that says where."""
    return exc.original if isinstance(exc, ForwardFailure) else exc


def describe_exception(exc: BaseException, limit: int = 240) -> str:
    """``TraceError: symbolically traced variables cannot ... (at model.py:42)`` on one line."""
    if isinstance(exc, ForwardFailure):
        return f"{describe_exception(exc.original, limit)}, in {exc.where}"
    if starts_a_process(exc):  # multiprocessing's own words would blame "daemonic processes"
        where = user_frame(exc)
        at = f" at {where[0]}:{where[1]}" if where else ""
        return (f"user code starts a process with multiprocessing{at}, which netlint's worker process may "
                "not do (each target is checked in one)")  # fmt: skip
    message = " ".join(str(exc).split()).rstrip(".") or "(no message)"
    if len(message) > limit:
        message = message[: limit - 3] + "..."
    from .source import location

    if WRITES_REFUSED and "Permission denied" in message and _REFUSED not in message:
        message += f" ({_REFUSED})"
    where = user_frame(exc)
    suffix = f" (at {location(*where)})" if where else ""
    return f"{type(exc).__name__}: {message}{suffix}"


def user_frame(exc: BaseException) -> tuple[str, int] | None:
    """The innermost traceback frame in the user's code, if any."""
    from .source import is_user_file, relpath

    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename and is_user_file(frame.filename) and frame.lineno:
            found = (relpath(frame.filename), frame.lineno)
    return found


def starts_a_process(exc: BaseException) -> bool:
    """``multiprocessing.Process(...).start()`` in user code run by a worker (a daemonic process)."""
    return isinstance(exc, AssertionError) and "daemonic processes are not allowed to have children" in str(exc)

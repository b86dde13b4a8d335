"""Messages from torch and the user's code, made fit for a report.

- Python warnings raised while a model is checked (NumPy missing, fx deprecations, the user's own
  ``warnings.warn``) never reach stderr: the relevant ones become report notes, the deprecation
  chatter of libraries is dropped. Run the check inside ``warnings_as_notes`` (in the process that
  runs the user's code).
- Errors relayed from ``torch.load`` keep their cause but never the advice to retry with
  ``weights_only=False``, which runs arbitrary code from the file.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
# torch's word that its NumPy bridge is unavailable (numpy not installed): netlint never uses that bridge, so
# it is not the user's business, on stderr or in a report (installing numpy for it alone is not worth it).
_NOT_OURS = "Failed to initialize NumPy"


def hush_environment_warnings() -> None:
    """Before torch is imported: its note that NumPy is missing never reaches stderr."""
    warnings.filterwarnings("ignore", message=_NOT_OURS, category=UserWarning)


_LIMIT = 240


@contextlib.contextmanager
def warnings_as_notes(notes: list[str]) -> Iterator[None]:
    """Record every warning raised inside; append the relevant ones to ``notes``, each once."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for note in warning_notes(caught):
                if note not in notes:
                    notes.append(note)


def warning_notes(caught: list[warnings.WarningMessage]) -> list[str]:
    from .source import is_user_file, location

    notes: list[str] = []
    for w in caught:
        user = bool(w.filename) and is_user_file(w.filename)
        if not user and issubclass(w.category, _DEPRECATIONS):
            continue  # a library's deprecation notice: nothing the user of netlint can act on
        if str(w.message).startswith(_NOT_OURS):
            continue
        text = _one_line(safe_torch_message(str(w.message)))
        where = location(w.filename, w.lineno) if user else _library(w.filename)
        note = f"{where} warned during the check: {w.category.__name__}: {text}"
        if note not in notes:
            notes.append(note)
    return notes


def _library(filename: str) -> str:
    parts = re.split(r"[\\/]", filename or "")
    if "site-packages" in parts and parts.index("site-packages") + 1 < len(parts):
        return parts[parts.index("site-packages") + 1]
    return "python"


def _one_line(text: str) -> str:
    text = " ".join(_ANSI.sub("", text).split())
    return text if len(text) <= _LIMIT else text[: _LIMIT - 3] + "..."


def safe_torch_message(text: str) -> str:
    """A torch.load message without the sentences that advise ``weights_only=False``."""
    text = _ANSI.sub("", text)
    if "Weights only load failed" not in text:
        sentences = re.split(r"(?<=[.!?])\s+", text)
        return " ".join(x for x in sentences if not ("weights_only" in x and "False" in x)).strip()
    cause = re.search(
        r"WeightsUnpickler error:\s*(.+?)(?:\s+Please use `torch\.serialization|\s*Check the doc|$)", text, re.S
    )
    detail = " ".join(cause.group(1).split()) if cause else ""
    summary = "torch.load refused it: netlint loads tensors only and never runs code from the file"
    return f"{summary}: {detail.rstrip('.')}" if detail else summary

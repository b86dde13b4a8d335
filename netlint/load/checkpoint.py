"""Trained checkpoints: read safely, unwrap, match to the model, and write back with only BatchNorm statistics changed.

A checkpoint is a state dict, or one wrapped as ``{"state_dict": ...}``, ``{"model": ...}`` or
``{"model_state_dict": ...}`` (training scripts add epochs and optimiser state beside it), with
the ``module.`` prefixes that DataParallel and DistributedDataParallel add. It is read with
``torch.load(..., weights_only=True)``: a file that would need to run code to load is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WRAPPERS = ("state_dict", "model_state_dict", "model")
PREFIX = "module."
SHOWN = 3  # keys named in an error


_SAVE = "Save the state dict: torch.save(model.state_dict(), path)."


class CheckpointError(Exception):
    """A checkpoint that cannot be read or does not fit the model: one paragraph, exit status 2.

    ``message`` says what is wrong (a sentence without its full stop), ``hint`` what to do: each error has
    its own, so no caller adds advice of its own on top.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        self.message, self.hint = message, hint
        super().__init__(f"{message}." + (f" {hint}" if hint else ""))

    def __reduce__(self):
        return (type(self), (self.message, self.hint))


@dataclass
class Checkpoint:
    """The file's object, where its state dict sits in it, and the state dict with prefixes stripped."""

    path: str
    raw: Any  # what torch.load returned
    wrapper: str | None  # the key holding the state dict, None when the file is the state dict
    prefix: str  # the stripped prefix ("module." once or more, or "")
    state: dict[str, Any]  # key without prefix -> tensor

    def with_tensors(self, replaced: Mapping[str, Any]) -> Any:
        """The file's object again, with the tensors of ``replaced`` (unprefixed keys) swapped in; all else the same."""
        inner = self.raw[self.wrapper] if self.wrapper else self.raw
        new_inner = type(inner)() if isinstance(inner, dict) else {}
        for key, value in inner.items():
            bare = key[len(self.prefix) :] if self.prefix and key.startswith(self.prefix) else key
            new_inner[key] = replaced.get(bare, value)
        metadata = getattr(inner, "_metadata", None)  # module versions that load_state_dict reads
        if metadata is not None:
            new_inner._metadata = metadata
        if self.wrapper is None:
            return new_inner
        outer = dict(self.raw)
        outer[self.wrapper] = new_inner
        return outer


def read_checkpoint(path: str) -> Checkpoint:
    import pickle

    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"cannot read --weights {path}: no such file",
                              "Check the path (it is relative to the working directory).") from None  # fmt: skip
    except pickle.UnpicklingError as exc:
        unpickler = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", str(exc), re.S)
        why = " ".join(unpickler.group(1).split()) if unpickler else ""
        found = re.search(r"\bGLOBAL ([\w.]+)", str(exc))  # a class or function the file would call to load
        if found is None:  # not a pickle of tensors at all (torch's advice to run code is never relayed)
            raise CheckpointError(
                f"cannot read --weights {path}: not a PyTorch checkpoint" + (f" ({why[:120]})" if why else ""),
                "Pass a file written by torch.save(model.state_dict(), path).",
            ) from None
        raise CheckpointError(
            f"refused --weights {path}: it holds Python objects ({found.group(1)}) that loading would have to run "
            "code for, and netlint reads checkpoints with torch.load(weights_only=True), which never runs code",
            f"{_SAVE}",
        ) from None
    except Exception as exc:  # a truncated file, not a torch file at all
        from ..errors import describe_exception

        raise CheckpointError(f"cannot read --weights {path}: {describe_exception(exc)}", _SAVE) from None
    wrapper = None
    inner = raw
    if isinstance(raw, Mapping) and not _is_state(raw):
        wrapper = next((k for k in WRAPPERS if isinstance(raw.get(k), Mapping) and _is_state(raw[k])), None)
        if wrapper is None:
            keys = ", ".join(repr(k) for k in list(raw)[:6])
            raise CheckpointError(
                f"--weights {path} is not a state dict: a dict of {keys} without a 'state_dict', 'model' or "
                "'model_state_dict' entry holding the tensors", _SAVE
            )  # fmt: skip
        inner = raw[wrapper]
    elif not isinstance(raw, Mapping):
        raise CheckpointError(f"--weights {path} holds a {type(raw).__name__}, not a state dict of tensors", _SAVE)
    prefix = _common_prefix(list(inner))
    state = {k[len(prefix) :]: v for k, v in inner.items()}
    return Checkpoint(path, raw, wrapper, prefix, state)


def read_state_dict(path: str) -> dict[str, Any]:
    return read_checkpoint(path).state


def _is_state(mapping: Mapping) -> bool:
    import torch

    return (
        bool(mapping)
        and all(isinstance(k, str) for k in mapping)
        and any(isinstance(v, torch.Tensor) for v in mapping.values())
    )


def _common_prefix(keys: list[str]) -> str:
    """``module.`` (repeated, for nested wrappers) when every key carries it."""
    prefix = ""
    while keys and all(k.startswith(prefix + PREFIX) for k in keys):
        prefix += PREFIX
    return prefix


def check_keys(model: Any, state: Mapping[str, Any], path: str) -> None:
    """Missing or unexpected keys, or a tensor of another shape, name the first few (the model may be on meta)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) ({_first(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) ({_first(unexpected)})")
    shapes = [
        f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in expected.items()
        if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)
    ]
    if shapes:
        problems.append(f"{len(shapes)} tensor(s) of another shape ({'; '.join(shapes[:SHOWN])})")
    if problems:
        raise CheckpointError(f"--weights {path} does not fit this model: {', '.join(problems)}",
                              "Pass the checkpoint saved from this model (its state_dict).")  # fmt: skip


def _first(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def load_into(model: Any, state: Mapping[str, Any]) -> None:
    """Copy the checkpoint into a model netlint owns (never the user's object)."""
    model.load_state_dict(state, strict=True)

"""Leave the user's world as it was: random-number generators, training flags, weights and buffers."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator, Sequence
from typing import Any


def cuda_indices(devices: Sequence[Any]) -> list[int]:
    """CUDA devices whose generators a block of code may move: those named, plus all if CUDA is in use."""
    import torch

    if not torch.cuda.is_available():
        return []
    if torch.cuda.is_initialized():
        return list(range(torch.cuda.device_count()))
    named = [torch.device(d) for d in devices if torch.device(d).type == "cuda"]
    return sorted({d.index if d.index is not None else torch.cuda.current_device() for d in named})


def seed_generators(seed: int, devices: Sequence[Any] = ()) -> None:
    """Seed the CPU generator and those of the CUDA devices named, never queueing a seed for an unused CUDA."""
    import torch

    torch.random.default_generator.manual_seed(seed)
    for index in cuda_indices(devices):
        torch.cuda.default_generators[index].manual_seed(seed)


@contextlib.contextmanager
def preserved_rng(seed: int | None = None, devices: Sequence[Any] = ()) -> Iterator[None]:
    """Restore torch's CPU and CUDA generators, Python's ``random`` and NumPy's global state.

    With ``seed``, the generators are seeded inside, so that random draws in user code (a block
    skipped by stochastic depth) come out the same on every run.
    """
    import torch

    py = random.getstate()
    np = sys.modules.get("numpy")
    np_state = np.random.get_state() if np is not None else None
    with torch.random.fork_rng(devices=cuda_indices(devices)):
        try:
            if seed is not None:
                seed_generators(seed, devices)
                random.seed(seed)
                if np is not None:
                    np.random.seed(seed)
            yield
        finally:
            random.setstate(py)
            if np_state is not None:
                np.random.set_state(np_state)

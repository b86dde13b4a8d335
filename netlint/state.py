"""Leave the user's world as it was: random-number generators, training flags, weights and buffers."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def preserved_rng(seed: int | None = None) -> Iterator[None]:
    """Restore torch's CPU and CUDA generators, Python's ``random`` and NumPy's global state.

    With ``seed``, the generators are seeded inside, so that random draws in user code (a block
    skipped by stochastic depth) come out the same on every run.
    """
    import torch

    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    py = random.getstate()
    np = sys.modules.get("numpy")
    np_state = np.random.get_state() if np is not None else None
    try:
        if seed is not None:
            if cuda is not None:
                torch.manual_seed(seed)  # seeds CUDA too; its state is restored below
            else:
                torch.random.default_generator.manual_seed(seed)  # never queue a seed for a CUDA not yet used
            random.seed(seed)
            if np is not None:
                np.random.seed(seed)
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        random.setstate(py)
        if np_state is not None:
            np.random.set_state(np_state)

"""Running user code without allocating weights: the meta device as the default device.

The technique of accelerate's ``init_empty_weights`` (``with torch.device("meta"):``), so that a
model file's module-level ``model = LlamaForCausalLM(config)`` costs what its class costs, plus what
that alone breaks in model files:

- moving a meta tensor to a real device stays on meta (``model = Net().to(device)``, ``.cuda()``);
- initialisers and other in-place writes of values into meta tensors are skipped: there are no values,
  and torch runs them as Python decompositions (the first one imports ``torch._dynamo``, seconds);
- ``load_state_dict`` into meta parameters is the no-op it is, without torch's warning about it.

Code that needs values (``.item()``, ``.tolist()``, ``.numpy()``, ``if tensor > 0:``) still fails;
the loader then imports the file again with real tensors (``load/models.py``).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

# In-place functions and methods that only write values: on a meta tensor they have nothing to do.
# (Metadata changes such as ``requires_grad_``, ``resize_``, ``transpose_`` still run.)
_FILLS = frozenset(
    {
        # torch.nn.init
        "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
        "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
        # tensor methods
        "zero_", "fill_", "random_", "exponential_", "bernoulli_", "cauchy_", "log_normal_", "geometric_",
        "copy_", "clamp_", "clamp_min_", "clamp_max_", "mul_", "add_", "sub_", "div_", "erfinv_", "exp_",
        "log_", "sqrt_", "neg_", "abs_", "masked_fill_", "index_fill_", "fill_diagonal_", "addcmul_",
        "addcdiv_",
    }
)  # fmt: skip
_MOVES = frozenset({"to", "cpu", "cuda", "pin_memory"})


@contextlib.contextmanager
def empty_weights() -> Iterator[None]:
    """While active, tensors made without an explicit device are meta tensors (see the module's docstring)."""
    import torch
    from torch.overrides import TorchFunctionMode

    class KeepMeta(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            name = getattr(func, "__name__", "")
            if name in _FILLS or name in _MOVES:
                target = args[0] if args else kwargs.get("tensor")
                if isinstance(target, torch.Tensor) and target.is_meta:
                    if name in _FILLS:
                        return target
                    return _stay_on_meta(func, name, target, args[1:], kwargs)
            return func(*args, **kwargs)

    # One filter added and removed: the filters user code sets while importing stay set.
    warnings.filterwarnings("ignore", message=r".*copying from a non-meta parameter in the checkpoint to a meta")
    added = warnings.filters[0]
    try:
        with torch.device("meta"), KeepMeta():
            yield
    finally:
        with contextlib.suppress(ValueError):
            warnings.filters.remove(added)
            getattr(warnings, "_filters_mutated", lambda: None)()  # as filterwarnings does: caches are stale


def _stay_on_meta(func, name: str, tensor, args, kwargs):
    """``tensor.to(device, dtype)`` keeps the dtype change and drops the move."""
    import torch

    if name != "to":
        return tensor  # cpu(), cuda(), pin_memory()
    try:
        device, dtype, _, _ = torch._C._nn._parse_to(*args, **kwargs)
    except Exception:
        return func(tensor, *args, **kwargs)  # let torch say what is wrong with the arguments
    if device is not None and device.type == "meta":
        return func(tensor, *args, **kwargs)
    return tensor.to(dtype) if dtype is not None else tensor

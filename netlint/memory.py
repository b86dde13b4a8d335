"""Memory: what this process may still allocate, a model's size in words, and the weights a build has reached.

Shared by the loader (its guard before a model is built with real weights), the graph builder (before
a real copy for a data-dependent forward), the probe's budget, and the worker, whose parent names the
size of the model when the out-of-memory killer ends it. Imports no stage and no torch at import.
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# -- what may still be allocated -------------------------------------------------------------------


def available_memory(device: Any = "cpu") -> tuple[int | None, str]:
    """Bytes this process may still allocate on ``device``, and what bounds it (None: unknown)."""
    if getattr(device, "type", str(device)) == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return free, "free GPU memory"
    bounds = [(_meminfo_available(), "available RAM"), (_cgroup_room(), "the cgroup memory limit"),
              (_rlimit_room(), "RLIMIT_AS")]  # fmt: skip
    known = [(b, why) for b, why in bounds if b is not None]
    return min(known) if known else (None, "unknown")


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as fh:
            text = fh.read().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def _cgroup_room() -> int | None:
    """Limit minus usage of this process's cgroup (v2, else v1); None without a limit."""
    relative = ""
    try:
        with open("/proc/self/cgroup") as fh:
            for line in fh:
                if line.startswith("0::"):
                    relative = line[3:].strip().lstrip("/")
    except OSError:
        pass
    for folder in {os.path.join("/sys/fs/cgroup", relative), "/sys/fs/cgroup"}:
        limit = _read_int(os.path.join(folder, "memory.max"))
        if limit is not None:
            return max(limit - (_read_int(os.path.join(folder, "memory.current")) or 0), 0)
    limit = _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if limit is not None and limit < 1 << 60:  # v1 writes a huge number for "no limit"
        return max(limit - (_read_int("/sys/fs/cgroup/memory/memory.usage_in_bytes") or 0), 0)
    return None


def _rlimit_room() -> int | None:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, ValueError, OSError):
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    used = 0
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
    except OSError:
        pass
    return max(soft - used, 0)


# -- sizes in words ----------------------------------------------------------------------------------


def gb(n: float) -> str:
    """``32.1 GB``, ``350 MB``, ``17 kB``, ``512 B``."""
    if n >= 1e8:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB" if n >= 1e3 else f"{int(n)} B"


def count(n: float) -> str:
    """``8.0 G``, ``350 M``, ``12 k``, ``7``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 100 * scale else f"{n / scale:.0f} {unit}"
    return str(int(n))


@dataclass
class Size:
    """Parameters and buffers: how many parameters, how many bytes (both together), in which dtypes."""

    parameters: int = 0
    bytes: int = 0
    dtypes: tuple[str, ...] = ()

    def describe(self) -> str:
        """``8.0 G parameters, 32 GB in float32``."""
        where = f" in {'/'.join(self.dtypes)}" if self.dtypes else ""
        return f"{count(self.parameters)} parameters, {gb(self.bytes)}{where}"


def size_of(model: Any) -> Size:
    """The size of a model's parameters and buffers, each tensor once (meta tensors count as real ones would)."""
    import itertools

    seen: set[int] = set()
    size = Size()
    dtypes: dict[str, int] = {}
    for kind, t in itertools.chain((("p", p) for p in model.parameters()), (("b", b) for b in model.buffers())):
        if id(t) in seen:
            continue
        seen.add(id(t))
        _add(size, dtypes, t, kind == "p")
    size.dtypes = _main_dtypes(dtypes)
    return size


def _add(size: Size, dtypes: dict[str, int], t: Any, parameter: bool) -> int:
    try:
        nbytes = t.numel() * t.element_size()
    except Exception:  # an uninitialised (lazy) parameter has no size yet
        return 0
    size.bytes += nbytes
    if parameter:
        size.parameters += t.numel()
        name = str(t.dtype).removeprefix("torch.")
        dtypes[name] = dtypes.get(name, 0) + nbytes
    return nbytes


def _main_dtypes(dtypes: dict[str, int]) -> tuple[str, ...]:
    return tuple(sorted(dtypes, key=lambda d: -dtypes[d])[:2])


# -- what a build has reached -------------------------------------------------------------------------

# Called with (size so far, whether the build holds real weights) as a build grows; the worker writes it
# where its parent can read it after an out-of-memory kill.
listeners: list[Callable[[Size, bool], None]] = []


def publish(size: Size, real: bool) -> None:
    for listener in listeners:
        with contextlib.suppress(Exception):
            listener(size, real)


@dataclass
class Counter:
    """The parameters and buffers registered with any module while active (torch's global registration
    hooks), counted while they live: what a build has reached, even one that fails half-way."""

    real: bool
    size: Size = field(default_factory=Size)  # alive now
    peak: Size = field(default_factory=Size)  # when the most bytes were alive at once
    _live: dict[int, tuple[Any, int, int]] = field(default_factory=dict)
    _dtypes: dict[str, int] = field(default_factory=dict)
    _published: int = 0

    @contextlib.contextmanager
    def counting(self) -> Iterator[Counter]:
        from torch.nn.modules.module import (
            register_module_buffer_registration_hook,
            register_module_parameter_registration_hook,
        )

        handles = [register_module_parameter_registration_hook(lambda m, n, t: self._seen(t, True)),
                   register_module_buffer_registration_hook(lambda m, n, t: self._seen(t, False))]  # fmt: skip
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            self._publish(force=True)

    def _seen(self, t: Any, parameter: bool) -> None:
        if t is None:
            return
        known = self._live.get(id(t))
        if known is not None and known[0]() is t:
            return  # one tensor registered twice (tied weights)
        key = id(t)
        try:
            ref = weakref.ref(t, lambda _: self._gone(key))
        except TypeError:
            return
        before = self.size.parameters
        nbytes = _add(self.size, self._dtypes, t, parameter)
        self._live[key] = (ref, nbytes, self.size.parameters - before)
        if self.size.bytes > self.peak.bytes:
            self.peak = Size(self.size.parameters, self.size.bytes)
        self._publish()

    def _gone(self, key: int) -> None:
        _, nbytes, parameters = self._live.pop(key, (None, 0, 0))
        self.size.bytes -= nbytes
        self.size.parameters -= parameters

    def _publish(self, force: bool = False) -> None:
        # Every 5 % of growth (1 MB at least): a build of thousands of tensors writes a few hundred times at most.
        if self.peak.bytes and (force or self.peak.bytes >= max(self._published * 1.05, self._published + (1 << 20))):
            self._published = self.peak.bytes
            publish(self.reached(), self.real)

    def reached(self) -> Size:
        """The parameters and bytes when the most were alive at once."""
        return Size(self.peak.parameters, self.peak.bytes, _main_dtypes(self._dtypes))

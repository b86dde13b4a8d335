"""How much memory this process may still use: free RAM, its cgroup's limit, RLIMIT_AS, or a GPU's free memory.

Read by the probe's plan (how large a batch fits) and by graph building (whether a model whose
forward fails on the meta device may be built with real weights on the CPU).
"""

from __future__ import annotations

import os
from typing import Any


def available_memory(device: Any) -> tuple[int | None, str]:
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


def gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"

"""What a worker's user code may not do to the machine: write into the checked folders, or leave processes behind.

Writes. On Linux with Landlock (5.19 and later; Linux 6.2 and later also cover truncation) the kernel
refuses the worker, and every process it starts, any write, creation, deletion, rename or link
inside the checked folders: ``torch.save``, a C extension, ``subprocess.run(["rm", ...])`` alike.
Landlock can only grant, never deny, so the worker is granted writes everywhere else: beneath every
entry of every folder above a checked folder, except the entries that lead to one. Hence new
entries directly inside a parent folder of a checked folder cannot be made either (its existing
files stay writable). The hidden entries at the top of a checked folder (``.cache``, ``.git``) and
the temporary folder stay writable; when the temporary folder holds a checked folder (a check of
``/tmp/x``), the worker gets a private temporary folder of its own. Where Landlock is missing, only
the audit hook of ``worker._refuse_writes`` guards, and it sees Python's own file calls only.

Processes. A worker is a child subreaper (``PR_SET_CHILD_SUBREAPER``): whatever user code starts
stays below it, even in a new session (``setsid``, ``start_new_session=True``), and is killed
before it ends (``end_descendants``); the parent does the same for a worker it has to kill.

Linux only, by raw system calls through ctypes; no torch here.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
from collections.abc import Sequence

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_CHILD_SUBREAPER = 36
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on x86-64 and arm64
_RULE_PATH_BENEATH = 1
# Landlock's filesystem rights that write (reading and executing stay free).
_WRITE_FILE, _REMOVE_DIR, _REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_MAKE = sum(1 << b for b in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2 (cross-folder rename and link), ABI 3
_FILE_RIGHTS = _WRITE_FILE | _TRUNCATE  # the rights a rule on a file (not a folder) may carry
PRIVATE_TMP = "netlint-worker-{pid}"  # a worker's own temporary folder, when it needs one


@functools.lru_cache(maxsize=1)
def _structures():
    """Landlock's ``struct landlock_ruleset_attr`` (its first field: enough for every ABI) and
    ``struct landlock_path_beneath_attr`` (packed)."""
    import ctypes

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("handled_access_fs", ctypes.c_uint64)]

    class PathBeneathAttr(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    return RulesetAttr, PathBeneathAttr


def _libc():
    import ctypes  # here, not at import: the parent of a one-file check stays as light as it can

    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 without Landlock (another system, an old kernel, disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    import ctypes

    try:
        version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def refuse_writes(roots: Sequence[str]) -> str | None:
    """Forbid this process and its future children to write beneath ``roots``. None when done, else why not.

    Call it after everything the worker itself must write is open; it cannot be undone.
    """
    abi = landlock_abi()
    if abi < 2:  # ABI 1 refuses every rename across folders: too much for user code's caches
        return "Landlock is not available" if abi == 0 else "Landlock is too old (ABI 1)"
    roots = sorted({os.path.realpath(r) for r in roots if r})
    if not roots or "/" in roots:
        return "nothing to protect" if not roots else "the whole file system is checked"
    import ctypes

    RulesetAttr, _ = _structures()
    handled = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE | _REFER | (_TRUNCATE if abi >= 3 else 0)
    libc = _libc()
    attr = RulesetAttr(handled)
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                           ctypes.c_uint32(0))  # fmt: skip
    if ruleset < 0:
        return f"Landlock refused a ruleset ({os.strerror(ctypes.get_errno())})"
    try:
        for path in _writable(roots):
            _allow(libc, ruleset, path, handled)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"no_new_privs refused ({os.strerror(ctypes.get_errno())})"
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"Landlock refused to restrict the worker ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(ruleset)
    return None


def _writable(roots: list[str]) -> list[str]:
    """What stays writable: every entry beside the way down to a checked folder, the hidden entries at
    the top of each checked folder, and a temporary folder."""
    on_the_way = {os.path.dirname(r) for r in roots}
    for root in roots:
        parent = os.path.dirname(root)
        while parent != os.path.dirname(parent):
            parent = os.path.dirname(parent)
            on_the_way.add(parent)
    on_the_way.add("/")
    keep = set(roots) | on_the_way  # never granted: a grant covers everything beneath
    out = []
    for folder in sorted(on_the_way):
        with contextlib.suppress(OSError), os.scandir(folder) as entries:
            out.extend(e.path for e in entries if e.path not in keep and not e.is_symlink())
    for root in roots:
        with contextlib.suppress(OSError), os.scandir(root) as entries:
            out.extend(e.path for e in entries if e.name.startswith(".") and e.path not in keep and not e.is_symlink())
    out.append(_temporary_folder(roots, keep))
    return out


def _temporary_folder(roots: list[str], keep: set[str]) -> str:
    """The temporary folder, writable; a private one (``$TMPDIR`` for user code and its children too) when the
    real one lies on the way to a checked folder, where it cannot be granted whole."""
    import tempfile

    real = os.path.realpath(tempfile.gettempdir())
    if real not in keep:
        return real  # beside or below the checked folders: granted as it is
    private = os.path.join(real, PRIVATE_TMP.format(pid=os.getpid()))
    with contextlib.suppress(FileExistsError):
        os.mkdir(private, 0o700)
    tempfile.tempdir = private
    os.environ["TMPDIR"] = private
    return private


def _allow(libc, ruleset: int, path: str, handled: int) -> None:
    import ctypes

    _, PathBeneathAttr = _structures()
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return  # gone, or not ours to open: nothing to grant
    try:
        rights = handled if os.path.isdir(f"/proc/self/fd/{fd}") else handled & _FILE_RIGHTS
        rule = PathBeneathAttr(rights, fd)
        libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                     ctypes.c_uint32(0))  # fmt: skip
    finally:
        os.close(fd)


def remove_private_tmp(pid: int) -> None:
    """The private temporary folder of worker ``pid``, if it made one (in the parent, after the worker)."""
    import shutil
    import tempfile

    path = os.path.join(tempfile.gettempdir(), PRIVATE_TMP.format(pid=pid))
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)


# -- processes ---------------------------------------------------------------------------------


def become_subreaper() -> bool:
    """Orphans of this process's descendants become its children, not init's (Linux 3.4 and later)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return _libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _children() -> dict[int, list[int]]:
    """Parent pid -> the pids of its living (not zombie) children, from /proc."""
    out: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if fields and fields[0] not in (b"Z", b"X"):
            out.setdefault(int(fields[1]), []).append(int(name))
    return out


def descendants(pid: int) -> list[int]:
    """The living processes below ``pid``, parents before their children."""
    children = _children()
    out, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        out.append(child)
        queue.extend(children.get(child, []))
    return out


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return str(pid)


def end_descendants(pid: int | None = None, rounds: int = 20) -> list[str]:
    """SIGKILL every process below ``pid`` (this process by default); the names of those found first.

    Repeated until none is left: one that forks while the others die is caught in the next round (its
    orphans come up to the subreaper, this process or a stopped worker). This process reaps its own.
    """
    if not sys.platform.startswith("linux"):
        return []
    own = pid is None
    pid = os.getpid() if own else pid
    if own:  # no child at all (the usual case): nothing below, and /proc need not be read
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return []
    names: list[str] = []
    for _ in range(rounds):
        below = descendants(pid)
        if not below:
            break
        if not names:
            names = [process_name(p) for p in below]
        for p in below:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
    if own and names:
        _reap()  # no zombie is left to whoever adopts this process's children next
    return names


def subreaper(on: bool) -> bool:
    """Make this process a child subreaper (or stop being one); whether it was one before."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = _libc()
        was = ctypes.c_int(0)
        libc.prctl(_PR_SET_CHILD_SUBREAPER + 1, ctypes.byref(was), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
        libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)
        return bool(was.value)
    return False


def own_children() -> dict[int, int]:
    """The pids whose parent is this process, zombies included, with their process group (from /proc)."""
    me, out = os.getpid(), {}
    if not sys.platform.startswith("linux"):
        return out
    try:  # no child at all (a command line's process): nothing to read; WNOWAIT reaps nobody's exit status
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return out
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    fields = fh.read().rpartition(b")")[2].split()
            except OSError:
                continue
            if len(fields) > 2 and int(fields[1]) == me:
                out[int(name)] = int(fields[2])
    return out


def end_strays(keep: set[int]) -> None:
    """Kill and reap this process's children outside ``keep``: orphans of a worker that died without
    cleaning up (``os._exit`` in user code, a crash), adopted here because this process is a subreaper.
    A child in this process's own group (multiprocessing's helpers) was started here: never a stray."""
    mine = os.getpgrp()
    for pid in [p for p, group in own_children().items() if p not in keep and group != mine]:
        end_descendants(pid)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(pid, 0)


def _reap(patience: float = 1.0) -> None:
    """Wait for this process's children, all killed, to end (``patience`` seconds at most)."""
    import time

    deadline = time.monotonic() + patience
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # none left
        except OSError as exc:
            if exc.errno != errno.EINTR:
                return
            continue
        if done == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)

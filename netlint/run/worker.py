"""One worker process per target: user code never runs in netlint's own process.

The parent (``run.targets.check_targets``) settles from syntax trees alone every target that needs no
user code. Only for the others does it import torch (once), then it forks one worker per target:
copy-on-write, so no worker imports torch again. A worker imports, builds, analyses and probes its
target and sends back plain data (a ``TargetResult``: findings, analysis notes, probe numbers,
errors), never the model or its graph. Whatever user code does there (``sys.exit``, ``os._exit``,
a segfault, an endless loop, threads left running, writes into the checked folders) ends only
that worker and becomes that target's error. Where ``fork`` is unavailable, workers are spawned.

This module imports neither torch nor user code: the parent stays torch-free for plain files.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import sandbox, status
from .status import Where

GRACE = 1.0  # seconds a timed-out worker gets to say where it was before it is killed
TICK = 0.25  # seconds between progress updates, when progress is shown


@dataclass
class Unit:
    """One target as the parent hands it to a worker."""

    target: str
    strict: bool = True
    roots: tuple[str, ...] = ()  # folders user code may not write into


# -- inside a worker (and in-process) ---------------------------------------------------------

# Hugging Face hub downloads are never what a lint wants, and without a network the hub retries for most
# of a minute before it fails. Offline, weights that are not cached fail at once (the loader then says
# how to check without them) and cached ones still load. Whatever the user set wins.
_HUB_OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


def _offline_hub() -> None:
    if any(name in os.environ for name in _HUB_OFFLINE):
        return
    for name in _HUB_OFFLINE:
        os.environ[name] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # imported before the fork (netlint.check in a session): it read the variables
        constants.HF_HUB_OFFLINE = True


def _stack(frame) -> list[Any]:
    frames = []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames[::-1]


def _on_timeout(signum, frame) -> None:
    """SIGUSR1 from the parent: the time is up. Say where we are, end what user code started, then end at once."""
    with contextlib.suppress(BaseException):
        where = status.where_in(_stack(frame))
        status.write_state({"phase": where.phase, "name": where.name, "line": where.line, "size": where.size,
                            "real": where.real})  # fmt: skip
    with contextlib.suppress(BaseException):
        sandbox.end_descendants()
    os._exit(124)


def _refuse_writes(roots: Sequence[str]) -> None:
    """An audit hook: user code may read the checked folders, never write into them.

    Hidden folders (``.cache``) and the temporary folder stay writable: libraries keep caches there.
    """
    import errno
    import tempfile

    protected = tuple(os.path.join(os.path.abspath(r), "") for r in roots)
    temporary = os.path.join(os.path.abspath(tempfile.gettempdir()), "")
    writing = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    events = {"os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.truncate", "os.symlink", "os.link",
              "os.chmod", "os.chown", "os.utime", "shutil.rmtree"}  # fmt: skip

    def check(path: Any) -> None:
        if isinstance(path, int) or path is None:
            return
        try:
            absolute = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return
        inside = next((r for r in protected if (absolute + os.sep).startswith(r)), None)
        if inside is None or absolute.startswith("/dev/"):
            return
        if temporary.startswith(inside) and absolute.startswith(temporary):
            return  # checking a file right in /tmp: the temporary folder stays usable
        relative = os.path.relpath(absolute, inside)
        if any(part.startswith(".") for part in relative.split(os.sep) if part not in (".", "..")):
            return
        raise PermissionError(errno.EACCES, "netlint does not let user code write into the checked folders", absolute)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            if (mode is not None and any(c in mode for c in "wax+")) or (mode is None and flags & writing):
                check(path)
        elif event in events:
            check(args[0])
            if event in ("os.rename", "os.symlink", "os.link"):
                check(args[1])

    sys.addaudithook(hook)


def _worker(unit: Unit, check: Callable[..., Any], options, rules, conn, state, threads: int) -> None:
    """The worker's whole life: isolate, check one target with ``check``, send the result, ``os._exit``."""
    status.attach(state)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # its own process group: the parent can end it with everything it started
    sandbox.become_subreaper()  # and what escapes the group (a new session) stays below it, to be ended
    _die_with_parent()
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)  # input() gets EOF instead of waiting forever
        os.dup2(2, 1)  # stdout carries the report: whatever user code writes goes to stderr
    # The parent's sys.stdout/stderr may be stand-ins (a progress bar's, a test runner's): user code
    # writes to the real descriptors instead, never through an object of the parent's.
    if sys.__stdout__ is not None and sys.__stderr__ is not None:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    import faulthandler

    from ..messages import hush_environment_warnings

    hush_environment_warnings()  # a spawned worker did not inherit the parent's filters
    if options.debug:
        faulthandler.enable()  # a crash in native code prints the Python stack that led there
    else:
        faulthandler.disable()  # a test runner's handler would print the crash: the report names it
    signal.signal(signal.SIGUSR1, _on_timeout)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from ..load.targets import display_target, split_target
    from ..results import TargetResult

    sys.argv = [split_target(unit.target)[0]]  # scripts that parse arguments get their defaults, never netlint's
    sys.dont_write_bytecode = True  # no __pycache__ in the user's tree
    _refuse_writes(unit.roots)  # Python's own file calls, with a message that says why
    if sandbox.refuse_writes(unit.roots) is None:  # every write of this process and its children, with Landlock
        from .. import errors

        errors.WRITES_REFUSED = True
    _offline_hub()
    if threads:
        with contextlib.suppress(Exception):
            import torch

            torch.set_num_threads(threads)
    try:
        result = check(unit.target, options, rules, strict=unit.strict)
    except BaseException as exc:  # a backstop: the check reports what it can itself
        result = TargetResult(errors=[status.unexpected_error(display_target(unit.target), exc, options)])
    left = [t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive()]
    if left:
        result.notes.append(
            f"{display_target(unit.target)}: user code left {len(left)} thread(s) running ({', '.join(sorted(left)[:5])}); "
            "netlint ended them with its worker process."
        )
    processes = sandbox.end_descendants()
    if processes:
        result.notes.append(
            f"{display_target(unit.target)}: user code left {len(processes)} process(es) running "
            f"({', '.join(sorted(processes)[:5])}); netlint ended them with its worker process."
        )
    for model in result.models:
        model.graph = None  # the graph stays here: the parent gets what the reporters and --fix need
    try:
        conn.send(result)
    except Exception as exc:  # e.g. something that does not pickle: still a result, not a silence
        conn.send(
            TargetResult(
                errors=[status.unexpected_error(display_target(unit.target), exc, options)], files=result.files
            )
        )
    conn.close()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(0)  # leftover threads, atexit handlers and finalizers of user code never run


def _die_with_parent() -> None:
    """On Linux, the kernel kills the worker when the parent dies (a killed netlint leaves nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# -- in the parent ----------------------------------------------------------------------------


@dataclass
class _Running:
    index: int
    unit: Unit
    process: Any
    conn: Any
    state: Any
    deadline: float | None
    signalled: bool = False
    started: bool = False  # whether the start-up allowance was used


@dataclass
class RunResult:
    results: list[Any] = field(default_factory=list)  # a TargetResult per unit, None if interrupted
    interrupted: bool = False


def start_method() -> str:
    """``fork`` where it is safe (Linux), else ``spawn``."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return "spawn"  # a forked child cannot use CUDA once the parent has
    return "fork" if "fork" in methods and sys.platform.startswith("linux") else "spawn"


def prepare_parent() -> None:
    """Import once, in the parent, what every worker needs, so forked workers share it.

    Also traces a tiny model on meta tensors: torch imports much of itself lazily on the first
    operation (``torch._dynamo``) and torch.fx fills caches; done here, no worker pays for it again.
    Meta tensors compute nothing, so no thread pool starts (a forked child could not use one).
    """
    import torch

    from ..graph.static import static_graph
    from ..state import preserved_rng

    # Trace a tiny model: warms torch.fx and the graph builder too. Built on meta and with the
    # generators restored: the caller's random state (an API caller's, a test's) must not move.
    with contextlib.suppress(Exception), preserved_rng(), torch.device("meta"):
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1), torch.nn.BatchNorm2d(1))
        static_graph(model, torch.empty(1, 1, 2, 2, device="meta"))


def run_units(
    units: Sequence[Unit], check: Callable[..., Any], options, rules, *, jobs: int, timeout: float | None,
    threads: int, error: Callable[..., Any], progress: Callable[[int, int], None] | None = None,
) -> RunResult:  # fmt: skip
    """Run each unit in its own worker, ``jobs`` at a time; results in unit order.

    ``check(target, options, rules, strict=...)`` is what a worker runs (a module-level function, so
    that a spawned worker can import it).

    ``error(unit, what, where, why="", hint="")`` makes the result of a worker that timed out or died;
    ``progress(done, total)`` is called a few times a second while workers run.
    """
    import multiprocessing
    from multiprocessing.connection import wait

    method = start_method()
    ctx = multiprocessing.get_context(method)
    out = RunResult(results=[None] * len(units))
    # Orphans of a worker that dies without ending them come up here, and are ended (sandbox.end_strays).
    was_subreaper = sandbox.subreaper(True)
    keep = set(sandbox.own_children())  # the caller's own children (an API caller's) are never touched
    pending = deque(range(len(units)))
    running: dict[int, _Running] = {}

    def start(index: int) -> None:
        unit = units[index]
        receive, send = ctx.Pipe(duplex=False)
        state = ctx.RawArray("c", status.STATE_SIZE)
        process = ctx.Process(
            target=_worker, args=(unit, check, options, rules, send, state, threads), name=f"netlint-worker-{index}",
            daemon=True,
        )  # fmt: skip
        gc.freeze()  # the workers' garbage collector leaves the parent's objects alone: fewer copied pages
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (Python 3.12+): see above
                process.start()
        finally:
            gc.unfreeze()
        send.close()  # the worker holds the only write end: its death is EOF
        deadline = time.monotonic() + timeout if timeout else None
        running[index] = _Running(index, unit, process, receive, state, deadline)

    def finish(run: _Running, result: Any, ended_badly: bool = False) -> None:
        out.results[run.index] = result
        del running[run.index]
        run.process.join(0.5)
        _kill(run.process)  # also whatever processes user code started and left behind
        run.conn.close()
        sandbox.remove_private_tmp(run.process.pid)
        if ended_badly:  # it could not end its descendants itself
            sandbox.end_strays(keep | {r.process.pid for r in running.values()})

    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                start(pending.popleft())
            now = time.monotonic()
            deadlines = [r.deadline for r in running.values() if r.deadline is not None]
            wait_for = max(0.0, min(deadlines) - now) if deadlines else None
            if progress is not None:
                progress(len(units) - len(pending) - len(running), len(units))
                wait_for = TICK if wait_for is None else min(wait_for, TICK)
            ready = set(wait([*(r.conn for r in running.values()), *(r.process.sentinel for r in running.values())],
                             wait_for))  # fmt: skip
            now = time.monotonic()
            for run in list(running.values()):
                if run.conn in ready or (run.process.sentinel in ready and run.conn.poll()):
                    try:
                        finish(run, run.conn.recv())
                        continue
                    except (EOFError, OSError):
                        pass
                    except Exception as exc:  # a result that does not unpickle
                        finish(run, error(run.unit, "its result could not be read", _read_state(run), str(exc)), True)
                        continue
                if run.process.sentinel in ready or run.conn in ready:  # ended without a result
                    run.process.join(0.5)
                    if run.signalled:
                        finish(run, error(run.unit, f"did not finish within {timeout:g} s", _read_state(run)), True)
                    else:
                        where = _read_state(run)
                        what, why, hint = _death(run.process.exitcode, where)
                        finish(run, error(run.unit, what, where, why, hint), True)
                elif run.deadline is not None and now >= run.deadline:
                    if not run.started and not run.state.value:  # a spawned worker still importing torch
                        run.started, run.deadline = True, now + (timeout or 0)
                    elif not run.signalled:  # ask where it is; it answers and exits
                        run.signalled = True
                        run.deadline = now + GRACE
                        with contextlib.suppress(OSError):
                            os.kill(run.process.pid, signal.SIGUSR1)
                    else:  # stuck outside Python: no answer
                        _kill(run.process)
                        finish(run, error(run.unit, f"did not finish within {timeout:g} s", _read_state(run)), True)
        if progress is not None:
            progress(len(units), len(units))
    except KeyboardInterrupt:
        out.interrupted = True
        for run in list(running.values()):
            _kill(run.process)
        for run in list(running.values()):
            run.process.join(1.0)
            run.conn.close()
            sandbox.remove_private_tmp(run.process.pid)
        running.clear()
        sandbox.end_strays(keep)
    finally:
        sandbox.subreaper(was_subreaper)
    return out


def _kill(process) -> None:
    """SIGKILL the worker's process group (what it started goes too), or the worker alone.

    A worker still alive is stopped first and everything below it ended (processes in a session of their
    own are not in its group): as a subreaper it holds their orphans until it dies.
    """
    if process.exitcode is None and process.pid:
        with contextlib.suppress(OSError):
            os.kill(process.pid, signal.SIGSTOP)
            sandbox.end_descendants(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:
        if process.exitcode is None:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.SIGKILL)
    process.join(5.0)


def _read_state(run: _Running) -> Where:
    try:
        data = json.loads(run.state.value.decode("utf-8", "replace") or "{}")
    except ValueError:
        data = {}
    return Where(data.get("phase", "checking"), data.get("name", ""), data.get("line", ""), data.get("size", ""),
                 bool(data.get("real")))  # fmt: skip


def _death(exitcode: int | None, where: Where | None = None) -> tuple[str, str, str]:
    """How a worker that sent nothing ended: what happened, the likely cause, what to do."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL" and where is not None and where.size:
            why, hint = _out_of_memory(where)
        elif name == "SIGKILL":
            why = "killed from outside, most often by the out-of-memory killer"
            hint = "Check with a smaller input (--input-shape, --batch-size) or run it alone (--jobs 1)."
        else:
            why = (
                "a crash in native code (a C extension, ctypes, a bad pointer)" if name in ("SIGSEGV", "SIGBUS") else ""
            )
            hint = "--debug prints the Python stack where it crashed; other targets are not affected."
        return f"its worker process was killed by {name}", why, hint
    return (
        f"its worker process exited with status {exitcode} before sending a result",
        "user code ended the process (os._exit)",
        "Guard the exit with if __name__ == '__main__': or remove it; other targets are not affected.",
    )


def _out_of_memory(where: Where) -> tuple[str, str]:
    """The likely cause of a SIGKILL when the worker had said how big its model is, and what to do."""
    why = "killed from outside, most often by the out-of-memory killer: " + (
        f"the real weights it had built came to {where.size}" if where.real else f"the model has {where.size}"
    )
    file = where.name.split(":")[0] if where.name else "FILE"
    if where.real and where.phase in ("importing", "building"):
        hint = (
            "Its file's import needs tensor values, so netlint imported it with real weights (otherwise it builds "
            "models on the meta device, allocating nothing): move the code that needs values under if __name__ == "
            f"'__main__': or into a function, or check a class or factory ({file}:Name)."
        )
    elif where.phase == "probing":
        hint = (
            "The probe runs the model with real weights: --no-probe checks it statically, and with a --probe-budget "
            "above 0 the probe of a model too big for memory is skipped with a note."
        )
    elif where.phase == "tracing":
        hint = (
            "Its forward needs tensor values, so netlint ran it on a real copy of the model: check a smaller "
            "configuration of the same architecture (the findings come from its structure, not its width), or "
            "make the forward's control flow independent of the values."
        )
    else:
        hint = "Check a smaller configuration of the same architecture, or run it alone (--jobs 1)."
    return why, hint

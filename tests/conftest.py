from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"
RULE_EXAMPLES = ROOT / "rules" / "examples"


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch):
    """Paths in reports are relative to the working directory: keep it fixed. A COLUMNS exported by the
    shell that runs the suite would wrap reports written to a pipe: tests that want a width set it."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("COLUMNS", raising=False)


def run_netlint(
    *args: str, cwd: Path | str = ROOT, env: dict | None = None, fresh: bool = False, obey_permissions: bool = False
) -> subprocess.CompletedProcess:
    """Run the command line in a process of its own, as a user or CI would.

    By default that process is forked from this one: the same CLI code with its own file
    descriptors, working directory, environment, warning filters and exit status, without paying
    for a new interpreter and ``import torch`` per call (most of a small check's time). ``fresh=True``
    starts a new interpreter, for what only a cold start shows (imports, the console script).
    ``obey_permissions=True``: run as root, the forked process drops the capabilities that let root
    ignore permission bits (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a ``chmod 000`` path is really
    unreadable for it, as for any other user.
    """
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    if fresh or not hasattr(os, "fork"):
        return subprocess.run(
            [sys.executable, "-m", "netlint", *args], cwd=cwd, capture_output=True, text=True, env=full_env,
            timeout=300,
        )  # fmt: skip
    return _forked_cli(list(args), str(cwd), full_env, timeout=300, obey_permissions=obey_permissions)


def _forked_cli(
    args: list[str], cwd: str, env: dict, timeout: float, obey_permissions: bool = False
) -> subprocess.CompletedProcess:
    import tempfile
    import time

    command = [sys.executable, "-m", "netlint", *args]
    with tempfile.TemporaryDirectory(prefix="netlint-cli-") as tmp:
        out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            _cli_child(args, cwd, env, out_path, err_path, obey_permissions)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired(command, timeout)
            time.sleep(0.01)
        code = os.waitstatus_to_exitcode(status)
        with open(out_path, encoding="utf-8", errors="replace") as out, open(err_path, encoding="utf-8",
                                                                             errors="replace") as err:  # fmt: skip
            return subprocess.CompletedProcess(command, code, out.read(), err.read())


def drop_permission_override() -> None:
    """This process (and those it forks) stops ignoring permission bits, even as root: CAP_DAC_OVERRIDE
    and CAP_DAC_READ_SEARCH leave its effective and permitted capabilities (Linux capset(2))."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return  # permission bits already apply
    import ctypes

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    libc = ctypes.CDLL(None, use_errno=True)
    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    for bit in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        data[0].effective &= ~(1 << bit)
        data[0].permitted &= ~(1 << bit)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _cli_child(args: list[str], cwd: str, env: dict, out_path: str, err_path: str, obey_permissions: bool) -> None:
    import io
    import traceback
    import warnings

    code = 70
    try:
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, out_path, os.O_WRONLY | os.O_CREAT),
                                (2, err_path, os.O_WRONLY | os.O_CREAT)):  # fmt: skip
            opened = os.open(path, flags, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", line_buffering=True
        )
        if obey_permissions:
            drop_permission_override()
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.argv = ["netlint", *args]
        # What a fresh interpreter has: no logging handlers (pytest's would swallow what a user sees
        # on stderr), no fault handler pointed at pytest's output, no file caches of this process.
        import faulthandler
        import logging

        from netlint.config.suppress import _suppressions_in
        from netlint.source import _parse_stamped

        logging.root.handlers.clear()
        logging.root.setLevel(logging.WARNING)
        logging.disable(logging.NOTSET)
        faulthandler.disable()
        _parse_stamped.cache_clear()
        _suppressions_in.cache_clear()
        if "torch" in sys.modules:  # its thread pool does not survive a fork: compute with one thread
            sys.modules["torch"].set_num_threads(1)
        # A fresh interpreter's warnings: its default filters, PYTHONWARNINGS, printed to stderr
        # (pytest's recording of warnings must not hide what a user would see).
        warnings.resetwarnings()
        for action, category in (("ignore", ResourceWarning), ("ignore", ImportWarning),
                                 ("ignore", PendingDeprecationWarning), ("ignore", DeprecationWarning)):  # fmt: skip
            warnings.simplefilter(action, category)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        for option in filter(None, env.get("PYTHONWARNINGS", "").split(",")):
            warnings._setoption(option)
        warnings.showwarning = warnings._showwarning_orig
        warnings._showwarnmsg_impl = lambda msg: sys.stderr.write(warnings._formatwarnmsg(msg))

        from netlint.cli import exit_status, main

        try:
            main()  # the console script's own entry: with torch imported it ends this process itself
            code = 0
        except SystemExit as exc:
            code = exit_status(exc)
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


@pytest.fixture(scope="session")
def examples_json_pair() -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """Two identical probed JSON runs over examples/ and a model with random blocks.

    Shared by the byte-identity test (formats) and the determinism test (state): one pair of the
    most expensive CLI runs serves both (with pytest-xdist, once per worker that needs it).
    """
    # No time budget: it may cut the batch on a loaded machine. A small batch: identity, not precision, is tested.
    probe = ("--probe", "--probe-budget", "0", "--batch-size", "4")
    args = ("check", str(EXAMPLES), str(FIXTURES / "active_blocks.py"), *probe, "--format", "json")
    return run_netlint(*args), run_netlint(*args)


# The smallest model with a finding (NL002: a biased conv before its BatchNorm), without its imports.
CONV_BN_NET = """class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path

"""What user code may not do to the machine (netlint/run/sandbox.py): write into the checked folders by any
means where Landlock exists, or leave processes running after netlint, in a new session or not."""

from __future__ import annotations

import json
import os
import signal

import pytest

from netlint.run.sandbox import landlock_abi

from .conftest import CONV_BN_NET, run_netlint, write

NET = "\n\n" + CONV_BN_NET


def model(path, top="", forward=""):
    """A model file with ``top`` run at import and ``forward`` run before the forward's own line."""
    body = NET if not forward else NET.replace("        return self.bn", f"        {forward}\n        return self.bn")
    return write(path, "import torch\nimport torch.nn as nn\n" + top + body)


@pytest.mark.skipif(
    landlock_abi() < 2, reason="the kernel has no Landlock (ABI 2): only Python's own calls are refused"
)
def test_writes_into_the_checked_folder_are_refused_by_the_kernel_whatever_makes_them(tmp_path):
    proj, outside = tmp_path / "proj", tmp_path / "outside"
    outside.mkdir()
    write(proj / "precious.txt", "keep\n")
    (proj / ".cache").mkdir()
    model(proj / "save_at_import.py", 'torch.save({"w": torch.zeros(1)}, "saved.pt")\n')
    model(proj / "save_in_forward.py", forward='torch.save(x.shape, "shape.pt")')
    model(proj / "shell.py", "import subprocess\n"
          'subprocess.run(["rm", "-f", "precious.txt"])\n'
          'subprocess.run(["touch", "made.txt"])\n'
          f'subprocess.run(["touch", "{outside}/allowed.txt"])\n')  # fmt: skip
    model(proj / "caches.py", "import tempfile\n"
          "tempfile.NamedTemporaryFile(delete=False).write(b'x')\n"  # the temporary folder: writable
          'torch.save({"w": torch.zeros(1)}, ".cache/allowed.pt")\n')  # a hidden folder: writable  # fmt: skip
    before = sorted(p.name for p in proj.iterdir())
    result = run_netlint("check", str(proj), "--format", "json", "--no-probe", "--jobs", "2", cwd=proj)
    data = json.loads(result.stdout)
    errors = {e["target"].rsplit("/", 1)[-1]: e["message"] for e in data["errors"]}
    assert set(errors) == {"save_at_import.py", "save_in_forward.py:Net"}, errors
    assert all("netlint does not let user code write into the checked folders" in m for m in errors.values())
    assert sorted(p.name for p in proj.iterdir()) == before and (proj / "precious.txt").read_text() == "keep\n"
    assert (outside / "allowed.txt").exists() and (proj / ".cache" / "allowed.pt").exists()
    checked = {m["name"].rsplit("/", 1)[-1] for m in data["models"]}
    assert checked == {"shell.py:Net", "caches.py:Net"}
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith("netlint-worker-")]  # private tmp removed


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
def test_no_process_user_code_starts_outlives_netlint_however_its_worker_ends(tmp_path):
    """In a new session (not in the worker's process group), from a worker that ends normally, exits with
    os._exit, times out in Python, or hangs where it cannot answer (SIGUSR1 blocked)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    start = ("import subprocess\n"
             "p = subprocess.Popen(['sleep', '120'], start_new_session=True)\n"
             f"open('{pids}/' + __name__ + '.pid', 'w').write(str(p.pid))\n")  # fmt: skip
    proj = tmp_path / "proj"
    model(proj / "normal.py", start)
    model(proj / "exits.py", start + "import os\nos._exit(0)\n")
    model(proj / "loops.py", start + "while True:\n    pass\n")
    model(proj / "deaf.py", start + "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})\n"
          "while True:\n    pass\n")  # fmt: skip
    try:
        result = run_netlint("check", str(proj), "--format", "json", "--no-probe", "--timeout", "4", "--jobs", "4")
        data = json.loads(result.stdout)
        started = {p.stem: int(p.read_text()) for p in pids.iterdir()}
        assert set(started) == {"normal", "exits", "loops", "deaf"}
        assert [name for name, pid in started.items() if alive(pid)] == []
        assert any("user code left 1 process(es) running (sleep)" in n for n in data["notes"])
        assert {e["target"].rsplit("/", 1)[-1] for e in data["errors"]} == {"exits.py", "loops.py", "deaf.py"}
    finally:
        for p in pids.iterdir():
            if alive(int(p.read_text())):
                os.kill(int(p.read_text()), signal.SIGKILL)

"""Long work (a probe's passes, many files) shows progress on a terminal only: a rich bar, or plain lines under NO_COLOR."""

from __future__ import annotations

import io
import sys

import torch
import torch.nn as nn

import netlint.progress as progress_module
from netlint.probing.shift import measure
from netlint.progress import Progress, progress_mode

from .conftest import EXAMPLES, run_netlint


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_for_the_rich_report_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Tty())
    assert progress_mode("rich", None, {}) == "bar"
    assert progress_mode("rich", None, {"NO_COLOR": "1"}) == "plain"
    for fmt in ("json", "sarif", "text", "github"):
        assert progress_mode(fmt, None, {}) is None
    assert progress_mode("rich", "report.txt", {}) is None
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    assert progress_mode("rich", None, {}) is None


def test_plain_lines_after_the_delay_and_nothing_before(monkeypatch):
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 4), nn.BatchNorm1d(4))
    x = torch.randn(32, 4)
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress_module, "DELAY", 1e9)  # a probe quicker than the delay: nothing shown
    measure(model, [x], progress=Progress("probing Net", "passes", "plain"))
    assert err.getvalue() == ""
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    measure(model, [x], progress=Progress("probing Net", "passes", "plain"))
    assert err.getvalue().splitlines() == [f"netlint: probing Net: {i}/4 passes" for i in range(1, 5)]
    bar = Progress("probing Net", "passes", "bar")
    measure(model, [x], progress=bar)
    bar.close()
    assert bar.bar is None


def test_no_progress_in_a_pipe():
    result = run_netlint("check", str(EXAMPLES / "vgg_dropout_blocks.py"), "--probe-budget", "0")
    assert "probing" not in result.stderr and "passes" not in result.stderr
    many = run_netlint("check", str(EXAMPLES), "--no-probe")
    assert "checking" not in many.stderr and many.returncode == 1


def _three_model_files(folder):
    net = "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
          "        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Dropout(0.5), nn.BatchNorm2d(4))\n\n" \
          "    def forward(self, x):\n        return self.body(x)\n"  # fmt: skip
    for name in ("a.py", "b.py", "c.py"):
        (folder / name).write_text(net)
    return folder


def test_many_files_count_up_in_plain_lines_and_workers_show_no_probe_of_their_own(monkeypatch, tmp_path, capfd):
    from netlint.options import Options
    from netlint.run.targets import check_targets

    folder = _three_model_files(tmp_path)
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    report = check_targets([str(folder)], Options(progress="plain", probe=True, batch_size=4, jobs=1))
    assert len(report.models) == 3 and not report.errors
    lines = err.getvalue().splitlines()
    assert lines and all(line.startswith("netlint: checking: ") and line.endswith("/3 files") for line in lines)
    assert lines[-1] == "netlint: checking: 3/3 files" and len(lines) == len(set(lines))  # one line per change
    assert "\x1b" not in err.getvalue()
    assert "probing" not in capfd.readouterr().err  # the workers (forked, DELAY 0 too) drew no bar of their own


def test_many_files_show_one_bar_that_goes_away(monkeypatch, tmp_path):
    from netlint.options import Options
    from netlint.run.targets import check_targets

    folder = _three_model_files(tmp_path)
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    report = check_targets([str(folder)], Options(progress="bar", probe=False, jobs=1))
    assert len(report.models) == 3
    assert "checking" in err.getvalue() and "files" in err.getvalue()


def test_one_file_and_quick_runs_show_no_run_progress(monkeypatch, tmp_path):
    from netlint.options import Options
    from netlint.run.targets import check_targets

    folder = _three_model_files(tmp_path)
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    check_targets([str(folder / "a.py")], Options(progress="plain", probe=False))  # one target: no run count
    assert "checking" not in err.getvalue()
    monkeypatch.setattr(progress_module, "DELAY", 1e9)  # quicker than the delay: nothing at all
    check_targets([str(folder)], Options(progress="plain", probe=False))
    assert err.getvalue() == ""

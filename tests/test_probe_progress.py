"""A long probe shows its passes on a terminal only: a rich bar, or plain lines under NO_COLOR."""

from __future__ import annotations

import io
import sys

import torch
import torch.nn as nn

import netlint.probe_progress as progress_module
from netlint.probe_progress import PassProgress, progress_mode
from netlint.probe_shift import measure

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
    measure(model, [x], progress=PassProgress("Net", "plain"))
    assert err.getvalue() == ""
    monkeypatch.setattr(progress_module, "DELAY", 0.0)
    measure(model, [x], progress=PassProgress("Net", "plain"))
    assert err.getvalue().splitlines() == [f"netlint: probing Net: pass {i}/4" for i in range(1, 5)]
    bar = PassProgress("Net", "bar")
    measure(model, [x], progress=bar)
    bar.close()
    assert bar.bar is None


def test_no_progress_in_a_pipe():
    result = run_netlint("check", str(EXAMPLES / "vgg_dropout_blocks.py"), "--probe-budget", "0")
    assert "probing" not in result.stderr and "passes" not in result.stderr

"""The Python API as a user's own test suite uses it."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import netlint
from netlint.testing import assert_clean

from .conftest import ROOT, write


class Clean(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, 2))

    def forward(self, x):
        return self.head(torch.relu(self.bn(self.conv(x))))


class Biased(Clean):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)


def test_assert_clean_passes_a_clean_model():
    assert_clean(Clean(), torch.randn(2, 3, 16, 16))


def test_assert_clean_fails_with_the_rendered_findings():
    with pytest.raises(AssertionError) as failure:
        assert_clean(Biased(), torch.randn(2, 3, 16, 16))
    message = str(failure.value)
    assert "netlint found problems in Biased" in message
    assert "NL002 [warning] Conv2d at conv adds a bias" in message and "test_api.py:" in message
    assert_clean(Biased(), torch.randn(2, 3, 16, 16), ignore=["NL002"])
    assert_clean(Biased(), torch.randn(2, 3, 16, 16), fail_on="error")


def test_check_returns_a_report():
    report = netlint.check(Biased(), torch.randn(4, 3, 16, 16), probe=True)
    assert not report.ok and report.exit_code() == 1
    assert [f.code for f in report.findings] == ["NL002"]
    assert report.probe is not None and report.probe.batch_size == 4
    assert netlint.check(Clean()).ok


def test_public_api_has_type_hints():
    for fn in (netlint.check, netlint.probe, assert_clean):
        hints = inspect.signature(fn)
        assert all(p.annotation is not inspect.Parameter.empty for p in hints.parameters.values()), fn
        assert hints.return_annotation is not inspect.Signature.empty, fn


def test_a_users_pytest_file_using_netlint(tmp_path):
    """A real pytest run over a user's test file that calls netlint as documented."""
    write(
        tmp_path / "test_user.py",
        """
import torch, torch.nn as nn
from netlint.testing import assert_clean

def test_good():
    assert_clean(nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)), torch.randn(2, 3, 8, 8))

def test_bad():
    assert_clean(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), torch.randn(2, 3, 8, 8))
""",
    )
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                            capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert "1 failed, 1 passed" in result.stdout
    assert "NL002 [warning]" in result.stdout and "(Sequential: 0)" in result.stdout


def test_import_netlint_does_not_import_torch():
    code = "import sys, netlint; assert 'torch' not in sys.modules; print(netlint.__version__)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_a_selection_that_leaves_no_rule_is_an_error_not_clean():
    import torch.nn as nn

    for kwargs in ({"select": []}, {"select": ["NL002"], "ignore": ["NL002"]}):
        report = netlint.check(nn.Sequential(nn.Linear(4, 4)), **kwargs)
        assert not report.ok and report.exit_code() == 2
        assert "leaves no rule" in report.errors[0].text

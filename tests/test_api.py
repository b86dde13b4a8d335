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


BLOCKS = """
import torch.nn as nn


def conv_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Dropout(0.2),  # netlint: ignore[NL001, NL003]
    )


def stage(cin, cout, depth):
    layers = []
    for _ in range(depth):
        layers.append(nn.Conv2d(cin, cout, 3, padding=1))
        layers += [nn.BatchNorm2d(cout), nn.ReLU()]
        cin = cout
    return nn.Sequential(*layers)


def conv_bn(c):
    return nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c))


class Helper(nn.Module):  # layers made by a helper function, one line suppressed there
    def __init__(self):
        super().__init__()
        self.block1 = conv_block(3, 16)
        self.block2 = conv_block(16, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.block2(self.block1(x)).mean((2, 3)))


class Looped(nn.Module):  # a list filled in a loop, then nn.Sequential(*layers)
    def __init__(self, width=8):
        super().__init__()
        self.body = stage(3, width, 2)
        self.blocks = nn.ModuleList([conv_bn(width) for _ in range(2)])

    def forward(self, x):
        x = self.body(x)
        for block in self.blocks:
            x = block(x)
        return x


class Inline(nn.Module):  # one nn.Sequential written out in __init__
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm2d(8),
            nn.Dropout(0.5),
            nn.Conv2d(8, 8, 3),
        )

    def forward(self, x):
        return self.features(x)
"""


def test_a_model_object_gets_the_command_lines_locations_and_suppressions(tmp_path, monkeypatch):
    """Same model, same source: ``netlint.check(model)`` points at each layer's own line (inside the helper
    or the loop that made it, not the ``self.block1 = conv_block(...)`` line) and honours the same
    ``# netlint: ignore[...]`` comments as the command line, so ``assert_clean`` agrees with it."""
    import importlib.util
    import json

    from .conftest import run_netlint

    path = write(tmp_path / "blocks_api_xyz.py", BLOCKS)
    targets = [f"{path}:Helper", f"{path}:Looped(width=16)", f"{path}:Inline"]
    result = run_netlint("check", *targets, "--format", "json", "--no-probe")
    cli = {m["name"].rsplit(":", 1)[-1].split("(")[0]: sorted((f["code"], f["module"], f["line"]) for f in m["findings"])
           for m in json.loads(result.stdout)["models"]}  # fmt: skip
    spec = importlib.util.spec_from_file_location("blocks_api_xyz", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "blocks_api_xyz", module)  # imported, as a user's test imports its model
    spec.loader.exec_module(module)
    api = {}
    for name, model in (("Helper", module.Helper()), ("Looped", module.Looped(width=16)), ("Inline", module.Inline())):
        report = netlint.check(model)
        assert not report.errors and {f.file for f in report.findings} == {str(path)}, report.findings
        api[name] = sorted((f.code, f.module, f.line) for f in report.findings)
    assert api == cli
    lines = BLOCKS.splitlines()
    # Each finding sits on its layer's own line, written out once however many layers it built.
    assert {lines[line - 1].strip() for _, _, line in api["Helper"]} == {"nn.Conv2d(cin, cout, 3, padding=1),"}
    assert {lines[line - 1].strip() for _, _, line in api["Looped"]} == {
        "layers.append(nn.Conv2d(cin, cout, 3, padding=1))", "return nn.Sequential(nn.Conv2d(c, c, 1), nn.BatchNorm2d(c))"
    }  # fmt: skip
    assert {c for c, _, _ in api["Helper"]} == {"NL002"}  # the dropout's NL001 and NL003 are suppressed
    assert netlint.check(module.Helper()).suppressed == 2  # block1's dropout: NL001 and NL003
    assert_clean(module.Helper(), ignore=["NL002"])

"""Targets, discovery, and how files are (not) imported."""

from __future__ import annotations

import sys

import pytest

from netlint.engine import Options, check_targets
from netlint.scan import scan_source

from .conftest import write

MODEL = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, bias=False)
        self.bn = nn.BatchNorm2d(width)

    def forward(self, x):
        return self.bn(self.conv(x))
"""


def names(report):
    return [m.name.rsplit(":", 1)[1] for m in report.models]


def test_plain_python_file_is_never_imported(tmp_path):
    marker = tmp_path / "imported"
    f = write(tmp_path / "util.py", f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n")
    report = check_targets([str(f)])
    assert not report.errors and not report.models and report.files == 1
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "classes", "instances"),
    [
        ("import torch.nn as nn\nclass A(nn.Module): pass\n", ["A"], []),
        ("from torch import nn\nclass A(nn.Module): pass\nclass B(A): pass\n", ["A", "B"], []),
        ("from torch.nn import Module\nclass A(Module): pass\n", ["A"], []),
        ("import torch\nfrom .base import Base\nclass A(Base): pass\n", ["A"], []),  # a local base, torch around
        ("from .base import Base\nclass A(Base): pass\n", [], []),  # no torch at all: not a model file
        ("import dataclasses\nclass A: pass\nclass B(Exception): pass\n", [], []),
        ("import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(2, 2))\nx = nn.functional.relu\n", [], ["model"]),
        ("import torchvision\nnet = torchvision.models.resnet18()\n", [], ["net"]),
        ("from torchvision import transforms\nt = transforms.Compose([])\n", [], []),
        ("import torch\nx = torch.randn(3)\n", [], []),
    ],
)
def test_scan_decides_from_the_syntax_tree(source, classes, instances):
    scan = scan_source(source, "f.py")
    assert (scan.classes, scan.instances) == (classes, instances)


def test_building_blocks_and_instances(tmp_path):
    f = write(
        tmp_path / "models.py",
        MODEL
        + """
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3)
    def forward(self, x):
        return self.conv(x)

class Head(nn.Module):          # buildable, but only a part of Big
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)
    def forward(self, x):
        return self.fc(x)

class Big(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block(3)
        self.head = Head()
    def forward(self, x):
        return self.head(self.block(x).mean((2, 3))[:, :8].repeat(1, 3)[:, :8])

class Abstract(nn.Module):      # no forward of its own: not a model
    pass

small = Net(width=4)            # a module-level instance replaces its class
""",
    )
    report = check_targets([str(f)])
    assert not report.errors, [e.text for e in report.errors]
    assert names(report) == ["small", "Big"]


def test_named_targets(tmp_path):
    f = write(
        tmp_path / "models.py",
        MODEL
        + """
def make():
    return Net(width=16)

instance = Net(width=2)

class NeedsArgs(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c, c)
    def forward(self, x):
        return self.fc(x)
""",
    )
    report = check_targets([f"{f}:make", f"{f}:instance", f"{f}:Net", f"{f}:NeedsArgs(c=4)", f"{f}:NeedsArgs",
                            f"{f}:missing", f"{f}:make(1)"])  # fmt: skip
    assert names(report) == ["make", "instance", "Net", "NeedsArgs(c=4)"]
    messages = [e.text for e in report.errors]
    assert "needs constructor arguments (c)" in messages[0]
    assert "has no attribute 'missing'" in messages[1]
    assert "only keyword arguments" in messages[2]


def test_package_target():
    report = check_targets(["torchvision.models:resnet18", "no_such_package_xyz:model"])
    assert names(report) == ["resnet18"]
    assert "cannot import no_such_package_xyz" in report.errors[0].text


def test_directory_walk_and_bad_files_do_not_hide_others(tmp_path):
    write(tmp_path / "a" / "good.py", MODEL)
    write(tmp_path / "a" / "broken.py", "import torch.nn as nn\nclass X(nn.Module:\n")
    write(tmp_path / "b" / "plain.py", "print('hello')\n")
    write(tmp_path / ".hidden" / "skip.py", MODEL)
    write(tmp_path / "venv" / "pyvenv.cfg", "")
    write(tmp_path / "venv" / "lib.py", MODEL)
    report = check_targets([str(tmp_path)])
    assert names(report) == ["Net"]
    assert len(report.errors) == 1 and "syntax error at line 2" in report.errors[0].text
    assert report.files == 3


def test_relative_and_sibling_imports(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "layers.py", "import torch.nn as nn\nACT = nn.ReLU\n")
    write(
        tmp_path / "pkg" / "net.py",
        MODEL.replace("import torch.nn as nn", "import torch.nn as nn\nfrom .layers import ACT"),
    )
    write(tmp_path / "scripts" / "helpers.py", "WIDTH = 4\n")
    write(tmp_path / "scripts" / "train.py", "from helpers import WIDTH\n" + MODEL.replace("width=8", "width=WIDTH"))
    report = check_targets([str(tmp_path / "pkg" / "net.py"), str(tmp_path / "scripts" / "train.py")])
    assert not report.errors, [e.text for e in report.errors]
    assert len(report.models) == 2
    # The relative import worked, so net.py was imported as pkg.net (in its worker, not here).
    assert "pkg.net" not in sys.modules


def test_files_are_not_imported_as_main(tmp_path):
    f = write(
        tmp_path / "script.py", MODEL + "\nNAME = __name__\nif __name__ == '__main__':\n    raise SystemExit(4)\n"
    )
    report = check_targets([str(f)])
    assert not report.errors and names(report) == ["Net"]
    # Imported as a module, never as __main__ (the guarded exit did not run), and in a worker:
    # this process never sees it.
    assert report.models and "script" not in sys.modules


def test_same_file_name_in_two_folders(tmp_path):
    write(tmp_path / "one" / "model.py", MODEL)
    write(tmp_path / "two" / "model.py", MODEL.replace("class Net", "class Other"))
    report = check_targets([str(tmp_path / "one" / "model.py"), str(tmp_path / "two" / "model.py")])
    assert not report.errors and names(report) == ["Net", "Other"]


def test_import_errors_and_exits_are_bad_input(tmp_path):
    a = write(tmp_path / "a.py", "import torch.nn as nn\nimport not_installed_xyz\nclass A(nn.Module): pass\n")
    b = write(tmp_path / "b.py", "import torch.nn as nn\nimport sys\nsys.exit(3)\nclass B(nn.Module): pass\n")
    report = check_targets([str(a), str(b)])
    assert len(report.errors) == 2 and not report.models
    assert "No module named 'not_installed_xyz'" in report.errors[0].text and "a.py:2" in report.errors[0].text
    assert "SystemExit" in report.errors[1].text


def test_only_building_blocks(tmp_path):
    f = write(tmp_path / "layers.py", "import torch.nn as nn\nclass ConvBN(nn.Module):\n"
              "    def __init__(self, cin, cout):\n        super().__init__()\n"
              "    def forward(self, x):\n        return x\n")  # fmt: skip
    strict = check_targets([str(f)])
    assert "none can be built without arguments: ConvBN(cin, cout)" in strict.errors[0].text
    lenient = check_targets([str(f)], Options(strict=False))
    assert not lenient.errors and "ConvBN(cin, cout)" in lenient.notes[0]
    in_directory = check_targets([str(tmp_path)])
    assert not in_directory.errors and in_directory.notes


def test_constructor_failure_is_reported_and_other_models_are_checked(tmp_path):
    f = write(
        tmp_path / "m.py",
        MODEL
        + """
class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        raise ValueError("no config file")
    def forward(self, x):
        return x
""",
    )
    report = check_targets([str(f)])
    assert names(report) == ["Net"]
    assert "building the model failed: ValueError: no config file" in report.errors[0].text

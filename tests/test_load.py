"""Targets, discovery, and how files are (not) imported."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from netlint.load.models import resolve
from netlint.options import Options
from netlint.run.targets import check_targets

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
    assert [e.message.split(":")[0] for e in report.errors] == [f"no model in {f}"]
    assert "define a module-level instance" in report.errors[0].text.lower() and f"{f}:factory" in report.errors[0].text
    lenient = check_targets([str(f)], Options(strict=False))
    assert not lenient.errors and not lenient.models and not lenient.notes and lenient.files == 1
    assert not marker.exists()


def test_training_script_without_a_model_is_never_run(tmp_path):
    marker = tmp_path / "trained"
    f = write(
        tmp_path / "train.py",
        "import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n"
        "loader = DataLoader(TensorDataset(torch.zeros(4, 3)), batch_size=2)\n"
        "criterion = torch.nn.CrossEntropyLoss()\noptimizer = torch.optim.SGD([torch.zeros(1)], lr=0.1)\n"
        f"for batch in loader:\n    open({str(marker)!r}, 'w').close()\n",
    )
    report = check_targets([str(f)])
    assert len(report.errors) == 1 and "no model in" in report.errors[0].text
    assert not marker.exists()


def test_directories_without_models(tmp_path):
    empty = tmp_path / "empty"
    write(empty / "README.md", "no python here")
    report = check_targets([str(empty)])
    assert len(report.errors) == 1 and "no Python file" in report.errors[0].text
    write(tmp_path / "plain" / "util.py", "VALUE = 1\n")
    write(tmp_path / "plain" / "sub" / "tool.py", "import os\n")
    plain = check_targets([str(tmp_path / "plain")])
    assert not plain.errors and not plain.models and plain.files == 2
    assert plain.notes == [f"{tmp_path / 'plain'}: no model in its 2 Python files."]


def test_top_level_code_is_noted_once_per_file(tmp_path):
    f = write(tmp_path / "m.py", MODEL + "\nRUNS = []\nfor i in range(2):\n    RUNS.append(i)\n")
    report = check_targets([str(f), f"{f}:Net"])
    assert names(report) == ["Net", "Net"] and not report.errors
    assert report.notes == [f"importing {f} runs top-level code at line 14 (guard it with if __name__ == '__main__')"]


def test_parameter_free_library_instances_are_not_models(tmp_path):
    f = write(tmp_path / "m.py", MODEL + "\ncriterion = nn.CrossEntropyLoss()\nact = nn.ReLU()\n"
              "empty = nn.Sequential()\nblocks = nn.ModuleList([nn.Linear(2, 2)])\nhead = nn.Linear(8, 2)\n")  # fmt: skip
    report = check_targets([str(f)])
    assert not report.errors and names(report) == ["head", "Net"]
    only = write(tmp_path / "losses.py", "import torch.nn as nn\nclass Unused: pass\nact = nn.ReLU()\n"
                 "crit = nn.CrossEntropyLoss()\nhead = nn.Sequential(nn.Linear(2, 2))\nhead = nn.Sequential()\n")  # fmt: skip
    report = check_targets([str(only)])
    assert len(report.errors) == 1 and not report.models
    assert "head is a parameter-free torch.nn.Sequential, not a model" in report.errors[0].text


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
    assert "can be built without arguments: ConvBN(cin, cout)" in strict.errors[0].text
    lenient = check_targets([str(f)], Options(strict=False))
    assert not lenient.errors and "ConvBN(cin, cout)" in lenient.notes[0]
    in_directory = check_targets([str(tmp_path)])
    assert not in_directory.errors and in_directory.notes


WRN = """
import torch.nn as nn

class BasicBlock(nn.Module):
    def __init__(self, *args, **kwargs):  # only *args, **kwargs: it needs arguments
        super().__init__()
        self.conv = nn.Conv2d(*args, **kwargs)
    def forward(self, x):
        return self.conv(x)

class NetworkBlock(nn.Module):
    def __init__(self, n=1):  # builds alone, but is a block of WideResNet
        super().__init__()
        self.layers = nn.Sequential(*[BasicBlock(16, 16, 3, padding=1) for _ in range(n)])
    def forward(self, x):
        return self.layers(x)

class WideResNet(nn.Module):
    def __init__(self, depth, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.block = NetworkBlock((depth - 4) // 6)
        self.fc = nn.Linear(16, num_classes)
    def forward(self, x):
        return self.fc(self.block(self.conv(x)).mean((2, 3)))
"""


def test_models_that_all_need_arguments_name_the_top_level_class_and_both_remedies(tmp_path):
    f = write(tmp_path / "wrn.py", WRN)
    report = check_targets([str(f)])
    assert len(report.errors) == 1 and not report.models
    text = report.errors[0].text
    assert "WideResNet(depth, num_classes)" in text and "BasicBlock(" not in text and "failed" not in text
    assert "model = WideResNet(depth=..., num_classes=...)" in text
    assert f'"{f}:WideResNet(depth=..., num_classes=...)"' in text
    named = check_targets([f"{f}:WideResNet(depth=10, num_classes=10)"])
    assert not named.errors and names(named) == ["WideResNet(depth=10, num_classes=10)"]


def test_blocks_that_cannot_be_built_alone_are_never_errors(tmp_path):
    f = write(
        tmp_path / "net.py",
        WRN.replace("def __init__(self, depth, num_classes)", "def __init__(self, depth=10, num_classes=10)")
        + """
import sys

class Hidden(nn.Module):  # builds with its defaults only inside Registry, which names it as a string
    def __init__(self, c=None):
        super().__init__()
        self.fc = nn.Linear(c, c)
    def forward(self, x):
        return self.fc(x)

class Registry(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = getattr(sys.modules[__name__], "Hid" + "den")(4)
    def forward(self, x):
        return self.inner(x)
""",
    )
    report = check_targets([str(f)], Options(probe=False))
    assert not report.errors, [e.text for e in report.errors]
    assert names(report) == ["WideResNet", "Registry"]


def test_script_module_subclass_loads_and_is_found(tmp_path):
    f = write(
        tmp_path / "scripted.py",
        "import torch\nimport torch.nn as nn\n\nclass Block(torch.jit.ScriptModule):\n"
        "    def __init__(self):\n        super().__init__()\n        self.conv = nn.Conv2d(3, 8, 3)\n"
        "    @torch.jit.script_method\n    def forward(self, x):\n        return self.conv(x)\n",
    )
    with pytest.warns(FutureWarning):  # torch deprecates script_method; the warning is torch's, not ours
        loaded = resolve(str(f))
    assert [m.name.rsplit(":", 1)[1] for m in loaded.models] == ["Block"] and not loaded.errors
    assert isinstance(loaded.models[0].meta(), torch_nn().Module)


def torch_nn():
    import torch.nn

    return torch.nn


def test_bases_from_installed_libraries_are_resolved_by_importing_the_library(tmp_path):
    f = write(
        tmp_path / "lib.py",
        "import torch\nfrom torchvision.models.resnet import ResNet, BasicBlock\n"
        "from torchvision.datasets import VisionDataset\n"
        "class Small(ResNet):\n    def __init__(self):\n        super().__init__(BasicBlock, [1, 1, 1, 1])\n"
        "class Data(VisionDataset):\n    pass\n",
    )
    assert names(check_targets([str(f)], Options(probe=False))) == ["Small"]
    marker = tmp_path / "ran"
    g = write(tmp_path / "data.py", "import torch\nfrom torchvision.datasets import VisionDataset\n"
              f"class Data(VisionDataset): pass\nopen({str(marker)!r}, 'w').close()\n")  # fmt: skip
    assert "no model in" in check_targets([str(g)]).errors[0].text and not marker.exists()
    h = write(tmp_path / "missing.py", "import torch\nfrom not_installed_lib_xyz import Base\nclass M(Base): pass\n")
    text = check_targets([str(h)]).errors[0].text
    assert "class M (line 3)" in text and "not_installed_lib_xyz is not installed" in text
    lenient = check_targets([str(h)], Options(strict=False))
    assert not lenient.errors and "class M (line 3)" in lenient.notes[0]


def test_dynamic_and_conditional_classes_and_codings(tmp_path):
    f = write(
        tmp_path / "dyn.py",
        MODEL + "\ntry:\n    import apex_not_here\nexcept ImportError:\n    class Fallback(Net):\n        pass\n"
        "Made = type('Made', (Net,), {})\n",
    )
    assert names(check_targets([str(f)], Options(probe=False))) == ["Net", "Fallback", "Made"]
    latin = tmp_path / "latin.py"
    latin.write_bytes(("# -*- coding: latin-1 -*-\n# caf\u00e9\n" + MODEL).encode("latin-1"))
    assert names(check_targets([str(latin)], Options(probe=False))) == ["Net"]


def test_file_target_arguments_may_hold_colons(tmp_path):
    f = write(tmp_path / "m.py", MODEL.replace("width=8):", "width=8, tag=''):"))
    report = check_targets([f"{f}:Net(width=4, tag='a:b')"], Options(probe=False))
    assert not report.errors and report.models[0].name == f"{f}:Net(width=4, tag='a:b')"


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


def test_undecided_bases_are_decided_once_the_file_is_imported(tmp_path):
    f = write(
        tmp_path / "dyn.py",
        MODEL + "\ndef make_base():\n    return Net\nBase = make_base()\nclass Child(Base):\n    pass\n",
    )
    assert names(check_targets([str(f)], Options(probe=False))) == ["Net", "Child"]


def test_an_internal_error_in_one_file_is_that_files_error(tmp_path, monkeypatch):
    import netlint.load.models

    write(tmp_path / "a.py", MODEL)
    write(tmp_path / "b.py", MODEL.replace("class Net", "class Other"))
    calls = []

    def flaky(cls):
        calls.append(cls.__name__)
        if cls.__name__ == "Net":
            raise RuntimeError("scanner bug")
        return True

    monkeypatch.setattr(netlint.load.models, "has_forward", flaky)
    monkeypatch.delenv("NETLINT_DEBUG", raising=False)
    report = check_targets([str(tmp_path)], Options(probe=False))
    assert names(report) == ["Other"] and len(report.errors) == 1
    assert "internal error" in report.errors[0].text and "scanner bug" in report.errors[0].text


def test_a_separate_network_that_needs_arguments_is_noted_beside_the_checked_ones(tmp_path):
    f = write(tmp_path / "two.py", MODEL + WRN.replace("import torch.nn as nn\n", ""))
    report = check_targets([str(f)], Options(probe=False))
    assert names(report) == ["Net"] and not report.errors
    assert report.notes == [f'{f}: WideResNet was not checked: it needs constructor arguments (depth, num_classes); '
                            f'check it as "{f}:WideResNet(depth=..., num_classes=...)".']  # fmt: skip


def test_a_module_level_instance_inside_another_is_a_part(tmp_path):
    f = write(tmp_path / "m.py", MODEL + "\nstem = nn.Conv2d(3, 3, 1)\nmodel = nn.Sequential(stem, Net())\n")
    assert names(check_targets([str(f)], Options(probe=False))) == ["model"]


# -- models that did not run: the load side (issue 18) ------------------------------------------

WEIGHT_NORM = """
import threading
import torch.nn as nn
from torch.nn.utils import weight_norm


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = weight_norm(nn.Conv2d(3, 8, 3))  # a computed, non-leaf weight: deepcopy refuses it
        self.bn = nn.BatchNorm2d(8)
        self.lock = threading.Lock()  # and it refuses a lock
    def forward(self, x):
        with self.lock:
            return self.bn(self.conv(x))
"""


def findings(report):
    return [(f.code, f.module) for m in report.models for f in m.findings]


@pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")
def test_a_module_level_model_that_refuses_deepcopy_is_checked(tmp_path):
    f = write(tmp_path / "wn.py", WEIGHT_NORM + "\nmodel = Net()\n")
    report = check_targets([str(f)], Options(probe=False))
    assert not report.errors, [e.text for e in report.errors]
    assert names(report) == ["model"] and findings(report) == [("NL002", "conv")]


@pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")
def test_copies_of_a_model_that_refuses_deepcopy_leave_it_as_it_was(tmp_path):
    import torch

    from netlint.load.models import ModelSpec, meta_copy
    from netlint.probing.recalibrate import recalibrate

    namespace: dict = {}
    exec(compile(WEIGHT_NORM, str(tmp_path / "wn.py"), "exec"), namespace)
    model = namespace["Net"]()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    weight = model.conv.weight
    meta, real = meta_copy(model), ModelSpec("wn", instance=model).real()
    assert meta(torch.empty(2, 3, 8, 8, device="meta")).shape == (2, 8, 6, 6)
    real.train()(torch.randn(2, 3, 8, 8))  # updates the copy's running statistics, not the model's
    for copy in (meta, real):
        assert copy.conv is not model.conv and copy.bn.running_mean is not model.bn.running_mean
        # what cannot be copied (the lock) is shared
        assert copy.conv.weight_v is not model.conv.weight_v and copy.lock is model.lock
    assert meta.conv.weight_g.device.type == "meta" and not torch.equal(real.bn.running_mean, model.bn.running_mean)
    assert "bn.running_mean" in recalibrate(model, [torch.randn(4, 3, 8, 8)]).state  # on a copy too
    assert model.conv.weight is weight and all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


KWARGS_ONLY = """
import torch.nn as nn


class Base(nn.Module):
    def __init__(self, width, depth=1, num_classes=10):
        super().__init__()
        self.convs = nn.Sequential(*[nn.Conv2d(3 if i == 0 else width, width, 3) for i in range(depth)])
        self.bn = nn.BatchNorm2d(width)
        self.fc = nn.Linear(width, num_classes)
    def forward(self, x):
        return self.fc(self.bn(self.convs(x)).mean((2, 3)))


class Wide(Base):
    def __init__(self, **kwargs):  # builds without arguments: only trying tells
        super().__init__(width=16, depth=2, **kwargs)
"""


CONV = """import torch.nn as nn
class Conv(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(*args, **kwargs)
    def forward(self, x):
        return self.conv(x)
"""


def test_a_constructor_of_only_kwargs_is_built_and_fails_only_when_it_must(tmp_path):
    f = write(tmp_path / "wide.py", KWARGS_ONLY)
    report = check_targets([str(f), f"{f}:Wide", f"{f}:Wide(num_classes=3)"], Options(probe=False))
    assert not report.errors, [e.text for e in report.errors]
    assert names(report) == ["Wide", "Wide", "Wide(num_classes=3)"]
    assert report.notes == [f'{f}: Base was not checked: it needs constructor arguments (width); '
                            f'check it as "{f}:Base(width=...)".']  # fmt: skip
    g = write(tmp_path / "conv.py", CONV)
    two = write(tmp_path / "two.py", KWARGS_ONLY + CONV.replace("import torch.nn as nn\n", ""))
    beside = check_targets([str(two)], Options(probe=False))
    assert names(beside) == ["Wide"] and not beside.errors
    assert beside.notes[1].startswith(f"{two}: Conv was not checked: it needs constructor arguments "
                                      "(*args, **kwargs) (without them, building the model failed: TypeError")  # fmt: skip
    failed = check_targets([str(g), f"{g}:Conv"], Options(probe=False))
    assert not failed.models and len(failed.errors) == 2
    whole, named = (e.text for e in failed.errors)
    assert (
        "Conv(*args, **kwargs) needs constructor arguments (without them, building the model failed: TypeError" in whole
    )
    assert (
        "Conv needs constructor arguments (*args, **kwargs): without them, building the model failed: TypeError"
        in named
    )
    assert f'"{g}:Conv(...)"' in whole and f"{g}:Conv(name=...)" in named


FLAGGED_BLOCKS = """
import torch.nn as nn


class Transform(nn.Module):  # built by Net only with feature_transform=True
    def __init__(self, k=16):
        super().__init__()
        self.conv = nn.Conv1d(k, k, 1)
        self.bn = nn.BatchNorm1d(k)
    def forward(self, x):
        return self.bn(self.conv(x))


class Sized(nn.Module):  # also only under the flag, and it cannot be built alone
    def __init__(self, k):
        super().__init__()
        self.fc = nn.Linear(k, k)
    def forward(self, x):
        return self.fc(x)


class Fragile(nn.Module):  # only under the flag, and its defaults fail alone
    def __init__(self, k=None):
        super().__init__()
        self.fc = nn.Linear(k, k)
    def forward(self, x):
        return self.fc(x)


class Stem(nn.Module):  # always built by Net: checked through it
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 16, 1, bias=False)
        self.bn = nn.BatchNorm1d(16)
    def forward(self, x):
        return self.bn(self.conv(x))


class Net(nn.Module):
    def __init__(self, feature_transform=False):
        super().__init__()
        self.stem = Stem()
        if feature_transform:
            self.transform = Transform(k=16)
            self.sized = Sized(16)
            self.fragile = Fragile(16)
    def forward(self, x):
        return self.stem(x)
"""


def test_a_block_is_checked_through_a_model_only_when_its_build_holds_one(tmp_path):
    f = write(tmp_path / "pointnet.py", FLAGGED_BLOCKS)
    report = check_targets([str(f)], Options(probe=False))
    assert not report.errors, [e.text for e in report.errors]
    assert names(report) == ["Transform", "Net"] and findings(report) == [("NL002", "conv")]
    sized, fragile = report.notes
    assert sized == (f"{f}: Sized was not checked: no model of the file builds one, and it needs constructor "
                     f'arguments (k); check it as "{f}:Sized(k=...)".')  # fmt: skip
    assert fragile.startswith(f"{f}: Fragile was not checked: no model of the file builds one, and building it "
                              "alone failed: TypeError")  # fmt: skip
    on = write(tmp_path / "on.py", FLAGGED_BLOCKS.replace("feature_transform=False", "feature_transform=True"))
    built = check_targets([str(on)], Options(probe=False))
    assert names(built) == ["Net"] and not built.notes and not built.errors


ABSTRACT_AND_PARAMETER_FREE = """
import torch
import torch.nn as nn


class BaseVAE(nn.Module):  # an abstract base: its forward only raises
    def __init__(self):
        super().__init__()
    def encode(self, x):
        raise NotImplementedError
    def forward(self, *inputs):
        \"\"\"Encode, sample, decode.\"\"\"
        raise NotImplementedError()


class Interaction(nn.Module):  # a parameter-free layer
    def forward(self, x):
        return 0.5 * (x.sum(1) ** 2 - (x**2).sum(1))
"""

REAL_MODELS = """

class VAE(BaseVAE):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(8, 4)
        self.act = Interaction()
    def forward(self, x):
        return self.enc(x)


class Wrapper(nn.Module):  # no parameter of its own at the top: its children hold them
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    def forward(self, x):
        return self.body(x)


class Pool(nn.Module):  # parameter-free, but the file says how to run it
    def forward(self, x):
        return torch.nn.functional.max_pool2d(x, 2)
    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 8, 8)


layer = Interaction()
"""


def test_parameter_free_and_abstract_classes_are_not_models(tmp_path):
    only = write(tmp_path / "base.py", ABSTRACT_AND_PARAMETER_FREE)
    report = check_targets([str(only)])
    assert not report.models and len(report.errors) == 1
    assert (f"no model in {only}: BaseVAE has no forward; Interaction holds no parameter or buffer (not a model; "
            "define example_inputs() to check it).") in report.errors[0].text  # fmt: skip
    assert not check_targets([str(only)], Options(strict=False)).errors
    mixed = write(tmp_path / "vae.py", ABSTRACT_AND_PARAMETER_FREE + REAL_MODELS)
    report = check_targets([str(mixed)], Options(probe=False))
    assert not report.errors, [e.text for e in report.errors]
    assert names(report) == ["VAE", "Wrapper", "Pool"]


HUB_LIBRARY = """
import torch.nn as nn


class Config:
    def __init__(self, width=8):
        self.width = width


class Model(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.conv = nn.Conv2d(3, config.width, 3)
        self.bn = nn.BatchNorm2d(config.width)
    def forward(self, x):
        return self.bn(self.conv(x))
    @classmethod
    def from_config(cls, config):
        return cls(config)
    @classmethod
    def from_pretrained(cls, name):
        raise OSError(f"cannot reach the hub to download {name}")
"""


@pytest.fixture
def hub_library(tmp_path, monkeypatch):
    """An installed library (it lives under site-packages) whose model class has classmethod factories."""
    write(tmp_path / "site-packages" / "hubfake_netlint" / "__init__.py", HUB_LIBRARY)
    monkeypatch.syspath_prepend(str(tmp_path / "site-packages"))
    yield
    for name in [m for m in sys.modules if m.split(".")[0] == "hubfake_netlint"]:
        del sys.modules[name]


def test_classmethod_factories_of_libraries_and_of_the_project_build_models(tmp_path, hub_library):
    lib = write(tmp_path / "lib_model.py", "import torch\nfrom hubfake_netlint import Config, Model\n"
                "model = Model.from_config(Config(width=4)).eval()\n")  # fmt: skip
    write(tmp_path / "nets.py", MODEL + "\n    @classmethod\n    def build(cls, width=4):\n        return cls(width)\n")
    own = write(tmp_path / "main.py", "from nets import Net\nnet = Net.build(width=2)\n")  # no class, no torch import
    report = check_targets([str(lib), str(own)], Options(probe=False))
    assert not report.errors, [e.text for e in report.errors]
    assert names(report) == ["model", "net"] and findings(report) == [("NL002", "conv")]


def test_pretrained_weights_that_cannot_be_had_say_how_to_check_without_them(tmp_path, hub_library):
    hub = write(tmp_path / "hub.py", "import torch\nfrom hubfake_netlint import Model\n"
                "model = Model.from_pretrained('big-model')\n")  # fmt: skip
    inner = write(tmp_path / "inner.py", "import torch.nn as nn\nfrom hubfake_netlint import Model\n"
                  "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                  "        self.backbone = Model.from_pretrained('big-model')\n"
                  "    def forward(self, x):\n        return self.backbone(x)\n")  # fmt: skip
    report = check_targets([str(hub), str(inner)], Options(probe=False))
    assert not report.models and len(report.errors) == 2
    imported, built = (e.text for e in report.errors)
    assert "importing the file failed: OSError: cannot reach the hub to download big-model" in imported
    assert "building the model failed: OSError: cannot reach the hub" in built
    for text, file in ((imported, hub), (built, inner)):
        assert "It failed in from_pretrained, which needs pretrained weights that are not available here" in text
        assert "AutoModel.from_config(config)" in text and f"{file}:factory" in text


# An installed model library (it lives under site-packages) whose top module does not import torch: its
# submodule does. Factory functions with and without return annotations, a partial, and helpers that
# return no model.
FACTORY_LIBRARY = {
    "__init__.py": '"""Small models."""\nfrom .nets import *  # noqa\n',
    "nets.py": """
from __future__ import annotations

import functools
from typing import Any, Optional

import torch
import torch.nn as nn


class SmallNet(nn.Sequential):
    def __init__(self, channels: int = 8):
        super().__init__(nn.Conv2d(3, channels, 3), nn.BatchNorm2d(channels), nn.ReLU())


class Tokenizer:
    @classmethod
    def from_pretrained(cls, name):
        return cls()

    @classmethod
    def from_file(cls, path: str = "") -> Any:
        return cls()


class Hub:
    @staticmethod
    def create(name: str = "small") -> SmallNet:
        return SmallNet(4)


class Registry:
    def build(self, name: str = "small") -> nn.Module:
        return SmallNet(4)


MODELS = Registry()


def small_net(channels: int = 8) -> SmallNet:
    return SmallNet(channels)


def maybe_net(channels: int = 8) -> Optional[nn.Module]:
    return nn.Sequential(nn.Linear(4, channels), nn.BatchNorm1d(channels))


def plain_net(channels=8):
    return nn.Sequential(nn.Linear(4, channels), nn.BatchNorm1d(channels))


def odd_value():
    return {"not": "a model"}


def table(rows: int = 2) -> list[int]:
    return list(range(rows))


def loader() -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(list(range(4)))


make_small = functools.partial(SmallNet, channels=4)
""",
}
# An installed library without torch: only the word is there, never an import of it.
WEB_LIBRARY = '''"""A web toolkit; nothing here uses torch."""
open(__file__ + ".imported", "w").close()


class App:
    pass


def make_app():
    return App()
'''


@pytest.fixture
def libraries(tmp_path, monkeypatch):
    """``fnlib_netlint`` (a model library) and ``weblib_netlint`` (no torch), installed under site-packages."""
    site = tmp_path / "site-packages"
    for name, text in FACTORY_LIBRARY.items():
        write(site / "fnlib_netlint" / name, text)
    write(site / "weblib_netlint" / "__init__.py", WEB_LIBRARY)
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name in [m for m in sys.modules if m.split(".")[0] in ("fnlib_netlint", "weblib_netlint")]:
        del sys.modules[name]


def test_factory_functions_of_installed_libraries_build_models(tmp_path, libraries):
    """Issue 18 N1: ``nets.resnet18(...)``, ``smp.create_model(...)``: a call to a function of an installed
    library that uses torch is a model constructor unless its return annotation rules a module out; the
    value built decides. The parent never imports the library (the worker does), nor the user's files."""
    marker = tmp_path / "imported"
    lines = f"open({str(marker)!r}, 'a').close()\n"
    annotated = write(tmp_path / "annotated.py", "import fnlib_netlint as lib\n\nmodel = lib.small_net(channels=4)\n"
                      "built = lib.MODELS.build('small')\n")  # fmt: skip
    mixed = write(tmp_path / "mixed.py", "from fnlib_netlint import maybe_net, plain_net, make_small, odd_value\n"
                  "a = maybe_net()\nb = plain_net()\nc = make_small()\nvalue = odd_value()\n")  # fmt: skip
    helpers = write(tmp_path / "helpers.py", "import numpy as np\nimport torch\nimport fnlib_netlint as lib\n"
                    "from torch.utils.data import DataLoader, random_split\n" + lines +
                    "rows = lib.table()\ndata = lib.loader()\ntok = lib.Tokenizer.from_pretrained('x')\n"
                    "parts = random_split(range(4), [2, 2])\narray = np.zeros(3)\nbatches = DataLoader(parts[0])\n")  # fmt: skip
    report = check_targets([str(annotated), str(mixed), str(helpers)], Options(probe=False))
    assert names(report) == ["model", "built", "a", "b", "c"] and not report.notes
    assert findings(report) == [("NL002", "0")] * 5
    assert [e.text.split(":")[0] for e in report.errors] == [f"{helpers}"] and "no model in" in report.errors[0].text
    assert not marker.exists()  # helpers.py: decided without importing it
    assert "fnlib_netlint" not in sys.modules  # the parent read the library's files; the workers imported it
    # A value that is no module is not a model; alone in its file, that is the usual error.
    alone = write(tmp_path / "alone.py", "import fnlib_netlint as lib\n\nvalue = lib.odd_value()\n")
    (error,) = check_targets([str(alone)], Options(probe=False)).errors
    assert error.message == f"no model in {alone}: it builds no torch.nn.Module."


def test_library_models_are_found_in_files_that_do_not_import_torch(tmp_path, libraries):
    """A module-level model of an installed library that itself imports torch is found without ``import torch``
    in the file; a library without torch (a web app) is neither imported nor its file."""
    own = write(tmp_path / "own.py", "from fnlib_netlint import SmallNet\n\nnet = SmallNet(channels=4)\n")
    web = write(tmp_path / "web.py", "import weblib_netlint as web\nfrom weblib_netlint import App\n"
                f"open({str(tmp_path / 'ran')!r}, 'w').close()\napp = App()\nother = web.make_app()\n")  # fmt: skip
    report = check_targets([str(own), str(web)], Options(probe=False, strict=False))
    assert names(report) == ["net"] and findings(report) == [("NL002", "0")] and not report.errors
    assert not (tmp_path / "ran").exists() and not (libraries / "weblib_netlint" / "__init__.py.imported").exists()


def test_library_calls_are_decided_by_the_callee_and_its_return_annotation(libraries):
    import typing

    import torch
    import torch.nn as nn

    from netlint.load.models import _allows_module, library_call_check, library_class_check

    verdicts = {
        name: library_call_check(f"fnlib_netlint.{name}")
        for name in ("SmallNet", "small_net", "maybe_net", "plain_net", "odd_value", "make_small", "MODELS.build",
                     "Hub.create", "table", "loader", "Tokenizer.from_pretrained", "Tokenizer.from_file", "functools",
                     "torch", "missing")
    }  # fmt: skip
    assert verdicts == {
        "SmallNet": True, "small_net": True, "maybe_net": True, "plain_net": None, "odd_value": None,
        "make_small": True, "MODELS.build": True, "Hub.create": True, "table": False, "loader": False,
        "Tokenizer.from_pretrained": False, "Tokenizer.from_file": False,
        "functools": False, "torch": False,
        "missing": "fnlib_netlint.missing could not be imported to check it (ModuleNotFoundError: "
        "No module named 'fnlib_netlint.missing')",
    }  # fmt: skip
    assert library_class_check("fnlib_netlint.small_net") is False  # a function is never a base class
    T, M = typing.TypeVar("T"), typing.TypeVar("M", bound=nn.Module)
    allowed = [nn.Module, nn.Conv2d, M, nn.Module | None, typing.Annotated[nn.Linear, 1],
               typing.Union[int, nn.Module]]  # noqa: UP007  # fmt: skip
    untold = [typing.Any, object, T, "Undefined", int | typing.Any]
    ruled_out = [
        torch.Tensor,
        None,
        type(None),
        tuple[nn.Module, int],
        list[nn.Module],
        int,
        typing.TypeVar("S", bound=int),
    ]
    assert [_allows_module(a) for a in allowed + untold + ruled_out] == [True] * 6 + [None] * 5 + [False] * 7
    assert not any(_allows_module(a, unknown=False) for a in untold)  # a classmethod of a non-module must say so


def test_scripts_are_not_imported_for_library_functions_that_may_build_a_model(tmp_path, tmp_path_factory, libraries):
    """``loader = lib.plain_net()`` in a training script: a function that declares no return type may build a
    model, but the script's top-level loop must not run to find out (an annotated one, or a main guard: it is
    imported; a notebook runs only the cells that define models)."""
    ran = tmp_path_factory.mktemp("outside") / "ran"  # outside the checked folders, where user code may write
    loop = f"for step in range(3):\n    open({str(ran)!r}, 'a').close()\n"
    script = write(tmp_path / "proj" / "script.py", "import fnlib_netlint as lib\n\nnet = lib.plain_net()\n" + loop)
    (error,) = check_targets([str(script)], Options(probe=False)).errors
    assert error.message == (
        f"no model in {script}: net may be a model (a library function that declares no return type builds it), "
        "but importing the file would run its top-level code at line 4, so it was not imported."
    )
    assert f"name the model ({script}:net)" in error.hint and not ran.exists()
    report = check_targets([str(tmp_path / "proj")], Options(probe=False))  # a directory: a note, never silence
    assert not report.models and not report.errors and report.notes == [error.message]
    named = check_targets([f"{script}:net"], Options(probe=False))
    assert findings(named) == [("NL002", "0")] and ran.exists()
    ran.unlink()
    sure = write(tmp_path / "proj" / "script.py", "import fnlib_netlint as lib\n\nnet = lib.small_net()\n" + loop)
    guarded = write(tmp_path / "proj" / "guarded.py", "import fnlib_netlint as lib\n\nnet = lib.plain_net()\n"
                    "if __name__ == '__main__':\n" + textwrap.indent(loop, "    "))  # fmt: skip
    report = check_targets([str(sure), str(guarded)], Options(probe=False))
    assert names(report) == ["net", "net"] and not report.errors and ran.exists()  # the annotated one ran the loop


def test_hub_downloads_are_offline_in_workers_unless_the_user_says_otherwise(tmp_path, monkeypatch):
    """Without a network the Hugging Face hub retries for most of a minute: a worker is offline, so weights
    that are not cached fail at once; a user's own setting is kept."""
    import types

    check = (
        "import os, sys\nimport torch.nn as nn\nconstants = sys.modules.get('huggingface_hub.constants')\n"
        "seen = (os.environ.get('HF_HUB_OFFLINE'), os.environ.get('TRANSFORMERS_OFFLINE'), getattr(constants, 'HF_HUB_OFFLINE', None))\n"
        "if seen != EXPECTED:\n    raise RuntimeError(seen)\nmodel = nn.Linear(2, 2)\n"
    )  # fmt: skip
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub read the environment when the parent imported it (a session calling netlint.check)
    monkeypatch.setitem(sys.modules, "huggingface_hub.constants", types.SimpleNamespace(HF_HUB_OFFLINE=False))
    offline = write(tmp_path / "offline.py", "EXPECTED = ('1', '1', True)\n" + check)
    assert not check_targets([str(offline)], Options(probe=False)).errors
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    online = write(tmp_path / "online.py", "EXPECTED = ('0', None, False)\n" + check)
    assert not check_targets([str(online)], Options(probe=False)).errors
    assert (
        os.environ["HF_HUB_OFFLINE"] == "0" and "TRANSFORMERS_OFFLINE" not in os.environ
    )  # the parent's are untouched

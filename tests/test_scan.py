"""The syntax-tree decision: which files define models (fast; no torch and no user file is imported)."""

from __future__ import annotations

import sys

import pytest

from netlint.load.scan import Project, scan_file, scan_source

from .conftest import write


def found(source: str, path: str = "/nonexistent/f.py", **kw) -> tuple[list[str], list[str]]:
    scan = scan_source(source, path, **kw)
    return scan.classes, scan.instances


@pytest.mark.parametrize(
    ("source", "classes"),
    [
        ("import torch.nn as nn\nclass A(nn.Module): pass\n", ["A"]),
        ("import torch.nn as N\nclass A(N.Module): pass\n", ["A"]),
        ("import torch\nclass A(torch.nn.Module): pass\n", ["A"]),
        ("import torch.nn\nclass A(torch.nn.Module): pass\n", ["A"]),
        ("from torch import nn as tnn\nclass A(tnn.Conv2d): pass\n", ["A"]),
        ("from torch.nn import Module\nclass A(Module): pass\n", ["A"]),
        ("from torch.nn.modules.module import Module\nclass A(Module): pass\n", ["A"]),
        ("from torch.nn import *\nclass A(Module): pass\n", ["A"]),
        ("import torch.nn as nn\nModule = nn.Module\nclass A(Module): pass\n", ["A"]),
        ("import torch.nn as nn\nBase = nn.Module\nAlias = Base\nclass A(Alias): pass\n", ["A"]),
        ("from torch import nn\nclass A(nn.Module): pass\nclass B(A): pass\n", ["A", "B"]),
        ("from torch import nn\nclass B(A): pass\nclass A(nn.Module): pass\n", ["B", "A"]),  # base defined later
        ("import torch.nn as nn\nfrom typing import Generic\nclass A(nn.Module, Generic[T]): pass\n", ["A"]),
        ("import torch\nclass A(torch.jit.ScriptModule): pass\n", ["A"]),
        ("import torch.nn as nn\nif True:\n    class A(nn.Module): pass\nelse:\n    class B(nn.Module): pass\n",
         ["A", "B"]),
        ("import torch.nn as nn\ntry:\n    import apex\nexcept ImportError:\n    class A(nn.Module): pass\n", ["A"]),
        ("import torch.nn as nn\nNet = type('Net', (nn.Module,), {'forward': lambda s, x: x})\n", ["Net"]),
        ("import torch.nn as nn\nwith open('x') as f:\n    class A(nn.Module): pass\n", ["A"]),
    ],
)  # fmt: skip
def test_module_classes_are_found(source, classes):
    assert found(source)[0] == classes


@pytest.mark.parametrize(
    "source",
    [
        "import dataclasses\nclass A: pass\nclass B(Exception): pass\n",
        "import torch\nfrom torch.utils.data import Dataset\nclass D(Dataset): pass\n",
        "import torch\nclass F(torch.autograd.Function): pass\n",
        "import torch\nclass O(torch.optim.Optimizer): pass\n",
        "import torch\nfrom dataclasses import dataclass\n@dataclass\nclass Config:\n    width: int = 8\n",
        "from torch.nn import *\nclass E(Exception): pass\nclass P(object): pass\n",
        "import torch.nn as nn\nif __name__ == '__main__':\n    class A(nn.Module): pass\n",
        "import torch.nn as nn\nclass A(nn.Parameter): pass\n",
        "from pydantic import BaseModel\nimport torch\nclass C(BaseModel): pass\n",
        "import enum\nimport torch\nclass Mode(enum.Enum):\n    A = 1\n",
    ],
)
def test_other_classes_are_not_models(source):
    scan = scan_source(source, "/nonexistent/f.py")
    assert (scan.classes, scan.instances, scan.unresolved) == ([], [], [])


@pytest.mark.parametrize(
    ("source", "instances"),
    [
        ("import torch.nn as nn\nmodel = nn.Sequential(nn.Linear(2, 2))\n", ["model"]),
        ("import torch.nn as nn\nfc = nn.Linear(2, 2)\n", ["fc"]),
        ("import torch.nn as nn\nlayers = []\nmodel = nn.Sequential(*layers)\n", ["model"]),
        ("from torch.nn import *\nmodel = Sequential(Conv2d(3, 8, 3), ReLU())\n", ["model"]),
        ("import torchvision\nnet = torchvision.models.resnet18()\n", ["net"]),
        ("from torchvision import models\nnet = models.resnet18(weights=None)\n", ["net"]),
        ("from torchvision.models import get_model\nnet = get_model('resnet18')\n", ["net"]),
        ("import timm\nnet = timm.create_model('resnet18')\n", ["net"]),
        ("import torch.nn as nn\nclass A(nn.Module): pass\na = A()\n", ["a"]),
        ("import torch.nn as nn\nclass A(nn.Module): pass\na = A().to('cpu').eval()\n", ["a"]),
        ("import torch.nn as nn\nclass A(nn.Module): pass\nnet = A()\nnet = net.to('cpu')\n", ["net"]),
        ("import torch\nimport torch.nn as nn\nclass A(nn.Module): pass\nnet = torch.compile(A())\n", ["net"]),
        ("import torch.nn as nn\nclass A(nn.Module): pass\nnet, n = A(), 3\n", ["net"]),
        ("import torch.nn as nn\nclass A(nn.Module): pass\nnet: nn.Module = A()\n", ["net"]),
        ("import torch.nn as nn\ndef build():\n    return nn.Linear(2, 2)\nmodel = build()\n", ["model"]),
        ("import torch.nn as nn\nclass A(nn.Module): pass\ndef build():\n    m = A()\n    return m\nmodel = build()\n",
         ["model"]),
        ("def build():\n    from torchvision.models import resnet18\n    return resnet18()\nmodel = build()\n", ["model"]),
        ("import torch.nn as nn\ndef a():\n    return b()\ndef b():\n    return nn.Linear(2, 2)\nm = a()\n", ["m"]),
    ],
)  # fmt: skip
def test_module_level_models_are_found(source, instances):
    assert found(source)[1] == instances


@pytest.mark.parametrize(
    "source",
    [
        "import torch\nx = torch.randn(3)\nw = torch.zeros(2, 2)\n",
        "import torch.nn as nn\ncriterion = nn.CrossEntropyLoss()\nact = nn.ReLU()\npool = nn.MaxPool2d(2)\n",
        "import torch.nn as nn\nempty = nn.Sequential()\nacts = nn.Sequential(nn.ReLU(), nn.Dropout(0.1))\n",
        "import torch.nn as nn\nblocks = nn.ModuleList()\np = nn.Parameter(torch.zeros(3))\n",
        "import torch\nfrom torch.utils.data import DataLoader\nloader = DataLoader([1, 2, 3], batch_size=2)\n",
        "import torch\nopt = torch.optim.Adam([torch.zeros(1)])\nsched = torch.optim.lr_scheduler.StepLR(opt, 1)\n",
        "from torchvision import transforms\nt = transforms.Compose([transforms.ToTensor()])\n",
        "from torchvision.models import ResNet18_Weights\nw = ResNet18_Weights.DEFAULT\nv = ResNet18_Weights.verify(w)\n",
        "import torch\nfrom dataclasses import dataclass\n@dataclass\nclass Cfg:\n    lr: float = 0.1\ncfg = Cfg()\n",
        "import torch.nn as nn\ndef helper():\n    return 3\nx = helper()\n",
        "import torch.nn as nn\nif __name__ == '__main__':\n    model = nn.Linear(2, 2)\n",
        "import torch.nn as nn\ndef build(width):\n    return nn.Linear(width, 2)\n",  # a factory, but nothing is bound
        "import numpy as np\nimport torch\nx = np.zeros(3)\nname = str(1)\n",
    ],
)
def test_other_module_level_values_are_not_models(source):
    assert found(source) == ([], [])


def test_training_script_without_a_model_is_not_a_model_file():
    source = (
        "import torch\nfrom torch.utils.data import DataLoader, TensorDataset\n"
        "data = TensorDataset(torch.randn(8, 3), torch.randn(8))\nloader = DataLoader(data)\n"
        "criterion = torch.nn.MSELoss()\nfor epoch in range(10):\n    for x, y in loader:\n        pass\n"
    )
    scan = scan_source(source, "/nonexistent/train.py")
    assert not scan.may_define_models and scan.top_level_code == 6


def test_top_level_code_line_ignores_main_guards_and_definitions():
    guarded = "import torch.nn as nn\nclass A(nn.Module):\n    def f(self):\n        for i in range(3): pass\n"
    guarded += "if __name__ == '__main__':\n    while True: pass\n"
    assert scan_source(guarded, "/nonexistent/f.py").top_level_code is None
    loose = (
        "import torch.nn as nn\nimport torch\nif True:\n    with torch.no_grad():\n        pass\nfor i in []: pass\n"
    )
    assert scan_source(loose, "/nonexistent/f.py").top_level_code == 4


def test_factories_building_blocks_and_top_classes():
    source = """
import torch.nn as nn
class Block(nn.Module):
    def __init__(self, c): super().__init__()
class Net(nn.Module):
    def __init__(self, depth):
        super().__init__()
        self.blocks = nn.Sequential(*[Block(8) for _ in range(depth)])
class Sub(Net):  # a subclass does not use its base
    pass
def net28():
    return Net(depth=28)
def needs(x):
    return Net(depth=x)
"""
    scan = scan_source(source, "/nonexistent/f.py")
    assert scan.classes == ["Block", "Net", "Sub"]
    assert scan.uses == {"Block": [], "Net": ["Block"], "Sub": []}
    assert scan.blocks == ["Block"] and scan.top_classes == ["Net", "Sub"]
    assert scan.factories == ["net28"] and scan.instances == []


def test_bases_from_other_project_files(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "from .layers import *\n")
    write(tmp_path / "pkg" / "base.py", "import torch.nn as nn\nModule = nn.Module\nclass Base(Module): pass\n")
    write(tmp_path / "pkg" / "layers.py", "from .base import Base\nclass Block(Base): pass\n__all__ = ['Block']\n")
    write(tmp_path / "pkg" / "plain.py", "class Plain: pass\n")
    write(tmp_path / "pkg" / "build.py", "from .layers import Block\ndef make():\n    return Block()\n")
    cases = {
        "from .base import Base\nclass A(Base): pass\n": ["A"],
        "from . import base\nclass A(base.Base): pass\n": ["A"],
        "from .layers import Block\nclass A(Block): pass\n": ["A"],
        "from pkg import Block\nclass A(Block): pass\n": ["A"],  # re-exported by a star import in __init__
        "import pkg.layers\nclass A(pkg.layers.Block): pass\n": ["A"],
        "import pkg.layers as L\nclass A(L.Block): pass\n": ["A"],
        "from .plain import Plain\nclass A(Plain): pass\n": [],
    }
    project = Project()
    for source, classes in cases.items():
        path = write(tmp_path / "pkg" / "user.py", source)
        assert scan_file(str(path), project).classes == classes, source
        project = Project()  # user.py changed: a fresh project reads it again
    write(tmp_path / "pkg" / "run.py", "from .build import make\nmodel = make()\nimport json\nx = json.loads('1')\n")
    assert scan_file(str(tmp_path / "pkg" / "run.py")).instances == ["model"]


def test_sibling_module_of_a_script(tmp_path):
    write(tmp_path / "scripts" / "layers.py", "from torch import nn\nclass Block(nn.Module): pass\n")
    script = write(
        tmp_path / "scripts" / "train.py", "from layers import Block\nmodel = Block()\nclass N(Block): pass\n"
    )
    scan = scan_file(str(script))
    assert (scan.classes, scan.instances) == (["N"], ["model"])


def test_library_bases_are_checked_by_the_callback_only_in_torch_files():
    asked = []

    def check(dotted):
        asked.append(dotted)
        return {"lightning_like.LightningModule": True, "lightning_like.Callback": False}.get(dotted, "not installed")

    source = (
        "import torch\nfrom lightning_like import LightningModule, Callback\nfrom missing_lib import Base\n"
        "class M(LightningModule): pass\nclass C(Callback): pass\nclass X(Base): pass\n"
    )
    scan = scan_source(source, "/nonexistent/f.py", project=Project(check))
    assert scan.classes == ["M"]
    assert scan.unresolved == ["class X (line 6): not installed"]
    assert asked == ["lightning_like.LightningModule", "lightning_like.Callback", "missing_lib.Base"]
    asked.clear()
    no_torch = "from django.db import models\nclass User(models.Model): pass\n"
    assert scan_source(no_torch, "/nonexistent/f.py", project=Project(check)).classes == [] and not asked


def test_unresolvable_bases_get_a_reason_not_a_silent_skip():
    scan = scan_source("import torch\nfrom .missing import Base\nclass A(Base): pass\n", "/nonexistent/f.py")
    assert scan.classes == [] and "class A (line 3)" in scan.unresolved[0] and "Base" in scan.unresolved[0]
    dynamic = scan_source("import torch\nBase = make_base()\nclass A(Base): pass\n", "/nonexistent/f.py")
    assert dynamic.unresolved and not dynamic.classes
    assert not scan_source("from .missing import Base\nclass A(Base): pass\n", "/nonexistent/f.py").unresolved


def test_pep263_coding_declaration(tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes(
        "# -*- coding: latin-1 -*-\nimport torch.nn as nn\nclass Caf\u00e9(nn.Module): pass\n".encode("latin-1")
    )
    scan = scan_file(str(path))
    assert scan.syntax_error is None and scan.classes == ["Caf\u00e9"]
    bad = tmp_path / "bad.py"
    bad.write_bytes(b"x = '\xff'\n")
    assert scan_file(str(bad)).syntax_error is not None


def test_scanning_imports_neither_torch_nor_the_file(tmp_path):
    marker = tmp_path / "ran"
    f = write(tmp_path / "m.py", f"import torch.nn as nn\nopen({str(marker)!r}, 'w')\nclass A(nn.Module): pass\n")
    before = set(sys.modules)
    assert scan_file(str(f)).classes == ["A"]
    assert not marker.exists() and not {m for m in set(sys.modules) - before if m.startswith(("torch", "m"))}


def test_parameter_free_table_agrees_with_torch():
    """A torch.nn call the table calls parameter-free builds a module without parameters or buffers."""
    torch = pytest.importorskip("torch")
    from netlint.load.known import _NN_CONTAINERS, _NN_NOT_MODELS, parameter_free

    nn = torch.nn
    checked = 0
    for name in dir(nn):
        cls = getattr(nn, name)
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or name in (*_NN_CONTAINERS, *_NN_NOT_MODELS):
            continue
        for args in ((), (4,), (4, 4), (4, 4, 3)):
            try:
                with torch.device("meta"):
                    module = cls(*args)
            except Exception:
                continue
            stateful = any(True for _ in module.parameters()) or any(True for _ in module.buffers())
            if name != "Module":
                assert parameter_free(name) == (not stateful), (name, args)
            checked += 1
            break
    assert checked > 100


def test_import_cycles_and_self_aliases_end(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "from . import *\n")
    write(tmp_path / "pkg" / "a.py", "from .b import X\nimport torch.nn as nn\nclass A(X): pass\n")
    write(tmp_path / "pkg" / "b.py", "from .a import X\nfrom .a import *\n")
    write(tmp_path / "pkg" / "c.py", "import torch.nn as nn\nfrom . import Y\nModule = Module\nclass C(Module): pass\n")
    assert scan_file(str(tmp_path / "pkg" / "a.py")).classes == []
    assert scan_file(str(tmp_path / "pkg" / "c.py")).classes == []
    deep = "import torch.nn as nn\nx = " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    assert scan_source(deep, "/nonexistent/deep.py").syntax_error is not None


def test_classes_passed_to_another_model_class_are_its_blocks():
    source = """
import torch.nn as nn
class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes): super().__init__()
class ResNet(nn.Module):
    def __init__(self, block, layers): super().__init__()
def resnet18():
    return ResNet(BasicBlock, [2, 2, 2, 2])
def resnet_any(block=None):
    return ResNet(block=BasicBlock, layers=[1])
"""
    scan = scan_source(source, "/nonexistent/f.py")
    assert scan.uses == {"BasicBlock": [], "ResNet": ["BasicBlock"]}
    assert scan.top_classes == ["ResNet"] and scan.blocks == ["BasicBlock"]
    assert scan.factories == ["resnet18", "resnet_any"]


def test_project_modules_above_a_script_folder(tmp_path):
    write(tmp_path / "common" / "layers.py", "import torch.nn as nn\nclass Block(nn.Module): pass\n")
    script = write(
        tmp_path / "experiments" / "run1" / "model.py",
        "import sys\nimport torch\nsys.path.append('../..')\nfrom common.layers import Block\nclass Net(Block): pass\n",
    )
    assert scan_file(str(script)).classes == ["Net"]


def test_classmethod_factories_build_models():
    asked = []

    def check(dotted):
        asked.append(dotted)
        verdicts = {"hub_like.Net": True, "hub_like.Net.from_config": True, "hub_like.Config.from_pretrained": False}
        return verdicts.get(dotted, "not installed")

    source = (
        "import torch\nimport torch.nn as nn\nfrom hub_like import Net, Config\n"
        "from transformers import AutoModel, AutoModelForCausalLM, AutoConfig, AutoTokenizer\n"
        "class Own(nn.Module):\n    @classmethod\n    def from_config(cls, cfg):\n        return cls()\n"
        "    @staticmethod\n    def build(depth=2):\n        return Own()\n    def method(self):\n        return self\n"
        "class Child(Own): pass\nclass Sub(Net): pass\n"
        "class Cfg:\n    @classmethod\n    def from_config(cls, c):\n        return cls()\n"
        "a = Own.from_config(None)\nb = Child.build()\nc = Net.from_config(None).eval()\nd = Sub.from_config(None)\n"
        "e = AutoModel.from_config(cfg)\nf = AutoModelForCausalLM.from_pretrained('x')\n"
        "g = Own.method(None)\nh = Cfg.from_config(None)\ni = Config.from_pretrained('x')\n"
        "j = AutoConfig.from_pretrained('x')\nk = AutoTokenizer.from_pretrained('x')\n"
    )  # fmt: skip
    scan = scan_source(source, "/nonexistent/f.py", project=Project(check))
    assert scan.instances == ["a", "b", "c", "d", "e", "f"]
    assert not [a for a in asked if a.startswith("transformers.AutoModel")]  # known: transformers is not imported
    assert scan.classes == scan.blocks == ["Own", "Child", "Sub"]  # each instance replaces its class


def test_libraries_are_read_for_torch_imports_without_importing_them(tmp_path, monkeypatch):
    from netlint.load.libraries import uses_torch

    site = tmp_path / "site-packages"
    write(site / "lazy_netlint" / "__init__.py", '"""Models."""\n')
    write(site / "lazy_netlint" / "deep" / "nets.py", "def build():\n    import numpy, torch.nn as nn\n")
    write(site / "word_netlint.py", '"""Works with torch tensors too:\n\n>>> import torch\n"""\nimport torchx_like\n')
    write(site / "word_netlint_tests" / "tests" / "test_x.py", "import torch\n")  # a library's own tests
    write(tmp_path / "project" / "mine_netlint.py", "import torch\n")  # not installed: the user's code
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(tmp_path / "project"))
    assert uses_torch("lazy_netlint") is True and uses_torch("word_netlint") is False
    assert uses_torch("word_netlint_tests") is False
    assert uses_torch("mine_netlint") is None and uses_torch("not_there_netlint") is None
    assert uses_torch("monai") is True  # a known torch package: nothing read
    assert not [m for m in sys.modules if m.split(".")[0].endswith("_netlint")]


def test_calls_into_libraries_that_use_torch_are_asked_about_and_no_others(tmp_path, monkeypatch):
    """Issue 18 N1 and the files without torch: a library function is a model constructor when the call
    check says so, and it is asked only where the library's source imports torch; a library class is
    asked about in files that import torch, or when its library imports torch."""
    site = tmp_path / "site-packages"
    write(site / "nets_netlint" / "__init__.py", "from .zoo import *\n")
    write(site / "nets_netlint" / "zoo.py", "import torch.nn as nn\n")
    write(site / "web_netlint.py", "class App: pass\ndef make_app(): return App()\n")
    monkeypatch.syspath_prepend(str(site))
    asked: list[str] = []

    def check(answers):
        def ask(dotted):
            asked.append(dotted)
            return answers.get(dotted, False)

        return ask

    classes = check({"nets_netlint.SmallNet": True})
    calls = check({"nets_netlint.small_net": True, "nets_netlint.MODELS.build": True, "nets_netlint.Factory": True})
    source = (
        "import numpy as np\nimport nets_netlint\nfrom nets_netlint import small_net, SmallNet, Factory, table\n"
        "import web_netlint\n"
        "a = small_net()\nb = SmallNet()\nc = nets_netlint.MODELS.build(cfg)\nd = Factory()\n"
        "e = table()\nf = np.load('x')\ng = web_netlint.make_app()\nh = web_netlint.App()\ni = random_split(x, [1])\n"
    )  # fmt: skip
    for header in ("", "from torch.utils.data import random_split\n"):  # without and with a torch import
        asked.clear()
        scan = scan_source(header + source, "/nonexistent/f.py", project=Project(classes, calls))
        assert scan.instances == ["a", "b", "c", "d"]
        assert asked == ["nets_netlint.small_net", "nets_netlint.SmallNet", *["nets_netlint.MODELS.build"] * 2,
                         "nets_netlint.Factory", "nets_netlint.Factory", "nets_netlint.table"] + [
                         "web_netlint.App"] * bool(header)  # fmt: skip
    # Without a call check (notebooks' own scan), a function is not a model: nothing says so.
    assert scan_source(source, "/nonexistent/f.py", project=Project(classes)).instances == ["b"]


def test_library_functions_that_only_may_build_a_model_are_guesses_in_scripts(tmp_path, monkeypatch):
    """A call check's None (no return annotation tells) counts, but in a file with top-level code the
    instances that rest only on it are listed as guesses (the loader does not import the file for them)."""
    site = tmp_path / "site-packages"
    write(site / "guess_netlint.py", "import torch\n")
    monkeypatch.syspath_prepend(str(site))
    answers = {"guess_netlint.maybe": None, "guess_netlint.sure": True}
    project = Project(lambda dotted: False, answers.__getitem__)
    body = "import guess_netlint as g\na = g.maybe()\nb = g.maybe().eval()\n"
    for extra, guesses in [("", []), ("for _ in range(2):\n    pass\n", ["a", "b"]),
                           ("c = g.sure()\nfor _ in range(2):\n    pass\n", ["a", "b"])]:  # fmt: skip
        scan = scan_source(body + extra, str(tmp_path / "f.py"), project=project)
        assert scan.guesses == guesses and scan.instances == ["a", "b", "c"][: 2 + ("sure" in extra)]


def test_auto_classes_of_transformers_and_diffusers_are_known():
    source = (
        "from diffusers import AutoModel, AutoPipelineForText2Image\nimport transformers\n"
        "a = AutoModel.from_config(cfg)\nb = AutoModel.from_pretrained('x')\n"
        "c = transformers.AutoModelForCausalLM.from_config(cfg)\nd = AutoPipelineForText2Image.from_pretrained('x')\n"
    )  # fmt: skip
    assert found(source) == ([], ["a", "b", "c"])  # decided from the table: nothing imported

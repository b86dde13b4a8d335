"""Models of any size: files are imported on the meta device, real builds happen only where values are
needed and fit, and what goes wrong names the model's size. (The 8B and 70B runs: benchmarks/scale.py.)"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import warnings

import pytest
import torch

import netlint
import netlint.memory
import netlint.probing.budget as budget_module
from netlint.errors import NetlintError
from netlint.load.models import resolve
from netlint.options import Options
from netlint.report import rich_report
from netlint.run.targets import check_targets

from .conftest import write

WIDE = """
import torch
import torch.nn as nn

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = nn.Sequential(nn.Linear(20000, 20000), nn.ReLU(), nn.Linear(20000, 10)).to(device)  # 1.6 GB in float32
"""


def only_spec(path):
    loaded = resolve(str(path))
    assert not loaded.errors, [e.text for e in loaded.errors]
    [spec] = loaded.models
    return spec


def test_a_module_level_model_allocates_no_weights(tmp_path):
    spec = only_spec(write(tmp_path / "wide_meta.py", WIDE))
    assert spec.real_import is None and spec.build() == ("meta", "")
    assert all(t.is_meta for t in [*spec.instance.parameters(), *spec.instance.buffers()])


def test_the_worker_never_holds_the_weights(tmp_path):
    """A 1.6 GB module-level model, checked in a worker: its peak stays far below the weights."""
    f = write(tmp_path / "wide_rss.py", WIDE)
    read, send = os.pipe()
    pid = os.fork()
    if pid == 0:  # a process of its own, so that RUSAGE_CHILDREN counts only this check's worker
        try:
            with open("/proc/self/statm") as fh:
                before = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")  # inherited by the worker
            report = netlint.check(str(f))
            worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            os.write(send, json.dumps([worker - before, [e.text for e in report.errors]]).encode())
        finally:
            os._exit(0)
    os.close(send)
    with os.fdopen(read) as fh:
        grown, errors = json.loads(fh.read())
    os.waitpid(pid, 0)
    assert not errors
    assert grown < 500e6, f"the worker grew by {grown / 1e6:.0f} MB for a model of 1600 MB"


@pytest.mark.parametrize(
    "idiom",
    [
        "model = Net().cuda()",  # stays on meta, even without CUDA
        "model = Net().to('cpu', torch.bfloat16)",
        "model = Net().half().eval()",
        "model = Net()\nmodel.load_state_dict(torch.load(CHECKPOINT))",  # real weights: no values on meta
        "model = Net()\nfor p in model.fc.parameters():\n    p.requires_grad_(False)",
        "g = torch.Generator().manual_seed(0)\nmodel = Net()\nnn.init.normal_(model.fc.weight, generator=g)",
        "model = Net()\nmodel.register_buffer('steps', torch.ones(4))",
    ],
)
def test_idioms_that_need_no_values_stay_on_meta(tmp_path, idiom):
    checkpoint = tmp_path / "net.pt"
    net = f"""
import torch
import torch.nn as nn

CHECKPOINT = {str(checkpoint)!r}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(self.fc(x))

"""
    torch.save({"fc.weight": torch.ones(4, 8), "fc.bias": torch.ones(4), "bn.weight": torch.ones(4),
                "bn.bias": torch.zeros(4), "bn.running_mean": torch.zeros(4), "bn.running_var": torch.ones(4),
                "bn.num_batches_tracked": torch.tensor(0)}, checkpoint)  # fmt: skip
    f = write(tmp_path / f"idiom_{abs(hash(idiom))}.py", net + idiom + "\n")
    with warnings.catch_warnings(record=True) as caught:  # they would be notes of the report
        warnings.simplefilter("always")
        spec = only_spec(f)
    assert not [str(w.message) for w in caught if "meta" in str(w.message)]  # torch's words about meta copies
    model = spec.instance
    assert spec.build() == ("meta", "") and all(t.is_meta for t in [*model.parameters(), *model.buffers()])
    if "requires_grad_" in idiom:
        assert not any(p.requires_grad for p in model.fc.parameters())  # metadata changes still happen
    if "bfloat16" in idiom:
        assert model.fc.weight.dtype == torch.bfloat16


@pytest.mark.parametrize(
    ("needs", "error"),
    [
        ("n = int(torch.tensor(3))", "Tensor.item() cannot be called on meta tensors"),
        ("n = len(torch.ones(3).tolist())", "Cannot copy out of meta tensor"),
        ("n = torch.ones(3).numpy().size", "can't convert meta device type tensor to numpy"),
        ("n = 3 if torch.ones(1) else 1", "Tensor.item() cannot be called on meta tensors"),  # a tensor in an if
    ],
)
def test_an_import_that_needs_values_is_imported_again_with_real_tensors(tmp_path, needs, error):
    source = f"""
import torch
import torch.nn as nn

{needs}
model = nn.Sequential(*[nn.Linear(6, 6) for _ in range(n)], nn.BatchNorm1d(6))
"""
    spec = only_spec(write(tmp_path / f"needs_{abs(hash(needs))}.py", source))
    build, why = spec.build()
    assert build == "real" and why.startswith("its file's import needs tensor values: ") and error in why
    assert len(spec.instance) == 4 and not any(p.is_meta for p in spec.instance.parameters())
    assert all(t.is_meta for t in spec.meta().parameters())  # the analysis still runs on a meta copy


def test_a_model_loaded_whole_at_import_keeps_its_weights(tmp_path):
    saved = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    torch.save(saved, tmp_path / "whole.pt")
    f = write(tmp_path / "loads_whole.py", f"import torch\n\nmodel = torch.load({str(tmp_path / 'whole.pt')!r}, "
              "weights_only=False)\n")  # fmt: skip
    spec = resolve(f"{f}:model").models[0]
    assert spec.build() == ("real", "its file makes it with real tensors (an explicit device, torch.load)")
    assert torch.equal(spec.instance[0].weight, saved[0].weight) and torch.equal(spec.real()[0].weight, saved[0].weight)


def test_the_report_says_which_build_was_used(tmp_path):
    f = write(tmp_path / "needs_values_cli.py", "import torch.nn as nn, torch\nn = int(torch.tensor(2))\n"
              "model = nn.Sequential(nn.Linear(4, 4, bias=True), nn.BatchNorm1d(4))\n")  # fmt: skip
    report = check_targets([str(f)], Options(probe=False))
    [model] = report.models
    data = model.to_dict()
    assert data["build"] == "real" and "Tensor.item() cannot be called on meta tensors" in data["build_reason"]
    assert [x.code for x in model.findings] == ["NL002"]
    out = io.StringIO()
    rich_report.render(report, out, color=False)
    assert "real weights (its file's import needs tensor values: RuntimeError: Tensor.item()" in out.getvalue()


def test_a_real_import_that_cannot_fit_is_refused_with_the_size_reached(tmp_path, monkeypatch):
    source = "import torch\nimport torch.nn as nn\n\nhead = nn.Linear(20000, 20000)\nn = int(torch.tensor(2))\n"
    f = write(tmp_path / "too_big_for_real.py", source)
    monkeypatch.setattr(netlint.memory, "available_memory", lambda device="cpu": (50_000_000, "available RAM"))
    with pytest.raises(NetlintError) as raised:
        resolve(str(f))
    text = raised.value.text
    assert "the file's import needs tensor values (RuntimeError: Tensor.item() cannot be called" in text
    assert "had already reached 400 M parameters, 1.6 GB in float32, more than the 50 MB that available RAM" in text
    assert "too_big_for_real.py:Name" in text


def test_a_real_build_imports_the_file_again_with_its_siblings_and_weights(tmp_path):
    """The probe needs values: a module-level instance is built again from a real import of its file,
    whose sibling modules are imported again too (their module-level tensors were meta)."""
    checkpoint = tmp_path / "rebuild.pt"
    torch.save({"fc.weight": torch.full((4, 4), 0.5), "fc.bias": torch.zeros(4)}, checkpoint)
    write(tmp_path / "rebuild_sibling.py", "import torch\n\nSCALE = torch.full((4,), 2.0)\n")
    f = write(tmp_path / "rebuild_net.py", f"""
import torch
import torch.nn as nn
from rebuild_sibling import SCALE

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("scale", SCALE.clone())

    def forward(self, x):
        return self.fc(x) * self.scale

model = Net()
model.load_state_dict(torch.load({str(checkpoint)!r}), strict=False)
""")  # fmt: skip
    spec = only_spec(f)
    sibling = sys.modules["rebuild_sibling"]
    assert spec.instance.fc.weight.is_meta and sibling.SCALE.is_meta
    real = spec.real()
    assert torch.equal(real.fc.weight, torch.full((4, 4), 0.5)) and torch.equal(real.scale, torch.full((4,), 2.0))
    assert sys.modules["rebuild_sibling"] is sibling and spec.instance.fc.weight.is_meta  # the meta world stays


DROPOUT_BN = """
import torch.nn as nn

model = nn.Sequential(nn.Linear(16, 32), nn.Dropout(0.3), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4))
"""


def test_the_probe_of_a_module_level_model_measures_a_seeded_real_build(tmp_path):
    f = write(tmp_path / "probed_instance.py", DROPOUT_BN)
    first, second = (netlint.check(str(f), probe=True, batch_size=32) for _ in range(2))
    assert not first.errors and first.models[0].build == "meta"
    assert first.probe is not None and first.probe.layers[0].module == "2"
    assert first.probe.to_dict() == second.probe.to_dict()  # same weights every run


def test_the_probe_of_a_model_too_big_for_memory_is_skipped_with_its_size(tmp_path, monkeypatch):
    f = write(tmp_path / "probe_too_big.py", DROPOUT_BN)
    monkeypatch.setattr(budget_module, "available_memory", lambda device="cpu": (4000, "available RAM"))
    report = netlint.check(str(f), probe=True, probe_budget=10)  # the worker is forked: it sees the patch
    [model] = report.models
    assert [x.code for x in model.findings] == ["NL001"] and model.probe is None  # the static findings stand
    assert model.probe_note == (
        "skipped: 740 parameters, 3 kB in float32, more than half of the 4 kB that available RAM leaves; the "
        "probe needs a real build (--probe-budget 0 forces it)"
    )


def test_the_probe_counts_the_other_models_its_files_real_import_builds(tmp_path, monkeypatch):
    """A real build of a module-level model imports its file again: with every other model of it."""
    f = write(
        tmp_path / "probe_beside_big.py", DROPOUT_BN.replace("model =", "small =") + "big = nn.Linear(2000, 2000)\n"
    )
    monkeypatch.setattr(budget_module, "available_memory", lambda device="cpu": (20_000_000, "available RAM"))
    report = netlint.check(f"{f}:small", probe=True, probe_budget=10)
    assert report.models[0].probe_note == (
        "skipped: 4.0 M parameters, 16 MB in float32 (its file imported again with real tensors, every module-level "
        "model of it), more than half of the 20 MB that available RAM leaves; the probe needs a real build "
        "(--probe-budget 0 forces it)"
    )


def test_a_data_dependent_forward_of_a_model_too_big_for_a_real_copy_is_refused(tmp_path, monkeypatch):
    f = write(tmp_path / "data_dependent_big.py", """
import torch.nn as nn

class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 64)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else x

model = Gate()
""")  # fmt: skip
    monkeypatch.setattr(netlint.memory, "available_memory", lambda device="cpu": (1000, "available RAM"))
    report = check_targets([str(f)], Options(probe=False))
    [error] = report.errors
    assert (
        "its forward needs tensor values (data-dependent control flow), so netlint would run it on a real"
        in (error.text)
        and "4.2 k parameters, 17 kB in float32, more than half of the 1 kB" in error.text
    )


KILLED_WHILE_IMPORTING = """
import os
import signal

import torch
import torch.nn as nn

n = int(torch.tensor(2))  # needs a value: imported again with real tensors
layers = nn.Sequential(*[nn.Linear(1000, 1000) for _ in range(n)])
if not layers[0].weight.is_meta:
    os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
"""

KILLED_WHILE_PROBING = """
import os
import signal

import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.drop, self.bn = nn.Linear(1000, 1000), nn.Dropout(0.5), nn.BatchNorm1d(1000)

    def forward(self, x):
        if not x.is_meta:
            os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
        return self.bn(self.drop(self.fc(x)))

model = Net()
"""


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (KILLED_WHILE_IMPORTING, ["killed by SIGKILL while importing", "the out-of-memory killer: the real weights it "
                                  "had built came to 2.0 M parameters, 8 MB in float32",
                                  "Its file's import needs tensor values"]),
        (KILLED_WHILE_PROBING, ["killed by SIGKILL while probing", "the out-of-memory killer: the real weights it had "
                                "built came to 1.0 M parameters, 4 MB in float32", "--no-probe checks it statically"]),
    ],
)  # fmt: skip
def test_an_out_of_memory_kill_names_the_size_and_what_to_do(tmp_path, source, said):
    f = write(tmp_path / f"killed_{len(source)}.py", source)
    report = netlint.check(str(f), probe=True, probe_budget=0)
    [error] = report.errors
    for words in said:
        assert words in error.text, error.text
    assert "smaller input" not in error.text

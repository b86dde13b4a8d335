"""NL013's losses in sight: read from the syntax trees of the checked files, never imported."""

from __future__ import annotations

from netlint.findings import Severity
from netlint.load.losses import losses_in_file, losses_in_sight, target_files
from netlint.options import Options
from netlint.run.targets import check_targets

from .conftest import write

MODEL = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(x).softmax(dim=1)
"""


def test_names_resolve_through_imports_and_aliases(tmp_path):
    f = write(tmp_path / "train.py", (
        "import torch\nfrom torch import nn\nfrom torch.nn.functional import nll_loss as nl\n"
        "import torch.nn.functional as F\n"
        "def step(m, x, y):\n"
        "    return nl(m(x), y) + torch.nn.modules.loss.BCEWithLogitsLoss()(m(x), y) + F.binary_cross_entropy(x, y)\n"
    ))  # fmt: skip
    assert losses_in_file(str(f)) == {"F.nll_loss", "nn.BCEWithLogitsLoss", "F.binary_cross_entropy"}


def test_strings_comments_and_foreign_names_do_not_count(tmp_path):
    f = write(tmp_path / "notes.py", (
        '# criterion = nn.CrossEntropyLoss()\ndoc = "use F.cross_entropy"\n'
        "from mylib import nn\nloss = nn.CrossEntropyLoss\n"
    ))  # fmt: skip
    assert losses_in_file(str(f)) == frozenset()


def test_unparsable_files_and_directories(tmp_path):
    write(tmp_path / "pkg" / "broken.py", "def (:\n")
    good = write(tmp_path / "pkg" / "loss.py", "import torch.nn as nn\nc = nn.CrossEntropyLoss()\n")
    files = target_files([str(tmp_path / "pkg"), f"{good}:Net", "torchvision.models:resnet18"])
    assert sorted(files) == sorted([str(tmp_path / "pkg" / "broken.py"), str(good), str(good)])
    assert losses_in_sight(files) == {"nn.CrossEntropyLoss"}


def _nl013(targets):
    # train.py defines no model (strict=False: a note, as with --allow-no-model); its loss is still in sight.
    report = check_targets(targets, Options(select=["NL013"], probe=False, strict=False))
    assert not report.errors, [e.text for e in report.errors]
    return [f for f in report.findings if f.code == "NL013"]


def test_softmax_output_is_info_without_a_loss_in_sight(tmp_path):
    [finding] = _nl013([str(write(tmp_path / "model.py", MODEL))])
    assert finding.severity == Severity.INFO and finding.data["losses"] == []


def test_a_logits_loss_in_another_checked_file_makes_it_a_warning(tmp_path):
    model = write(tmp_path / "model.py", MODEL)
    train = write(tmp_path / "train.py", "import torch.nn.functional as F\nloss = F.cross_entropy\n")
    [finding] = _nl013([str(model), str(train)])
    assert finding.severity == Severity.WARNING and finding.data["losses"] == ["F.cross_entropy"]
    assert "F.cross_entropy" in finding.message


def test_an_unrelated_loss_in_sight_gives_the_info(tmp_path):
    model = write(tmp_path / "model.py", MODEL + "\nimport torch.nn\ncriterion = torch.nn.BCELoss\n")
    [finding] = _nl013([str(model)])
    assert finding.severity == Severity.INFO and "nn.BCELoss" in finding.message

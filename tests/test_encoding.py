"""A model file in another encoding (PEP 263) is found, imported and located like a UTF-8 one."""

from __future__ import annotations

from netlint.options import Options
from netlint.run.targets import check_targets

LATIN1_MODEL = """# -*- coding: latin-1 -*-
import torch.nn as nn

# Réseau: the comment is Latin-1, not UTF-8.


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))
"""


def test_latin1_file_findings_point_at_their_lines(tmp_path):
    path = tmp_path / "latin1_model.py"
    path.write_bytes(LATIN1_MODEL.encode("latin-1"))
    report = check_targets([str(path)], Options(probe=False, select=["NL002"]))
    assert not report.errors, [e.text for e in report.errors]
    [finding] = report.findings
    assert finding.module == "conv" and finding.line == 10

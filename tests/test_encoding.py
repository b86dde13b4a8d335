"""A model file in another encoding (PEP 263) is found, imported and located like a UTF-8 one."""

from __future__ import annotations

from netlint.options import Options
from netlint.run.targets import check_targets

from .conftest import CONV_BN_NET

LATIN1_MODEL = (
    """# -*- coding: latin-1 -*-
import torch.nn as nn

# Réseau: the comment is Latin-1, not UTF-8.


"""
    + CONV_BN_NET
)


def test_latin1_file_findings_point_at_their_lines(tmp_path):
    path = tmp_path / "latin1_model.py"
    path.write_bytes(LATIN1_MODEL.encode("latin-1"))
    report = check_targets([str(path)], Options(probe=False, select=["NL002"]))
    assert not report.errors, [e.text for e in report.errors]
    [finding] = report.findings
    assert finding.module == "conv" and finding.line == 10

"""The codebase is ruff-clean, and the package installs its rules inside netlint only."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from .conftest import ROOT


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_wheel_ships_rules_as_netlint_rules(tmp_path):
    """rules/ installs as netlint.rules, with its examples; no top-level ``rules`` package."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = tmp_path.glob("netlint-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "rules" not in tops and "tests" not in tops and "examples" not in tops
    assert "netlint/rules/nl001_dropout_before_batchnorm.py" in names
    assert "netlint/rules/examples/nl001_bad.py" in names
    assert "netlint/graph/ir.py" in names
    assert {"netlint/report/html_report.css", "netlint/report/html_report.js"} <= set(names)  # the HTML page's

"""--write-baseline / --baseline / [tool.netlint] baseline: only new findings fail the run."""

from __future__ import annotations

import json

from .conftest import run_netlint, write

MODEL = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3)
        self.bn2 = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn2(self.conv2(self.bn(self.conv(x))))


class Wide(Net):
    pass
"""


def findings(result):
    data = json.loads(result.stdout)
    return sorted((f["code"], m["name"].rsplit(":", 1)[-1], f["module"]) for m in data["models"] for f in m["findings"])


def test_baseline_round_trip(tmp_path):
    write(tmp_path / "pyproject.toml", '[tool.netlint]\nprobe = false\nselect = ["NL002"]\n')
    model = write(tmp_path / "src" / "net.py", MODEL)
    recorded = run_netlint("check", "src", "--write-baseline", ".netlint-baseline.json", cwd=tmp_path)
    assert recorded.returncode == 0 and "Wrote 4 finding(s) to the baseline" in recorded.stderr
    entries = json.loads((tmp_path / ".netlint-baseline.json").read_text())["findings"]
    assert entries == [
        {"rule": "NL002", "file": "src/net.py", "module": "conv", "count": 2},  # Net and Wide: a repeated site
        {"rule": "NL002", "file": "src/net.py", "module": "conv2", "count": 2},
    ]

    # Lines shift, one more model repeats the site, and conv2 is fixed: the baseline is read from the
    # configuration (relative to its folder) while the check runs from a subfolder.
    changed = "# a new first line\n" + MODEL.replace("nn.Conv2d(8, 8, 3)", "nn.Conv2d(8, 8, 3, bias=False)")
    write(model, changed + "\n\nclass Third(Net):\n    pass\n")
    write(
        tmp_path / "pyproject.toml",
        '[tool.netlint]\nprobe = false\nselect = ["NL002"]\nbaseline = ".netlint-baseline.json"\n',
    )
    result = run_netlint("check", "net.py", "--format", "json", cwd=tmp_path / "src")
    assert result.returncode == 1
    assert findings(result) == [("NL002", "Third", "conv")]  # the count for the repeated site is exceeded once
    data = json.loads(result.stdout)
    assert data["summary"]["baselined"] == 2
    assert data["notes"] == [
        "fixed: 2 baselined findings no longer occur (NL002 src/net.py conv2 (x2)); "
        "refresh the baseline with --write-baseline ../.netlint-baseline.json"
    ]
    text = run_netlint("check", "net.py", "--format", "text", cwd=tmp_path / "src")
    assert "2 findings hidden by the baseline" in text.stdout.splitlines()[-1]

    # A run that selects other rules, or checks another file, does not call the baseline's findings fixed.
    write(tmp_path / "src" / "other.py", MODEL.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, bias=False)"))
    elsewhere = run_netlint("check", "other.py", "--format", "json", cwd=tmp_path / "src")
    assert json.loads(elsewhere.stdout)["notes"] == [] and elsewhere.returncode == 1  # other.py's conv2 is new


def test_bad_baselines_are_errors(tmp_path):
    write(tmp_path / "net.py", MODEL)
    missing = run_netlint("check", "net.py", "--no-probe", "--baseline", "nope.json", cwd=tmp_path)
    assert missing.returncode == 2 and "the baseline nope.json does not exist" in missing.stderr
    write(tmp_path / "bad.json", '{"findings": 3}')
    bad = run_netlint("check", "net.py", "--no-probe", "--baseline", "bad.json", cwd=tmp_path)
    assert bad.returncode == 2 and "bad.json is not a netlint baseline" in bad.stderr
    assert "Traceback" not in missing.stderr + bad.stderr

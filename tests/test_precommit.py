"""netlint as a pre-commit hook, with the real pre-commit program in a temporary git repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, write

MODEL = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3{bias})
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv(x))
"""


def hooks() -> dict[str, dict]:
    return {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}


def test_hook_definitions():
    defined = hooks()
    assert set(defined) == {"netlint", "netlint-system"}
    assert defined["netlint"]["language"] == "python" and defined["netlint-system"]["language"] == "system"
    for hook in defined.values():
        assert hook["entry"].startswith("netlint check") and "--no-probe" in hook["entry"]
        assert hook["types_or"] == ["python", "jupyter"] and "types" not in hook


@pytest.fixture
def repo(tmp_path):
    pytest.importorskip("pre_commit")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "NO_COLOR": "1",
    }  # fmt: skip
    work = tmp_path / "repo"
    work.mkdir()

    def run(*args):
        return subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=600)

    run("git", "init", "-q")
    # The hook exactly as .pre-commit-hooks.yaml defines it, as a local hook (no clone, no install).
    config = {"repos": [{"repo": "local", "hooks": [hooks()["netlint-system"]]}]}
    write(work / ".pre-commit-config.yaml", yaml.safe_dump(config))
    assert run(sys.executable, "-m", "pre_commit", "install").returncode == 0
    run("git", "add", ".pre-commit-config.yaml")
    assert run("git", "commit", "-qm", "config").returncode == 0
    return work, run


def test_commit_with_a_finding_is_refused_then_passes_after_the_fix(repo):
    work, run = repo
    write(work / "model.py", MODEL.format(bias=""))
    run("git", "add", "model.py")
    refused = run("git", "commit", "-m", "add model")
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "NL002 bias-before-batchnorm" in output and "model.py:7" in output
    write(work / "model.py", MODEL.format(bias=", bias=False"))
    run("git", "add", "model.py")
    accepted = run("git", "commit", "-m", "add model")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_a_staged_notebook_is_checked_without_running_its_training_cell(repo):
    from .test_notebooks import IMPORTS, NET, TRAINING, notebook

    work, run = repo
    marker = work.parent / "trained"
    training = f"open({str(marker)!r}, 'w').close()\n" + TRAINING
    cells = [("code", IMPORTS), ("code", NET), ("code", "model = Net()\n"), ("code", training)]
    write(work / "nb.ipynb", notebook(*cells))
    run("git", "add", "nb.ipynb")
    refused = run("git", "commit", "-m", "add notebook")
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "NL002 bias-before-batchnorm  conv  nb.ipynb:cell 2:4" in output and "not run: cell 4" in output
    write(work / "nb.ipynb", notebook(*cells).replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, bias=False)"))
    run("git", "add", "nb.ipynb")
    accepted = run("git", "commit", "-m", "add notebook")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert not marker.exists()


def test_commit_of_plain_python_files_passes_without_importing_them(repo):
    work, run = repo
    marker = work.parent / "imported"
    write(work / "util.py", f"open({str(marker)!r}, 'w').close()\nraise SystemExit(1)\n")
    write(work / "cli_tool.py", "import argparse\n\ndef main():\n    return argparse.ArgumentParser()\n")
    run("git", "add", "util.py", "cli_tool.py")
    result = run("git", "commit", "-m", "tools")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()


def test_plain_files_do_not_import_torch(tmp_path):
    files = [str(write(tmp_path / f"plain{i}.py", f"import os\n\nVALUE = {i}\n")) for i in range(20)]
    from .test_notebooks import notebook

    files.append(str(write(tmp_path / "plain.ipynb", notebook(("code", "import os\nwhile True:\n    pass\n")))))
    for flags, status in ((["--allow-no-model"], 0), ([], 2)):  # as the hook runs it; explicit files: no model
        code = (
            "import runpy, sys\n"
            f"sys.argv = ['netlint', 'check', '--no-probe', *{flags!r}, *{files!r}]\n"
            "try:\n    runpy.run_module('netlint', run_name='__main__')\n"
            "except SystemExit as exc:\n    code = exc.code\n"
            "print('torch' in sys.modules, code)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert result.stdout.strip().splitlines()[-1] == f"False {status}", result.stdout + result.stderr

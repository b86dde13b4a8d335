"""The command line, run in real processes as a user or CI would run it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from .conftest import EXAMPLES, FIXTURES, run_netlint, write


def test_examples_report_and_exit_status():
    result = run_netlint("check", "examples/", "--probe-budget", "0")  # no time budget: the same batch on any machine
    assert result.returncode == 1, result.stderr
    out = result.stdout
    for expected in (
        "examples/residual_bias.py:ResidualNet  4 findings",
        "NL002 bias-before-batchnorm  layer1.0.conv1  examples/residual_bias.py:16",
        "NL004 fc-head-instead-of-gap  fc  examples/mnist_fc_head.py:17",
        "examples/clean_resnet.py:CleanResNet  clean",
        "capture (cpu) for blocks.0, blocks.1, blocks.2, blocks.3",
        "fix: Create the layer with bias=False.",
        # NL005's hand-written stochastic depth asks for the probe; its skips are drawn once per batch, so
        # one probe cannot judge them: they stay informational.
        "12 findings (9 warnings, 3 infos) in 4 of 6 models",
    ):
        assert expected in out, f"{expected!r} not in output:\n{out}"
    assert "Traceback" not in out + result.stderr


def test_json_output():
    result = run_netlint("check", "examples/residual_bias.py", "examples/clean_resnet.py", "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [m["name"] for m in data["models"]] == [
        "examples/residual_bias.py:ResidualNet",
        "examples/clean_resnet.py:CleanResNet",
    ]
    finding = data["models"][0]["findings"][0]
    assert set(finding) >= {"code", "name", "severity", "module", "message", "file", "line", "fix", "related"}
    assert (finding["code"], finding["module"], finding["file"], finding["line"]) == (
        "NL002", "layer1.0.conv1", "examples/residual_bias.py", 16)  # fmt: skip
    assert finding["related"] == ["layer1.0.bn1"]
    assert data["errors"] == [] and data["summary"]["by_rule"] == {"NL002": 4}
    assert data["models"][0]["inputs"] == "8x3x32x32 float32"


def test_clean_exit_zero_and_fail_on():
    assert run_netlint("check", "examples/clean_resnet.py").returncode == 0
    assert run_netlint("check", "examples/mnist_fc_head.py", "--fail-on", "error").returncode == 0
    assert run_netlint("check", "examples/mnist_fc_head.py", "--fail-on", "info").returncode == 1


def test_bad_input_exits_2_and_other_targets_are_still_checked(tmp_path):
    broken = write(tmp_path / "broken.py", "import torch.nn as nn\nclass A(nn.Module:\n")
    result = run_netlint("check", "missing.py", str(broken), "examples/mnist_fc_head.py", "--format", "json")
    assert result.returncode == 2
    data = json.loads(result.stdout)
    assert [m["name"] for m in data["models"]] == ["examples/mnist_fc_head.py:MnistNet"]
    assert data["models"][0]["findings"][0]["code"] == "NL004"
    assert "missing.py: no such file or directory" in data["errors"][0]["message"]
    assert "syntax error at line 2" in data["errors"][1]["message"]
    assert "Traceback" not in result.stdout + result.stderr


def test_every_kind_of_bad_input_is_one_paragraph(tmp_path):
    cases = {
        "syntax.py": "import torch.nn as nn\nclass A(nn.Module:\n",
        "imports.py": "import torch.nn as nn\nimport nope_not_here\nclass A(nn.Module): pass\n",
        "args.py": "import torch.nn as nn\nclass A(nn.Module):\n    def __init__(self, c):\n        super().__init__()\n"
        "    def forward(self, x):\n        return x\n",
        "forward.py": "import torch.nn as nn\nclass A(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 4)\n    def forward(self, x):\n        raise RuntimeError('boom')\n",
    }
    for name, source in cases.items():
        write(tmp_path / name, source)
    targets = [*cases, "args.py:A", "nowhere.py", "no_such_mod:thing", "forward.py:nothing"]
    result = run_netlint("check", *targets, cwd=tmp_path)
    assert result.returncode == 2
    errors = result.stdout.split("errors\n", 1)[1].split("\n\n", 1)[0].strip().splitlines()
    assert len(errors) == len(targets), result.stdout
    for target, line in zip(targets, errors):
        assert line.strip().startswith(target.split(":")[0]), (target, line)
    assert "boom" in errors[3] and "needs constructor arguments (c)" in errors[4]
    assert "Traceback" not in result.stdout + result.stderr
    single = run_netlint("check", "syntax.py", cwd=tmp_path)
    assert single.returncode == 2 and "syntax error at line 2" in single.stdout


def test_user_prints_do_not_pollute_json(tmp_path):
    f = write(tmp_path / "noisy.py", "import torch.nn as nn\nprint('hello from import')\nclass N(nn.Module):\n"
              "    def __init__(self):\n        super().__init__()\n        print('building')\n        self.fc = nn.Linear(3, 3)\n"
              "    def forward(self, x):\n        print('forward')\n        return self.fc(x)\n")  # fmt: skip
    result = run_netlint("check", str(f), "--format", "json")
    assert json.loads(result.stdout)["models"][0]["name"].endswith("noisy.py:N")
    assert "hello from import" in result.stderr


def test_rules_and_explain():
    result = run_netlint("rules")
    assert result.returncode == 0
    for code in ("NL001", "NL002", "NL003", "NL004"):
        assert code in result.stdout
    explained = run_netlint("explain", "NL001")
    assert explained.returncode == 0
    for heading in ("What it does", "Why is this bad?", "Example", "How to fix", "References", "CVPR 2019"):
        assert heading in explained.stdout
    assert run_netlint("explain", "bias-before-batchnorm").returncode == 0
    unknown = run_netlint("explain", "NL999")
    assert unknown.returncode == 2 and "unknown rule 'NL999'" in unknown.stderr


def test_version_and_help_show_examples():
    from netlint import __version__

    assert run_netlint("--version").stdout.strip() == f"netlint {__version__}"
    for args in (["--help"], ["check", "--help"], ["rules", "--help"], ["explain", "--help"]):
        result = run_netlint(*args)
        assert result.returncode == 0 and "Examples:" in result.stdout and "netlint " in result.stdout, args


def test_console_script_matches_python_m():
    script = shutil.which("netlint", path=str(Path(sys.executable).parent))
    assert script, "the netlint console script is installed beside this Python"
    import subprocess

    env = {**os.environ, "NO_COLOR": "1"}
    direct = subprocess.run([script, "check", str(EXAMPLES / "mnist_fc_head.py"), "--format", "json"],
                            capture_output=True, text=True, env=env)  # fmt: skip
    module = run_netlint("check", str(EXAMPLES / "mnist_fc_head.py"), "--format", "json", fresh=True)
    assert (direct.returncode, direct.stdout) == (module.returncode, module.stdout)
    # The tests' usual runner forks the CLI from the test process: it must give the same bytes.
    forked = run_netlint("check", str(EXAMPLES / "mnist_fc_head.py"), "--format", "json")
    assert (forked.returncode, forked.stdout) == (module.returncode, module.stdout)


def test_the_forked_runner_shows_user_logging_as_a_fresh_process_does(tmp_path):
    """The tests' forked CLI must not hide what a user sees: pytest's logging handlers are gone."""
    model = (EXAMPLES / "mnist_fc_head.py").read_text()
    write(tmp_path / "logged.py", "import logging\nlogging.getLogger('user').warning('LOGGED-BY-USER-CODE')\n" + model)
    args = ("check", "logged.py", "--no-probe", "--format", "json")
    fresh, forked = run_netlint(*args, cwd=tmp_path, fresh=True), run_netlint(*args, cwd=tmp_path)
    assert "LOGGED-BY-USER-CODE" in fresh.stderr
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)


def test_select_and_ignore():
    result = run_netlint("check", str(EXAMPLES / "vgg_dropout_blocks.py"), "--select", "NL003", "--format", "json")
    assert json.loads(result.stdout)["summary"]["by_rule"] == {"NL003": 2}
    result = run_netlint("check", str(EXAMPLES / "vgg_dropout_blocks.py"), "--ignore", "NL001,NL003")
    assert result.returncode == 0


def test_input_shape_option():
    result = run_netlint("check", f"{FIXTURES / 'data_dependent.py'}:GatedNet", "-i", "4,3,8,8", "--format", "json")
    assert json.loads(result.stdout)["models"][0]["inputs"] == "4x3x8x8 float32"
    bad = run_netlint("check", "examples/", "--input-shape", "2,x")
    assert bad.returncode == 2 and "invalid --input-shape" in bad.stderr


def test_help_names_values_never_python_types_and_wrong_choices_read_plainly():
    """Every command's help: TARGET and FILE, never <str>, <int> or typer's {target}; a wrong choice without
    a validation library's "Value error," prefix; a bad target call names the argument, not an AST node."""
    import re

    from typer.testing import CliRunner

    from netlint.cli import app

    runner = CliRunner()
    for command in ("check", "recalibrate", "rules", "explain"):
        text = runner.invoke(app, [command, "--help"]).stdout
        assert not re.search(r"<(str|int|float|path|list\[str\])>|\{\w+\}", text), (command, text)
    assert "Usage: netlint recalibrate [OPTIONS] TARGET\n" in runner.invoke(app, ["recalibrate", "--help"]).stdout
    for args, expected in (
        (
            ["--fail-on", "critical"],
            "Invalid value for '--fail-on': 'critical' is not one of 'info', 'warning', 'error'.",
        ),
        (["--format", "xml"], "'xml' is not one of 'rich', 'text', 'json', 'sarif', 'github', 'html'."),
    ):
        result = runner.invoke(app, ["check", *args, "x.py"])
        assert result.exit_code == 2 and expected in result.output and "Value error" not in result.output
    result = run_netlint("check", "torchvision.models:vgg11(num_classes=len('ab'))", "--format", "json")
    (message,) = [e["message"] for e in json.loads(result.stdout)["errors"]]
    assert "num_classes=len('ab') is not a literal" in message and "<ast." not in message


def test_without_numpy_torchs_numpy_note_is_not_shown(tmp_path):
    """netlint never uses torch's NumPy bridge, so torch's "Failed to initialize NumPy" (printed when it is
    imported without numpy) is not the user's business. A fresh interpreter, where torch is imported for the
    first time, with a numpy that cannot be imported shadowing the real one."""
    write(
        tmp_path / "shadow" / "numpy" / "__init__.py",
        "raise ModuleNotFoundError('No module named numpy', name='numpy')\n",
    )
    model = write(tmp_path / "net.py", (
        "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 8, 3)\n        self.bn = nn.BatchNorm2d(8)\n\n"
        "    def forward(self, batch):  # a dict input: its ops load more of torch (the NumPy bridge too)\n"
        "        return self.bn(self.conv(batch['image']))\n"
    ))  # fmt: skip
    result = run_netlint("check", str(model), "-i", "image=2,3,8,8", "--no-probe", "--format", "json", fresh=True,
                         env={"PYTHONPATH": str(tmp_path / "shadow")})  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "NumPy" not in result.stderr and "NumPy" not in " ".join(json.loads(result.stdout)["notes"])

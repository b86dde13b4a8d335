"""One worker per target: what the parent keeps, what comes back, --jobs, --timeout, --debug, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import netlint
from netlint.cli import app
from netlint.config.settings import ConfigError, load_settings
from netlint.options import Options
from netlint.run.targets import check_targets

from .conftest import EXAMPLES, ROOT, RULE_EXAMPLES, write

NET = """
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        {forward}
        return self.bn(self.conv(x))
"""


def net(forward: str = "pass") -> str:
    return NET.replace("{forward}", forward)


def test_jobs_do_not_change_a_byte_of_the_report():
    targets = [str(EXAMPLES / "stochastic_depth.py"), *(str(p) for p in sorted(RULE_EXAMPLES.glob("nl00[1-3]_*.py")))]
    outputs = []
    for jobs in ("1", "3"):
        result = CliRunner().invoke(app, ["check", *targets, "--format", "json", "--jobs", jobs, "--batch-size", "4"])
        assert result.exit_code == 1, result.output
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    data = json.loads(outputs[0])
    assert len(data["models"]) >= 7 and any(m["probe"] for m in data["models"])


def test_the_parent_never_imports_user_code(tmp_path):
    f = write(tmp_path / "usermodel_xyz.py", net() + "import sys\nsys.path.append('/nowhere')\n")
    path, argv = list(sys.path), list(sys.argv)
    report = check_targets([str(f)])
    assert [m.name.rsplit(":", 1)[1] for m in report.models] == ["Net"] and not report.errors
    assert "usermodel_xyz" not in sys.modules and sys.path == path and sys.argv == argv
    assert report.models[0].graph is None and report.models[0].layer_sites  # data, not the graph
    assert not (tmp_path / "__pycache__").exists()


def test_a_call_target_with_colons_is_still_a_file_everywhere(tmp_path, monkeypatch):
    """``file.py:Net(cfg={'a': 1})``: the file part ends at ``.py:`` (load.split_target) for the
    worker's roots and sys.argv, the report's name, the losses in sight and the configuration."""
    from netlint.config.settings import find_config
    from netlint.load.losses import target_files
    from netlint.load.targets import display_target, target_path

    f = write(
        tmp_path / "m.py",
        "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self, cfg): super().__init__()\n",
    )
    write(tmp_path / "pyproject.toml", "[tool.netlint]\n")
    target = f"{f}:Net(cfg={{'a': 1}})"
    assert target_path(target) == (str(f), False)
    monkeypatch.chdir(tmp_path)
    assert display_target(target) == "m.py:Net(cfg={'a': 1})"
    assert target_files([target]) == [str(f)]
    assert find_config([target], cwd="/") == tmp_path / "pyproject.toml"


def test_user_code_sees_only_its_file_in_sys_argv(tmp_path):
    f = write(
        tmp_path / "m.py",
        net("assert sys.argv == [__file__], sys.argv").replace("import torch", "import sys\nimport torch"),
    )
    report = check_targets([str(f)])
    assert not report.errors and report.models


def test_a_worker_killed_from_outside_names_the_signal(tmp_path):
    f = write(tmp_path / "m.py", net("os.kill(os.getpid(), 9)").replace("import torch", "import os\nimport torch"))
    report = check_targets([str(f)])
    [error] = report.errors
    assert "killed by SIGKILL while tracing `" in error.text and "out-of-memory" in error.text


def test_timeout_while_building_names_the_phase_and_line(tmp_path):
    f = write(tmp_path / "slow.py", net().replace("super().__init__()", "super().__init__()\n        while True: pass"))
    start = time.monotonic()
    report = check_targets([str(f)], Options(timeout=2))
    assert time.monotonic() - start < 30
    [error] = report.errors
    assert "did not finish within 2 s while building `" in error.text
    assert f"(last user line reached: {f}:8)" in error.text and "--timeout" in error.text


def test_debug_prints_the_traceback_only_when_asked(tmp_path, capfd):
    f = write(tmp_path / "m.py", net().replace("super().__init__()", "super().__init__()\n        raise SystemExit(5)"))
    quiet = check_targets([str(f)])
    assert "sys.exit(5) while building" in quiet.errors[0].text
    assert "Traceback" not in capfd.readouterr().err
    check_targets([str(f)], Options(debug=True))
    assert "Traceback" in capfd.readouterr().err


def test_api_with_a_model_object_keeps_the_callers_interpreter(tmp_path):
    write(tmp_path / "helper_mod_xyz.py", "VALUE = 1\n")
    folder = str(tmp_path)

    class Exits(nn.Module):
        def forward(self, x):
            sys.path.insert(0, folder)
            import helper_mod_xyz  # noqa: F401

            sys.exit(3)

    path = list(sys.path)
    report = netlint.check(Exits(), torch.empty(2, 3, device="meta"))
    assert report.errors and "sys.exit(3)" in report.errors[0].text
    assert sys.path == path and "helper_mod_xyz" not in sys.modules


def test_api_with_a_target_runs_it_in_a_worker(tmp_path):
    f = write(tmp_path / "apimodel_xyz.py", net())
    report = netlint.check(f"{f}:Net")
    assert [x.code for x in report.findings] == ["NL002"]
    assert "apimodel_xyz" not in sys.modules


def test_timeout_setting_is_validated(tmp_path):
    good = write(tmp_path / "good.toml", "timeout = 30\n")
    assert load_settings(good).timeout == 30.0
    bad = write(tmp_path / "bad.toml", 'timeout = "long"\n')
    with pytest.raises(ConfigError, match="timeout must be a number of seconds"):
        load_settings(bad)


def test_plain_files_keep_the_parent_torch_free(tmp_path):
    files = [str(write(tmp_path / f"tool_{i}.py", "import json\nprint(json.dumps(1))\n")) for i in range(3)]
    code = (
        # Explicit files without a model are errors unless allowed (--allow-no-model, strict=False).
        "import sys\nfrom netlint.options import Options\nfrom netlint.run.targets import check_targets\n"
        f"report = check_targets({files!r}, Options(strict=False))\n"
        "assert report.files == 3 and not report.errors\nassert 'torch' not in sys.modules, 'torch imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_one_model_file_is_checked_without_torch_in_the_parent(tmp_path):
    """A pre-commit run on one file: the worker imports torch itself; the parent's warm-up, shared
    only by several workers, is skipped (the parent exits without torch's slow teardown)."""
    f = write(tmp_path / "one.py", net())
    code = (
        "import sys\nfrom netlint.options import Options\nfrom netlint.run.targets import check_targets\n"
        f"report = check_targets([{str(f)!r}], Options(probe=False))\n"
        "assert [m.name.rsplit(':', 1)[1] for m in report.models] == ['Net'] and not report.errors\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_user_prints_reach_the_real_stderr_not_the_parents_stand_ins(tmp_path, monkeypatch, capfd):
    """A parent whose sys.stdout/stderr are stand-ins (a progress bar's, CliRunner's): a worker
    writes to the real descriptors, never through an inherited object."""
    import io

    f = write(tmp_path / "m.py", "print('PRINTED-BY-USER-CODE')\n" + net())
    stand_in = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stand_in)
    monkeypatch.setattr(sys, "stderr", stand_in)
    report = check_targets([str(f)], Options(probe=False))
    assert report.models and not report.errors
    assert "PRINTED-BY-USER-CODE" not in stand_in.getvalue()
    assert "PRINTED-BY-USER-CODE" in capfd.readouterr().err


def test_ctrl_c_stops_every_worker_and_prints_what_finished(tmp_path):
    hang = write(
        tmp_path / "hang.py",
        net("print('forward started', file=sys.stderr, flush=True)\n        while True: pass").replace(
            "import torch", "import sys\nimport torch"
        ),
    )
    done = write(tmp_path / "done.py", net())
    plain = write(tmp_path / "plain.py", "X = 1\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "netlint", "check", str(plain), str(done), str(hang), "--format", "json", "--no-probe",
         "--jobs", "1", "--allow-no-model"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # A test run started as a background job (`cmd &`) ignores SIGINT, and so would the child:
        # give it the disposition a terminal gives.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        for line in process.stderr:  # user prints go to stderr
            if "forward started" in line:
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130, err[-2000:]
    data = json.loads(out)
    assert [m["name"].rsplit("/", 1)[1] for m in data["models"]] == ["done.py:Net"]
    [error] = data["errors"]
    assert error["target"].endswith("hang.py") and error["message"].endswith("not checked: interrupted (Ctrl-C).")
    assert data["summary"]["files"] == 3
    survivors = subprocess.run(["pgrep", "-f", str(hang)], capture_output=True, text=True).stdout.split()
    assert survivors == []  # the worker (same command line as its parent) is gone too


def test_the_last_user_line_is_never_a_frame_outside_netlint(tmp_path):
    """A stack as a timed-out worker sees it: the console script (a user file) called netlint, which
    called library code. The launcher is netlint's caller, not user code that ran."""
    from types import SimpleNamespace

    from netlint.load import models
    from netlint.run.status import where_in

    def frame(file, name, line=1, **local):
        code = compile(f"def {name}(): pass", str(file), "exec").co_consts[0]
        return SimpleNamespace(f_code=code, f_lineno=line, f_locals=local)

    library = os.path.join(os.path.dirname(json.__file__), "slow.py")  # the standard library: not user code
    spec = SimpleNamespace(name="lib.slow:build")
    launcher = frame(tmp_path / "bin" / "netlint", "main", 8)
    stack = [launcher, frame(models.__file__, "build_meta", spec=spec), frame(library, "build", 40)]
    where = where_in(stack)
    assert (where.phase, where.name, where.line) == ("building", "lib.slow:build", "")
    user = frame(tmp_path / "model.py", "forward", 12)
    assert where_in([*stack, user]).line.endswith("model.py:12")

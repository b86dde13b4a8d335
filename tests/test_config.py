"""[tool.netlint] configuration, command-line overrides, and inline suppressions."""

from __future__ import annotations

import json

from .conftest import run_netlint, write

BIAS = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn2 = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn2(self.conv2(self.drop(self.bn(self.conv(x)))))
"""


def project(tmp_path, config: str, source: str = BIAS):
    write(tmp_path / "pyproject.toml", f"[project]\nname = 'demo'\n\n[tool.netlint]\n{config}\n")
    return write(tmp_path / "src" / "models" / "net.py", source)


def codes(result):
    data = json.loads(result.stdout)
    return sorted((f["code"], f["severity"]) for m in data["models"] for f in m["findings"])


def test_nearest_pyproject_is_found_walking_up(tmp_path):
    model = project(tmp_path, 'select = ["NL002"]\nprobe = false')
    result = run_netlint("check", str(model), "--format", "json", cwd=tmp_path / "src")
    assert codes(result) == [("NL002", "warning")]


def test_select_ignore_severity_fail_on(tmp_path):
    model = project(
        tmp_path, 'ignore = ["NL003"]\nfail-on = "error"\nprobe = false\n[tool.netlint.severity]\nNL001 = "error"'
    )
    result = run_netlint("check", str(model), "--format", "json", cwd=tmp_path)
    assert codes(result) == [("NL001", "error"), ("NL002", "warning")]
    assert result.returncode == 1  # an error-level finding
    softer = run_netlint("check", str(model), "--ignore", "NL001", "--format", "json", cwd=tmp_path)
    assert codes(softer) == [("NL002", "warning"), ("NL003", "warning")]  # --ignore replaces the file's
    assert softer.returncode == 0  # fail-on = "error" from the file still applies


def test_per_file_and_per_module_ignores(tmp_path):
    model = project(tmp_path, 'probe = false\n[tool.netlint.per-file-ignores]\n"src/models/*.py" = ["NL002"]\n'
                    '[tool.netlint.per-module-ignores]\n"dr*" = ["NL00"]')  # fmt: skip
    result = run_netlint("check", str(model), "--format", "json", cwd=tmp_path)
    assert codes(result) == []
    assert json.loads(result.stdout)["summary"]["suppressed"] == 3


def test_rule_names_work_wherever_codes_do(tmp_path):
    model = project(tmp_path, 'probe = false\nselect = ["bias-before-batchnorm", "dropout-before-batchnorm"]\n'
                    '[tool.netlint.severity]\nbias-before-batchnorm = "info"\n'
                    '[tool.netlint.per-module-ignores]\n"dr*" = ["dropout-before-batchnorm"]')  # fmt: skip
    result = run_netlint("check", str(model), "--format", "json", cwd=tmp_path)
    assert codes(result) == [("NL002", "info")]
    shown = run_netlint("check", "--show-settings", cwd=tmp_path).stdout
    assert 'select = ["NL002", "NL001"]' in shown and '"NL002": "info"' in shown


def test_models_with_input_shapes_are_the_default_targets(tmp_path):
    project(
        tmp_path,
        'probe = false\nselect = ["NL002"]\nmodels = [{target = "src/models/net.py:Net", input-shape = "3,3,20,20"}]',
    )
    result = run_netlint("check", "--format", "json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert [m["inputs"] for m in data["models"]] == ["3x3x20x20 float32"]
    assert data["models"][0]["input_source"] == "models in the configuration"


def test_probe_settings_come_from_the_file(tmp_path):
    model = project(tmp_path, 'select = ["NL001"]\nprobe = true\nbatch-size = 4\nseed = 7\ndevice = "cpu"')
    probe = json.loads(run_netlint("check", str(model), "--format", "json", cwd=tmp_path).stdout)["models"][0]["probe"]
    assert (probe["device"], probe["batch_size"], probe["seed"]) == ("cpu", 4, 7)
    overridden = run_netlint("check", str(model), "--seed", "2", "--no-probe", "--format", "json", cwd=tmp_path)
    assert json.loads(overridden.stdout)["models"][0]["probe"] is None


def test_show_settings_names_where_each_value_came_from(tmp_path):
    project(tmp_path, 'select = ["NL00"]\nseed = 3')
    result = run_netlint("check", "--show-settings", "--seed", "5", "--fail-on", "info", cwd=tmp_path)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].endswith("pyproject.toml")
    assert 'select = ["NL00"]  # pyproject.toml' in lines
    assert "seed = 5  # --seed" in lines and 'fail-on = "info"  # --fail-on' in lines
    assert 'device = "auto"  # default' in lines


def test_bad_configuration_names_the_key_and_the_file(tmp_path):
    cases = {
        'selct = ["NL001"]': "unknown key 'selct' (did you mean 'select'?)",
        'select = ["NL0001"]': "unknown rule 'NL0001'",
        'select = "NL001"': "select must be a list of rule codes or prefixes",
        'fail-on = "fatal"': "fail-on must be one of info, warning, error",
        "batch-size = 1": "batch-size must be an integer of at least 2",
        "probe = 1": "probe must be true or false",
        '[tool.netlint.severity]\nNL00 = "info"': "unknown rule 'NL00'",
        'models = [{target = "x.py:Net", shape = "2,3"}]': "models: unknown key 'shape'",
    }
    for config, message in cases.items():
        model = project(tmp_path, config)
        result = run_netlint("check", str(model), cwd=tmp_path)
        assert result.returncode == 2, config
        assert "pyproject.toml [tool.netlint]" in result.stderr and message in result.stderr, (config, result.stderr)
    project(tmp_path, "probe = false")
    bad_flag = run_netlint("check", "x.py", "--select", "NL777", cwd=tmp_path)
    assert bad_flag.returncode == 2 and "--select: unknown rule 'NL777'" in bad_flag.stderr


def test_explicit_config_file(tmp_path):
    model = project(tmp_path, 'select = ["NL001"]')
    write(tmp_path / "ci.toml", 'select = ["NL002"]\nprobe = false\n')
    result = run_netlint("check", str(model), "--config", str(tmp_path / "ci.toml"), "--format", "json", cwd=tmp_path)
    assert codes(result) == [("NL002", "warning")]


SUPPRESSED = BIAS.replace(
    "self.conv = nn.Conv2d(3, 8, 3)", "self.conv = nn.Conv2d(3, 8, 3)  # netlint: ignore[NL002]"
).replace("self.drop = nn.Dropout(0.2)", "self.drop = nn.Dropout(0.2)  # netlint: ignore")


def test_inline_suppressions(tmp_path):
    model = write(tmp_path / "net.py", SUPPRESSED)
    result = run_netlint("check", str(model), "--no-probe", "--format", "json", cwd=tmp_path)
    assert codes(result) == [] and result.returncode == 0
    assert json.loads(result.stdout)["summary"]["suppressed"] == 3


def test_unused_suppressions_only_for_codes_that_ran(tmp_path):
    stale = SUPPRESSED.replace(
        "self.bn = nn.BatchNorm2d(8)", "self.bn = nn.BatchNorm2d(8)  # netlint: ignore[NL001, NL004]"
    )
    model = write(tmp_path / "net.py", stale)
    everything = json.loads(run_netlint("check", str(model), "--no-probe", "--format", "json", cwd=tmp_path).stdout)
    [nl900] = [f for m in everything["models"] for f in m["findings"]]
    assert (nl900["code"], nl900["severity"], nl900["line"]) == ("NL900", "info", 8)
    assert "no NL001, NL004 finding points at this line" in nl900["message"]
    only_nl002 = run_netlint(
        "check", str(model), "--select", "NL002,NL900", "--no-probe", "--format", "json", cwd=tmp_path
    )
    assert codes(only_nl002) == []  # NL001 and NL004 did not run: their suppression is not judged
    one_model = run_netlint("check", f"{model}:Net", "--no-probe", "--format", "json", cwd=tmp_path)
    assert codes(one_model) == []  # not the whole file: its suppressions are not judged


def test_a_selection_that_leaves_no_rule_is_an_error_naming_the_settings(tmp_path):
    model = project(tmp_path, "select = []")
    empty = run_netlint("check", str(model), cwd=tmp_path)
    assert empty.returncode == 2 and "Traceback" not in empty.stderr
    assert "select = [] (pyproject.toml) leaves no rule to run" in empty.stderr
    project(tmp_path, 'select = ["NL002"]')
    combined = run_netlint("check", str(model), "--ignore", "bias-before-batchnorm", cwd=tmp_path)
    assert combined.returncode == 2
    assert 'select = ["NL002"] (pyproject.toml) with ignore = ["NL002"] (--ignore) together leave no rule' in (
        combined.stderr
    )


def test_per_file_ignores_glob_that_matches_nothing_is_a_note(tmp_path):
    model = project(
        tmp_path,
        'probe = false\nselect = ["NL002"]\n[tool.netlint.per-file-ignores]\n"models/*.py" = ["NL001"]\n'
        '"src/models/net.py" = ["NL003"]',
    )
    write(tmp_path / ".venv" / "lib" / "models" / "x.py", "")  # hidden folders do not count as matches
    result = run_netlint("check", str(model), "--format", "json", cwd=tmp_path)
    notes = json.loads(result.stdout)["notes"]
    assert notes == [
        "pyproject.toml: per-file-ignores 'models/*.py' matches no Python file under ./, so it ignores nothing "
        "(globs are relative to the configuration's folder)"
    ]


def test_suppressions_take_names_combine_with_noqa_and_never_widen_when_malformed(tmp_path):
    conv, drop, bn = "nn.Conv2d(3, 8, 3)", "nn.Dropout(0.2)", "self.bn = nn.BatchNorm2d(8)"
    write(tmp_path / "ok.py", BIAS.replace(conv, f"{conv}  # netlint: ignore[bias-before-batchnorm]  # noqa").replace(
        drop, f"{drop}  # noqa: E501  # netlint: ignore[NL001, dropout-between-convolutions]"))  # fmt: skip
    write(tmp_path / "bad.py", BIAS.replace(conv, f"{conv}  # netlint:ignore [NL002]").replace(
        drop, f"{drop}  # netlint: ignore NL001").replace(bn, f"{bn}  # netlint: ignore[NL999]"))  # fmt: skip
    data = json.loads(run_netlint("check", str(tmp_path), "--no-probe", "--format", "json", cwd=tmp_path).stdout)
    found = {m["name"]: sorted((f["code"], f["line"]) for f in m["findings"]) for m in data["models"]}
    assert found["ok.py:Net"] == [] and data["summary"]["suppressed"] == 3
    # Nothing on a malformed line is suppressed, and each malformed comment is reported with its reason.
    assert found["bad.py:Net"] == [("NL001", 9), ("NL002", 7), ("NL003", 9), ("NL900", 7), ("NL900", 8), ("NL900", 9)]
    messages = {f["line"]: f["message"] for m in data["models"] for f in m["findings"] if f["code"] == "NL900"}
    assert messages[7] == (
        "`# netlint:ignore [NL002]` is malformed and suppresses nothing: no space is allowed between `ignore` and `[`."
    )
    assert "NL999 is not a rule" in messages[8]
    assert "unexpected text after `ignore`: 'NL001'" in messages[9]


def test_suppressions_are_read_again_after_the_file_changes(tmp_path):
    """A long-lived process (a user's test suite calling the API) sees an edited file's comments."""
    from netlint.config.suppress import suppressions_in

    f = write(tmp_path / "m.py", "x = 1  # netlint: ignore[NL002]\n")
    assert [s.codes for s in suppressions_in(str(f))] == [frozenset({"NL002"})]
    f.write_text("x = 1  # netlint: ignore[NL002, NL003]\n")
    assert [s.codes for s in suppressions_in(str(f))] == [frozenset({"NL002", "NL003"})]


def test_a_glob_is_judged_on_the_files_a_folder_check_walks(tmp_path):
    """The configuration's walker is the loader's: build/ copies and .pyi stubs are never checked."""
    from netlint.config.settings import load_settings

    (tmp_path / "pyproject.toml").write_text(
        '[tool.netlint.per-file-ignores]\n"build/*.py" = ["NL001"]\n"stubs/*.pyi" = ["NL001"]\n"src/*.py" = ["NL001"]\n'
    )
    for name in ("build/x.py", "stubs/y.pyi", "src/z.py"):
        write(tmp_path / name, "")
    notes = load_settings(tmp_path / "pyproject.toml").unmatched_globs()
    assert [n.split("'")[1] for n in notes] == ["build/*.py", "stubs/*.pyi"]

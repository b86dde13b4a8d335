"""--fix / --diff for NL002 on copies of example files."""

from __future__ import annotations

import ast
import difflib
import json
import shutil

from .conftest import EXAMPLES, FIXTURES, run_netlint


def findings(path, cwd):
    result = run_netlint("check", str(path), "--no-probe", "--format", "json", cwd=cwd)
    return [(f["code"], f["module"], f["line"]) for m in json.loads(result.stdout)["models"] for f in m["findings"]]


def changed_lines(old: str, new: str) -> list[str]:
    return [line[0] + line[2:] for line in difflib.ndiff(old.splitlines(), new.splitlines()) if line[:1] in "+-"]


def test_fix_rewrites_only_the_bias_and_the_findings_disappear(tmp_path):
    path = tmp_path / "fixable_biases.py"
    shutil.copy(FIXTURES / "fixable_biases.py", path)
    before = path.read_text()
    assert sorted(c for c, *_ in findings(path, tmp_path)) == ["NL002"] * 5
    result = run_netlint("check", str(path), "--no-probe", "--fix", cwd=tmp_path)
    after = path.read_text()
    ast.parse(after)
    assert "Fixed 4 NL002 finding(s) in 1 file(s)" in result.stderr and "unsafe" in result.stderr
    assert "not fixed: fixable_biases.py:19 (shared.0): this call also creates 1 layer(s)" in result.stderr
    assert changed_lines(before, after) == [
        "-        self.a = nn.Conv2d(3, 8, 3)  # keep this comment",
        "+        self.a = nn.Conv2d(3, 8, 3, bias=False)  # keep this comment",
        "+            bias=False,",
        "-        self.c = nn.Conv2d(8, 8, 3, 1, 0, 1, 1, True)",
        "+        self.c = nn.Conv2d(8, 8, 3, 1, 0, 1, 1, False)",
        "-        self.d = nn.Linear(8, 4, bias=True)",
        "+        self.d = nn.Linear(8, 4, bias=False)",
    ]
    assert findings(path, tmp_path) == [("NL002", "shared.0", 20)]  # unfixable; one line lower now
    assert result.returncode == 1  # that finding remains


def test_diff_shows_without_writing(tmp_path):
    path = tmp_path / "residual_bias.py"
    shutil.copy(EXAMPLES / "residual_bias.py", path)
    before = path.read_text()
    result = run_netlint("check", str(path), "--no-probe", "--diff", cwd=tmp_path)
    assert path.read_text() == before and result.returncode == 1
    assert "+        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)" in result.stdout
    assert "Would fix 4 NL002 finding(s) in 1 file(s)" in result.stderr
    run_netlint("check", str(path), "--no-probe", "--fix", cwd=tmp_path)
    assert [c for c, *_ in findings(path, tmp_path)] == []
    assert len(changed_lines(before, path.read_text())) == 4  # two lines, each replaced


def test_library_layers_are_not_fixed(tmp_path):
    path = tmp_path / "library_layers.py"
    shutil.copy(FIXTURES / "library_layers.py", path)
    result = run_netlint("check", str(path), "--no-probe", "--select", "NL002", "--diff", cwd=tmp_path)
    assert result.stdout == "" and result.returncode == 0
    assert "created in library code" in result.stderr

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


# A CRLF, Latin-1 file with comments everywhere: --fix must change the bias arguments and no other byte.
LATIN1_CRLF = """# -*- coding: latin-1 -*-
import torch.nn as nn


class Net(nn.Module):  # café
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3)  # naïve comment, keep it
        self.bn_a = nn.BatchNorm2d(8)
        self.b = nn.Conv2d(
            8,
            8,
            3,  # trailing, with a comma
        )
        self.bn_b = nn.BatchNorm2d(8)
        self.c = nn.Conv2d(8, 8, 3, 1, 0, 1, 1, True)
        self.bn_c = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn_c(self.c(self.bn_b(self.b(self.bn_a(self.a(x))))))
"""


def as_file_bytes(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def test_fix_keeps_every_other_byte_line_endings_encoding_and_mode(tmp_path):
    path = tmp_path / "net.py"
    path.write_bytes(as_file_bytes(LATIN1_CRLF))
    path.chmod(0o640)
    result = run_netlint("check", str(path), "--no-probe", "--fix", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = (
        LATIN1_CRLF.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, bias=False)")
        .replace("3,  # trailing, with a comma\n", "3,  # trailing, with a comma\n            bias=False,\n")
        .replace("1, 1, True)", "1, 1, False)")
    )
    assert path.read_bytes() == as_file_bytes(expected)
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["net.py"]  # no temporary file left


SUBCLASS = """
import torch.nn as nn


class MyConv(nn.Conv2d):
    def __init__(self, c_in, c_out):
        super().__init__(c_in, c_out, 3, padding=1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = MyConv(3, 8)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.a(x))
"""


ALIAS = SUBCLASS.replace(
    "import torch.nn as nn\n", "import torch.nn as nn\nfrom torch.nn import Conv2d as C\n"
).replace("MyConv(3, 8)", "C(3, 8, 3)")


def test_unwritable_file_is_an_error_for_that_file_only(tmp_path):
    locked, free, subclass = tmp_path / "locked.py", tmp_path / "free.py", tmp_path / "subclass.py"
    for path in (locked, free):
        shutil.copy(EXAMPLES / "residual_bias.py", path)
    subclass.write_text(SUBCLASS)
    (tmp_path / "alias.py").write_text(ALIAS)
    locked.chmod(0o444)
    before = locked.read_bytes(), subclass.read_bytes()
    result = run_netlint("check", str(tmp_path), "--no-probe", "--fix", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "locked.py: --fix cannot write it: it is read-only (no write permission); the file is unchanged." in (
        result.stdout
    )
    assert "locked.py:ResidualNet" in result.stdout and "NL002" in result.stdout  # the report is still printed
    assert (locked.read_bytes(), subclass.read_bytes()) == before
    assert oct(locked.stat().st_mode & 0o777) == oct(0o444)
    assert "bias=False" in free.read_text()
    assert "Fixed 4 NL002 finding(s) in 1 file(s)" in result.stderr
    assert (
        "not fixed: subclass.py:13 (a): MyConv(...) is a subclass whose constructor netlint cannot map" in result.stderr
    )
    assert "not fixed: alias.py:14 (a): the call there is C(...), not Conv2d(...) (an alias" in result.stderr


def test_write_atomic_refuses_vanished_changed_and_read_only_files(tmp_path):
    from netlint.fix import WriteRefused, read_source, write_atomic

    path = tmp_path / "m.py"
    path.write_bytes(b"x = 1\r\n")
    source = read_source(str(path))
    assert source.lines == ["x = 1\r\n"] and source.raw == b"x = 1\r\n"
    cases = [
        (lambda: path.write_bytes(b"x = 2\r\n"), "it changed while netlint was checking it"),
        (lambda: path.chmod(0o400), "it is read-only"),
        (path.unlink, "it no longer exists"),
    ]
    for change, reason in cases:
        change()
        try:
            write_atomic(str(path), b"y = 1\r\n", expected=b"x = 1\r\n")
        except WriteRefused as exc:
            assert reason in str(exc)
        else:
            raise AssertionError(f"wrote over a file: {reason}")
        assert not path.exists() or path.read_bytes() != b"y = 1\r\n"
        if path.exists():
            path.chmod(0o600)
            path.write_bytes(b"x = 1\r\n")
    assert list(tmp_path.iterdir()) == []

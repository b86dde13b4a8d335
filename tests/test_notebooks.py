"""Jupyter notebooks: read as their joined code cells, run without a training cell, reported in cells, fixed in place.

The notebooks are written here as JSON, the way Jupyter writes them (nbformat 4, one string per line).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netlint.cells import NotebookError, parse_notebook, read_notebook, split_lines
from netlint.load.notebook import runnable_source
from netlint.load.scan import Project

from .conftest import CONV_BN_NET, run_netlint, write

IMPORTS = "import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader, TensorDataset\n"
NET = CONV_BN_NET
EXAMPLE = "def example_inputs():\n    return torch.randn(2, 3, 8, 8)\n"
# Run, it would never end: the check must finish without it.
TRAINING = """opt = torch.optim.SGD(model.parameters(), lr=0.1)
loader = DataLoader(TensorDataset(torch.randn(8, 3, 8, 8)), batch_size=2)
while True:
    for (x,) in loader:
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
"""


def notebook(*cells: tuple[str, str], indent: int = 1, as_strings: bool = False, **metadata) -> str:
    """A notebook's JSON as Jupyter writes it; ``as_strings`` stores each source as one string."""
    out = []
    for kind, text in cells:
        source = text if as_strings else text.splitlines(keepends=True)
        cell = {"cell_type": kind, "metadata": {}, "source": source}
        if kind == "code":
            cell |= {"execution_count": None, "outputs": []}
        out.append(cell)
    meta = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}, **metadata}
    return json.dumps({"cells": out, "metadata": meta, "nbformat": 4, "nbformat_minor": 5}, indent=indent) + "\n"


def model_notebook(path: Path) -> Path:
    return write(
        path,
        notebook(
            ("markdown", "# A model and its training\n"),
            ("code", "%matplotlib inline\n!pip install torch\n" + IMPORTS),
            ("code", NET),
            ("code", EXAMPLE + "model = Net()\n"),
            ("code", TRAINING),
        ),
    )


def file_line(path: Path, line: int) -> str:
    return path.read_text().splitlines()[line - 1]


# -- reading ---------------------------------------------------------------------------------------


def test_code_cells_are_joined_and_each_line_knows_its_cell_and_file_line():
    text = notebook(("markdown", "intro\n"), ("code", "a = 1\nb = 2"), ("raw", "x"), ("code", "c = 3\n"))
    nb = parse_notebook(text.encode())
    assert nb.python == "a = 1\nb = 2\nc = 3\n"
    assert [c.number for c in nb.cells] == [2, 4]  # positions among all cells, markdown included
    lines = text.splitlines()
    for joined, expected in ((1, "a = 1"), (2, "b = 2"), (3, "c = 3")):
        cell, cell_line = nb.where(joined)
        assert expected in lines[cell.file_lines[cell_line - 1] - 1]
        assert nb.line_of(cell.number, cell_line) == joined
    # A source stored as one string: every line of the cell is on that string's line of the file.
    single = parse_notebook(notebook(("code", "a = 1\nb = 2\n"), as_strings=True).encode())
    assert single.python == "a = 1\nb = 2\n" and len(set(single.cells[0].file_lines)) == 1


def test_ipython_syntax_is_skipped_not_a_syntax_error():
    nb = parse_notebook(
        notebook(
            (
                "code",
                "%matplotlib inline\n!pip install x\nfiles = !ls\nmodel?\nx = (1\n%2)\ns = '''\n!not shell\n'''\n",
            ),
            ("code", "%%time\ny = 2\n"),
            ("code", "for i in range(2):\n    %time f(i)\n"),
            ("code", "%%bash\necho hi\n"),
            ("code", "await something()\n"),
        ).encode()
    )
    cells = {c.number: c for c in nb.cells}
    assert cells[1].ipython == (1, 2, 3, 4) and not cells[1].skipped  # "%2)" and the string's line are Python
    assert cells[2].ipython == (1,) and "y = 2" in nb.python  # a Python cell magic keeps its body
    assert "    pass\n" in nb.python  # a magic inside a block leaves the block valid
    assert cells[4].skipped == "a %%bash cell" and "echo" not in nb.python
    assert cells[5].skipped.startswith("a syntax error at line 1: 'await' outside function")
    assert nb.python.count("\n") == sum(c.lines for c in nb.cells)  # line for line
    compile(nb.python, "nb", "exec")


def test_a_future_import_in_a_later_cell_does_not_break_the_joined_source():
    nb = parse_notebook(
        notebook(
            ("code", "from __future__ import annotations\nx = 1\n"), ("code", "from __future__ import annotations\n")
        ).encode()
    )
    assert nb.python == "from __future__ import annotations\nx = 1\n\n"  # legal in a cell, not after other code
    compile(nb.python, "nb", "exec")


LINE_TEXT = st.text(alphabet=st.sampled_from(list("ab =()\"\\\t%!?#é€'")), max_size=12)
CELL = st.tuples(st.sampled_from(["code", "markdown"]), st.lists(LINE_TEXT, max_size=5))


@settings(max_examples=60, deadline=None)
@given(cells=st.lists(CELL, min_size=1, max_size=4), indent=st.sampled_from([1, 2, "\t"]), crlf=st.booleans(),
       ascii_only=st.booleans(), edit=st.integers(0, 20))  # fmt: skip
def test_every_line_is_found_in_the_file_and_a_cell_edit_changes_only_that_cell(cells, indent, crlf, ascii_only, edit):
    texts = [(kind, "".join(line + "\n" for line in lines)) for kind, lines in cells]
    data = json.loads(notebook(*texts))
    text = json.dumps(data, indent=indent, ensure_ascii=ascii_only)
    text = text.replace("\n", "\r\n") if crlf else text
    nb = parse_notebook(text.encode())
    assert (
        nb.python.count("\n") == sum(c.lines for c in nb.cells) == sum(len(lines) for k, lines in cells if k == "code")
    )
    file_lines = text.splitlines()
    for cell in nb.cells:  # each line's file line holds exactly that line's JSON string
        for k, line in enumerate(split_lines(cell.text)):
            assert json.loads(file_lines[cell.file_lines[k] - 1].strip().rstrip(",")) == line
    assert nb.with_cells({c.number: c.text for c in nb.cells}) == text  # nothing changed: every byte kept
    if not nb.cells:
        return
    cell = nb.cells[edit % len(nb.cells)]
    lines = split_lines(cell.text)
    new = "".join(lines[: edit % (len(lines) + 1)]) + "x = 'new €'\n" + "".join(lines[edit % (len(lines) + 1) :])
    rewritten = nb.with_cells({cell.number: new})
    after = json.loads(rewritten)
    assert "".join(after["cells"][cell.number - 1]["source"]) == new
    after["cells"][cell.number - 1]["source"] = data["cells"][cell.number - 1]["source"]
    assert after == data  # the other cells, outputs and metadata are the same
    # Strings are written the file's way: raw like Jupyter, or escaped when the file shows \u escapes.
    raw = not ascii_only or not re.search(r"\\u[0-9a-f]{4}", text)
    assert ("€" in rewritten.split("x = 'new ")[1][:3]) == raw


@pytest.mark.parametrize(
    "data, why",
    [
        (b"{not json", "invalid JSON"),
        (b'{"worksheets": [], "nbformat": 3}', "format version 3"),
        (b'{"cells": [{"cell_type": "code", "source": 3}], "nbformat": 4}', "cell 1 has no source text"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_a_file_that_is_not_a_notebook_says_why(data, why):
    with pytest.raises(NotebookError, match=why):
        parse_notebook(data)


def test_not_a_notebook_is_bad_input_on_the_command_line(tmp_path):
    write(tmp_path / "broken.ipynb", "{not json")
    result = run_netlint("check", "broken.ipynb", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert "broken.ipynb: cannot read the file: not a Jupyter notebook: invalid JSON" in result.stdout


# -- what runs -------------------------------------------------------------------------------------


def runs(path: Path) -> tuple[list[str], str]:
    """The lines that run (not blank) and what was left out."""
    source, note = runnable_source(str(path), Project().scan(str(path)))
    return [line for line in source.splitlines() if line.strip()], note


def test_only_what_the_models_need_runs(tmp_path):
    path = write(
        tmp_path / "nb.ipynb",
        notebook(
            ("code", "import sys\nsys.path.append('..')\nimport os\n" + IMPORTS + "import torchvision\n"),
            ("code", "WIDTH = 4\nlayers = []\nfor i in range(3):\n    layers.append(nn.Linear(WIDTH, WIDTH))\n"),
            ("code", "seq = nn.Sequential(*layers)\nprint(seq)\n"),
            (
                "code",
                "net = torchvision.models.resnet18()\nnet.fc = nn.Linear(512, 10)\nnet.to('cpu')\n"
                "net.load_state_dict(torch.load('best.pt'))\n",
            ),
            (
                "code",
                "def train(m):\n    m(torch.randn(2, 3, 8, 8)).sum().backward()\n    return m\n\nnet = train(net)\n",
            ),
            ("code", TRAINING.replace("model", "seq")),
        ),
    )
    lines, note = runs(path)
    assert lines == [
        "import sys", "sys.path.append('..')", "import torch.nn as nn", "import torchvision",
        "WIDTH = 4", "layers = []", "for i in range(3):", "    layers.append(nn.Linear(WIDTH, WIDTH))",  # builds layers
        "seq = nn.Sequential(*layers)",
        "net = torchvision.models.resnet18()", "net.fc = nn.Linear(512, 10)",  # a new head changes the model
    ]  # fmt: skip
    assert note == (
        "not run: cell 3 line 2 (output), cell 4 lines 3-4 (other code, loading or saving weights), "
        "cell 5 (definitions no model uses, training), "
        "cell 6 (an optimizer, data loading, a training loop)"
    )


def test_a_function_reads_names_as_they_are_where_it_is_called(tmp_path):
    path = write(
        tmp_path / "nb.ipynb",
        notebook(
            ("code", "import torch.nn as nn\nSIZE = 2\nHIDDEN = 3\n"),
            ("code", "def make():\n    return nn.Linear(SIZE, HIDDEN)\n\nfirst = make()\n"),
            ("code", "SIZE = 4\nDATA = open('data.csv').read()\n"),  # rebound after the call; unrelated data
        ),
    )
    lines, _ = runs(path)
    # make() runs at "first = make()" (SIZE = 2 there) and again when netlint builds the factory (SIZE = 4).
    assert lines == [
        "import torch.nn as nn", "SIZE = 2", "HIDDEN = 3", "def make():", "    return nn.Linear(SIZE, HIDDEN)",
        "first = make()", "SIZE = 4",
    ]  # fmt: skip


# -- checking --------------------------------------------------------------------------------------


def test_a_folder_of_files_and_notebooks_is_checked_without_running_the_training_cell(tmp_path):
    model_notebook(tmp_path / "work" / "train.ipynb")
    write(tmp_path / "work" / "plain.ipynb", notebook(("code", "print(1)\nwhile True:\n    pass\n")))
    write(tmp_path / "work" / "net.py", IMPORTS + "\n\n" + NET + "\n\n" + EXAMPLE)
    write(tmp_path / "work" / ".ipynb_checkpoints" / "train-checkpoint.ipynb", "not even JSON")
    start = time.monotonic()
    result = run_netlint("check", "work", "--no-probe", "--format", "json", "--timeout", "60", cwd=tmp_path)
    assert time.monotonic() - start < 60
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["errors"] == [], result.stdout + result.stderr
    assert data["summary"]["files"] == 3  # the checkpoint copy in a hidden folder is not checked
    found = {(m["name"], f["code"], f["file"], f["line"], f.get("cell"), f.get("cell_line"))
             for m in data["models"] for f in m["findings"]}  # fmt: skip
    nb_line = next(line for _, _, file, line, cell, _ in found if cell)
    assert found == {
        ("work/net.py:Net", "NL002", "work/net.py", 9, None, None),
        ("work/train.ipynb:model", "NL002", "work/train.ipynb", nb_line, 3, 4),
    }
    # "line" is the notebook file's line that holds the source line: what a viewer of the file opens.
    assert '"        self.conv = nn.Conv2d(3, 8, 3)\\n",' in file_line(tmp_path / "work" / "train.ipynb", nb_line)
    assert (
        "work/train.ipynb: netlint ran only the code that defines its models; not run: cell 5 (an optimizer, "
        "data loading, a training loop); IPython magics and shell lines skipped in cell 2."
    ) in data["notes"]


@pytest.fixture(scope="module")
def notebook_report(tmp_path_factory):
    """One check of a notebook and a Python file, in process, for the reporters."""
    from netlint.options import Options
    from netlint.run.targets import check_targets

    folder = tmp_path_factory.mktemp("formats")
    model_notebook(folder / "nb.ipynb")
    write(folder / "net.py", IMPORTS + "\n\n" + NET + "\n\n" + EXAMPLE)
    here = os.getcwd()
    os.chdir(folder)  # reports name files relative to the working directory
    try:
        return folder, check_targets(["."], Options(probe=False, timeout=60))
    finally:
        os.chdir(here)


@pytest.mark.parametrize(
    "fmt, expected, python_file",
    [
        ("text", "nb.ipynb:cell 3:4: NL002 [warning] Conv2d at conv adds a bias", "net.py:9: NL002"),
        ("rich", "warning NL002 bias-before-batchnorm  conv  nb.ipynb:cell 3:4", "conv  net.py:9"),
        (
            "github",
            "::warning file=nb.ipynb,line={line},title=NL002 bias-before-batchnorm (cell 3%2C line 4)::",
            "::warning file=net.py,line=9,title=NL002 bias-before-batchnorm::",
        ),
        ("html", '<span class="mono muted">nb.ipynb:cell 3:4</span>', '<span class="mono muted">net.py:9</span>'),
    ],
)
def test_every_format_names_the_cell(notebook_report, fmt, expected, python_file, monkeypatch):
    from netlint.report import render

    folder, report = notebook_report
    monkeypatch.chdir(folder)
    finding = next(f for f in report.findings if f.cell is not None)
    out = io.StringIO()
    render(report, fmt, out, color=False)
    assert expected.format(line=finding.line) in out.getvalue()
    assert python_file in out.getvalue()  # a Python file's findings are as they were


def test_json_and_sarif_keep_file_and_line_and_add_the_cell(notebook_report, monkeypatch):
    from netlint.report import render

    folder, report = notebook_report
    monkeypatch.chdir(folder)
    out = io.StringIO()
    render(report, "json", out)
    found = [f for m in json.loads(out.getvalue())["models"] for f in m["findings"] if f["file"].endswith(".ipynb")]
    assert [(f["cell"], f["cell_line"]) for f in found] == [(3, 4)]
    assert "nn.Conv2d(3, 8, 3)" in file_line(folder / "nb.ipynb", found[0]["line"])
    out = io.StringIO()
    render(report, "sarif", out)
    results = json.loads(out.getvalue())["runs"][0]["results"]
    cell = next(r for r in results if "cell" in r.get("properties", {}))
    region = cell["locations"][0]["physicalLocation"]["region"]
    assert cell["properties"] == {"related": ["bn"], "cell": 3, "cellLine": 4} and region == {
        "startLine": found[0]["line"]
    }
    assert cell["message"]["text"].endswith("(cell 3, line 4)")


def test_a_failure_names_the_cell(tmp_path):
    bad = NET.replace("nn.BatchNorm2d(8)", "nn.BatchNorm2d(16)")
    write(tmp_path / "nb.ipynb", notebook(("code", IMPORTS), ("code", bad + "\n" + EXAMPLE)))
    result = run_netlint("check", "nb.ipynb", "--no-probe", "--format", "text", cwd=tmp_path)
    assert result.returncode == 2
    assert "BatchNorm2d(16) expects 16 channels" in result.stdout and "called at nb.ipynb:cell 2:8" in result.stdout


def test_code_that_needs_what_did_not_run_fails_with_what_was_left_out(tmp_path):
    cells = [
        ("code", "import torch.nn as nn\nwhile True:\n    width = 4\n    break\n"),
        ("code", "model = nn.Linear(width, 2)\n"),
    ]
    write(tmp_path / "nb.ipynb", notebook(*cells))
    result = run_netlint("check", "nb.ipynb", "--no-probe", "--format", "text", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stdout + result.stderr
    assert (
        "nb.ipynb: error: running the notebook's model code failed: NameError: name 'width' is not defined "
        "(at nb.ipynb:cell 2:1). netlint runs only the statements that define the models, never training code "
        "(not run: cell 1 lines 2-4 (a loop))"
    ) in result.stdout


def test_the_losses_of_training_cells_count_and_other_kernels_define_no_model(tmp_path):
    from netlint.load.losses import losses_in_file

    path = write(tmp_path / "nb.ipynb", notebook(("code", IMPORTS), ("code", "loss_fn = nn.CrossEntropyLoss()\n")))
    assert losses_in_file(str(path)) == {"nn.CrossEntropyLoss"}  # NL013 reads the training cell, never runs it
    r = write(tmp_path / "r.ipynb", notebook(("code", NET), kernelspec={"language": "R", "name": "ir"}))
    assert read_notebook(str(r)).python.strip() == "" and Project().scan(str(r)).classes == []


def test_a_named_target_in_a_notebook(tmp_path):
    cells = [("code", IMPORTS), ("code", NET.replace("(3, 8, 3)", "(3, width, 3)").replace("(8)", "(width)")
                                 .replace("__init__(self)", "__init__(self, width)") + "\n" + EXAMPLE)]  # fmt: skip
    write(tmp_path / "nb.ipynb", notebook(*cells))
    result = run_netlint("check", "nb.ipynb:Net(width=4)", "--no-probe", "--format", "text", cwd=tmp_path)
    assert "nb.ipynb:cell 2:4: NL002" in result.stdout and result.returncode == 1, result.stdout


# -- suppressions, baselines, configuration ----------------------------------------------------------


def test_suppressions_baselines_and_per_file_settings_work_in_notebooks(tmp_path):
    suppressed = NET.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3)  # netlint: ignore[NL002]")
    cells = [("code", IMPORTS), ("code", suppressed.replace("self.bn = ", "self.x = nn.Identity()  # netlint: ignore[NL003]\n        self.bn = ")), ("code", EXAMPLE)]  # fmt: skip
    write(tmp_path / "a.ipynb", notebook(*cells))
    write(tmp_path / "b.ipynb", notebook(("code", IMPORTS), ("code", NET + "\n" + EXAMPLE)))
    write(tmp_path / "pyproject.toml", "[tool.netlint]\nprobe = false\n")
    result = run_netlint("check", ".", "--format", "json", cwd=tmp_path)
    data = json.loads(result.stdout)
    found = sorted((f["file"], f["code"], f["cell"], f["cell_line"]) for m in data["models"] for f in m["findings"])
    assert found == [("a.ipynb", "NL900", 2, 5), ("b.ipynb", "NL002", 2, 4)]  # the stale comment, the other file
    assert data["summary"]["suppressed"] == 1
    # A baseline records b.ipynb's finding by file and module; the next run reports nothing new.
    run_netlint("check", ".", "--write-baseline", "base.json", cwd=tmp_path)
    assert [(e["file"], e["rule"]) for e in json.loads((tmp_path / "base.json").read_text())["findings"]] == [
        ("b.ipynb", "NL002"), ("a.ipynb", "NL900")
    ]  # fmt: skip
    again = json.loads(run_netlint("check", ".", "--baseline", "base.json", "--format", "json", cwd=tmp_path).stdout)
    assert again["summary"]["findings"] == 0 and again["summary"]["baselined"] == 2
    # Per-file configuration matches notebooks by their path.
    write(
        tmp_path / "pyproject.toml",
        '[tool.netlint]\nprobe = false\n[tool.netlint.per-file-ignores]\n"b.ipynb" = ["NL002"]\n',
    )
    ignored = json.loads(run_netlint("check", ".", "--format", "json", cwd=tmp_path).stdout)
    assert [f["file"] for m in ignored["models"] for f in m["findings"]] == ["a.ipynb"]


# -- --fix -----------------------------------------------------------------------------------------


OUTPUTS = {
    "execution_count": 7,
    "outputs": [{"data": {"image/png": "iVBORw0KGgo=\n", "text/plain": ["<Figure>"]}, "metadata": {},
                 "output_type": "display_data"}],
}  # fmt: skip


def test_fix_rewrites_the_cell_source_and_keeps_every_other_byte(tmp_path):
    wide = NET.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(\n            3,\n            8,\n            3,\n        )")
    data = json.loads(notebook(("markdown", "Ünïcode stays raw\n"), ("code", IMPORTS), ("code", wide + EXAMPLE)))
    data["cells"][2] |= OUTPUTS
    data["metadata"]["widgets"] = {"state": {}}
    text = json.dumps(data, indent=2, ensure_ascii=False)  # no final line break, two-space indent
    path = tmp_path / "nb.ipynb"
    path.write_bytes(text.replace("\n", "\r\n").encode())  # and CRLF line ends
    before = path.read_bytes()
    diff = run_netlint("check", "nb.ipynb", "--no-probe", "--diff", cwd=tmp_path)
    assert path.read_bytes() == before and diff.returncode == 1
    assert (
        diff.stdout.startswith("--- a/nb.ipynb:cell 3\n+++ b/nb.ipynb:cell 3\n")
        and "+            bias=False,\n" in diff.stdout
    )
    result = run_netlint("check", "nb.ipynb", "--no-probe", "--fix", "--format", "text", cwd=tmp_path)
    assert result.returncode == 0 and "Fixed 1 NL002 finding(s) in 1 file(s)" in result.stderr
    after = path.read_bytes()
    # One new JSON string, in the file's own style (indentation, CRLF), after the line it follows.
    added = b'\r\n        "            bias=False,\\n",'
    anchor = b'"            3,\\n",'  # the kernel size: the last argument
    at = before.rindex(anchor) + len(anchor)
    assert after == before[:at] + added + before[at:]
    new_cell = "".join(json.loads(after)["cells"][2]["source"])
    assert new_cell == wide.replace("3,\n        )", "3,\n            bias=False,\n        )") + EXAMPLE


def test_fix_in_a_one_string_source(tmp_path):
    path = write(tmp_path / "nb.ipynb", notebook(("code", IMPORTS), ("code", NET + EXAMPLE), as_strings=True))
    before = path.read_text()
    run_netlint("check", "nb.ipynb", "--no-probe", "--fix", cwd=tmp_path)
    assert path.read_text() == before.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 8, 3, bias=False)")
    assert read_notebook(str(path)).cells[1].text == (NET + EXAMPLE).replace("(3, 8, 3)", "(3, 8, 3, bias=False)")

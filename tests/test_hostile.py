"""Hostile model files (tests/fixtures/hostile): whatever user code does ends only its own target.

Each case runs through the command line on a copy of the corpus: the documented exit status,
valid JSON on stdout, the expected error or findings, and nothing written into the checked
folder (no ``__pycache__`` either).
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from typer.testing import CliRunner

from netlint.cli import app

from .conftest import FIXTURES, run_netlint

CORPUS = FIXTURES / "hostile"


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "hostile"
    shutil.copytree(CORPUS, folder)
    return folder


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def check(folder, *targets, timeout=30):
    """Run ``netlint check`` on files of ``folder``; the exit status, the JSON report, the errors' text."""
    before = tree(folder)
    args = ["check", *(str(folder / t) for t in targets), "--format", "json", "--no-probe", "--timeout", str(timeout)]
    result = CliRunner().invoke(app, args)
    assert tree(folder) == before, "user code wrote into the checked folder"
    data = json.loads(result.stdout)  # valid JSON, whatever the user's code printed
    errors = " ".join(e["message"] for e in data["errors"])
    return result.exit_code, data, errors


def codes(data):
    """{"file.py:Model": codes} with file names relative to the corpus (or the experiments folder)."""
    names = {m["name"].split("/hostile/")[-1].split("/experiments/")[-1]: m for m in data["models"]}
    return {name: sorted(f["code"] for f in m["findings"]) for name, m in names.items()}


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("exit_in_constructor.py", "user code raised sys.exit(0) while building `"),
        ("interrupt_in_forward.py", "user code raised KeyboardInterrupt while tracing `"),
        ("os_exit_in_forward.py", "exited with status 0 before sending a result while tracing `"),
        ("segfault.py", "killed by SIGSEGV while tracing `"),
        ("argparse_required.py", "importing the file failed: SystemExit: 2"),
        ("writes_files.py", "netlint does not let user code write into the checked folders"),
    ],
)
def test_user_code_that_ends_or_breaks_its_worker_is_that_targets_error(corpus, file, expected):
    code, data, errors = check(corpus, file, "argparse_defaults.py")
    assert code == 2 and len(data["errors"]) == 1
    assert expected in errors and file in data["errors"][0]["target"]
    # The other target of the same run is checked to the end.
    assert codes(data) == {"argparse_defaults.py:Net": ["NL002"]}


def test_argparse_gets_its_defaults_and_never_netlints_arguments(corpus):
    code, data, _ = check(corpus, "argparse_defaults.py")
    assert code == 1 and codes(data) == {"argparse_defaults.py:Net": ["NL002"]}


def test_endless_forward_times_out_with_the_last_user_line(corpus):
    start = time.monotonic()
    code, data, errors = check(corpus, "endless_forward.py", "argparse_defaults.py", timeout=3)
    assert time.monotonic() - start < 3 + 30  # the loop was ended, not waited for
    assert code == 2 and codes(data) == {"argparse_defaults.py:Net": ["NL002"]}
    assert "did not finish within 3 s while tracing `" in errors
    assert "endless_forward.py:Net` (last user line reached: " in errors
    line = int(errors.split("last user line reached: ")[1].split(")")[0].rsplit(":", 1)[1])
    assert "x = x + 0" in (corpus / "endless_forward.py").read_text().splitlines()[line - 1]


def test_threads_left_running_are_noted_and_the_result_still_comes(corpus):
    code, data, _ = check(corpus, "thread_left.py")
    assert code == 1 and codes(data) == {"thread_left.py:Net": ["NL002"]}
    assert any("left 1 thread(s) running (heartbeat)" in n for n in data["notes"])


def test_printing_to_stdout_in_every_way_never_reaches_the_report(corpus):
    code, data, _ = check(corpus, "print_spam.py", "train_no_guard.py")
    assert code == 1 and codes(data) == {"print_spam.py:Net": ["NL002"], "train_no_guard.py:model": ["NL002"]}


@pytest.mark.parametrize("as_directory", [True, False])
def test_same_named_modules_of_two_folders_never_mix(tmp_path, as_directory):
    for name in ("collide_a", "collide_b"):
        shutil.copytree(CORPUS / name, tmp_path / "experiments" / name)
    targets = ["experiments"] if as_directory else ["experiments/collide_a/model.py", "experiments/collide_b/model.py"]
    code, data, _ = check(tmp_path, *targets)
    found = codes(data)
    assert code == 1 and not data["errors"]
    # Each folder's Net is built from its own layers.py: a's bias, b's dropout.
    assert found["collide_a/model.py:Net"] == ["NL002"] and found["collide_b/model.py:Net"] == ["NL001"]


def test_the_whole_corpus_in_one_real_process(corpus):
    """One run over every case, in a real process: exit 2, one JSON document, every target accounted for."""
    before = tree(corpus)
    result = run_netlint("check", str(corpus), "--format", "json", "--no-probe", "--timeout", "10", "--jobs", "2")
    assert tree(corpus) == before and "__pycache__" not in " ".join(tree(corpus))
    assert result.returncode == 2, result.stderr[-2000:]
    data = json.loads(result.stdout)
    failed = {e["target"].rsplit("/", 1)[-1].split(":")[0] for e in data["errors"]}
    assert failed == {
        "exit_in_constructor.py", "interrupt_in_forward.py", "os_exit_in_forward.py", "segfault.py",
        "argparse_required.py", "writes_files.py", "endless_forward.py",
    }  # fmt: skip
    checked = {name.split(":")[0] for name in codes(data)}
    assert checked >= {"argparse_defaults.py", "thread_left.py", "print_spam.py", "train_no_guard.py",
                       "collide_a/model.py", "collide_b/model.py"}  # fmt: skip
    assert "Traceback" not in result.stderr


def test_a_file_that_starts_a_process_at_import_is_told_so_in_words(tmp_path):
    """multiprocessing refuses children to a daemonic process (netlint's worker) with an AssertionError."""
    folder = tmp_path / "mp"
    folder.mkdir()
    source = (CORPUS / "argparse_defaults.py").read_text()
    (folder / "starts.py").write_text(
        "import multiprocessing\n\nmultiprocessing.Process(target=print).start()\n\n" + source
    )
    code, _, errors = check(folder, "starts.py")
    assert code == 2 and "daemonic" not in errors and "AssertionError" not in errors
    assert "importing the file starts a process with multiprocessing at " in errors and "starts.py:3" in errors
    assert "if __name__ == '__main__'" in errors

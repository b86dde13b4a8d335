"""Folders with parts that cannot be read: every skipped path is named, nothing is checked twice.

Unreadable paths are real: ``chmod 000``, and the CLI runs with ``obey_permissions=True``. The tests
run as root here, and root ignores permission bits, so that forked CLI first drops the capabilities
that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH; see ``conftest.drop_permission_override``): the
walk, the loader and the workers then get the same EACCES any other user would.
"""

from __future__ import annotations

import json
import os

import pytest

from .conftest import CONV_BN_NET, run_netlint, write

NET = "import torch.nn as nn\n\n\n" + CONV_BN_NET


def unreadable(path):
    path.chmod(0)
    return path


@pytest.fixture
def messy(tmp_path):
    """A project with a model at the top and one below, and every kind of path a walk can trip on."""
    proj = tmp_path / "proj"
    write(proj / "net.py", NET)
    write(proj / "sub" / "deep.py", NET)
    write(proj / "plain.py", "X = 1\n")
    write(proj / "exits.py", NET + "\nraise SystemExit(3)\n")  # hostile: ends its import
    write(proj / "locked" / "hidden_model.py", NET)
    unreadable(proj / "locked")
    unreadable(write(proj / "secret.py", NET))
    (proj / "link.py").symlink_to("sub/deep.py")  # the same file under a second name
    (proj / "dangling.py").symlink_to("nowhere.py")
    (proj / "loop_a.py").symlink_to("loop_b.py")
    (proj / "loop_b.py").symlink_to("loop_a.py")
    (proj / "back").symlink_to(".")  # a folder loop
    return proj


def test_a_messy_folder_gives_a_complete_report_with_every_skipped_path_named(messy):
    result = run_netlint("check", str(messy), "--format", "json", "--no-probe", "--jobs", "2", obey_permissions=True)
    assert "Traceback" not in result.stderr
    data = json.loads(result.stdout)
    assert result.returncode == 2  # the hostile file's error
    assert [e["target"].rsplit("/", 1)[-1] for e in data["errors"]] == ["exits.py"]
    # Each model once: link.py is sub/deep.py again.
    assert sorted(m["name"].split("proj/")[-1] for m in data["models"]) == ["net.py:Net", "sub/deep.py:Net"]
    notes = "\n".join(data["notes"])
    for expected in (
        "locked: cannot list this folder (permission denied), its files were not checked",
        "secret.py: cannot read it (permission denied), not checked",
        "link.py: a symbolic link to ",
        "dangling.py: a broken symbolic link (to nowhere.py, which does not exist), not checked",
        "loop_a.py: a symbolic link loop, not checked",
        "loop_b.py: a symbolic link loop, not checked",
        "back: a symbolic link to a folder inside this one, not followed",
    ):
        assert expected in notes, notes


def test_a_folder_of_plain_files_names_what_it_skipped_too(tmp_path):
    """Settled in the parent from syntax trees alone (no worker): the same notes."""
    write(tmp_path / "tools" / "a.py", "X = 1\n")
    write(tmp_path / "tools" / "locked" / "b.py", "Y = 2\n")
    unreadable(tmp_path / "tools" / "locked")
    result = run_netlint("check", str(tmp_path / "tools"), "--format", "json", obey_permissions=True)
    assert result.returncode == 0, result.stderr
    assert any("locked: cannot list this folder (permission denied)" in n for n in json.loads(result.stdout)["notes"])


def test_unreadable_and_broken_targets_are_exit_2_errors_that_say_what_they_are(messy):
    targets = [messy / "locked", messy / "secret.py", messy / "dangling.py", messy / "loop_a.py"]
    result = run_netlint("check", *map(str, targets), "--format", "json", obey_permissions=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    errors = {e["target"].rsplit("/", 1)[-1]: e["message"] for e in json.loads(result.stdout)["errors"]}
    assert "locked: cannot list this directory: permission denied." in errors["locked"]
    assert "cannot read the file: permission denied." in errors["secret.py"] and "syntax" not in errors["secret.py"]
    assert "a broken symbolic link (to nowhere.py, which does not exist)" in errors["dangling.py"]
    assert "a symbolic link loop" in errors["loop_a.py"]


def test_a_file_reached_through_links_is_walked_once_under_its_own_name(tmp_path):
    write(tmp_path / "pkg" / "model.py", NET)
    (tmp_path / "alias.py").symlink_to("pkg/model.py")
    (tmp_path / "zz_alias.py").symlink_to("pkg/model.py")
    outside = write(tmp_path.parent / f"{tmp_path.name}_outside.py", NET)
    (tmp_path / "outer.py").symlink_to(outside)  # a link out of the folder is the only way to its file: checked
    from netlint.load.targets import walk_python_files

    walk = walk_python_files(str(tmp_path))
    assert [os.path.relpath(f, tmp_path) for f in walk.files] == ["outer.py", os.path.join("pkg", "model.py")]
    assert len(walk.skipped) == 2 and all("a symbolic link to " in s and "checked already" in s for s in walk.skipped)

"""``--weights``: a trained checkpoint, in its usual wrappers, loaded safely, and what its statistics learned."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from netlint.options import Options
from netlint.run.targets import check_targets

from .conftest import run_netlint, write

NO_BUDGET = ("--probe-budget", "0", "--format", "json")  # the same batch however loaded the machine is
MODEL = """
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(self.drop(x)))

def example_inputs():
    return (torch.randn(16, 3, 12, 12, generator=torch.Generator().manual_seed(5)),)
"""


def trained(path: Path):
    """The model of MODEL after a few training-mode forwards: running statistics learned under dropout."""
    namespace: dict = {}
    exec(compile(MODEL, str(path), "exec"), namespace)
    torch.manual_seed(0)
    model = namespace["Net"]()
    with torch.no_grad():
        for _ in range(20):
            model(torch.randn(16, 3, 12, 12))
    return model.eval(), namespace["example_inputs"]()[0]


@pytest.mark.parametrize("wrapper", [None, "state_dict", "model", "model_state_dict"])
@pytest.mark.parametrize("prefix", ["", "module."])
def test_wrappers_and_prefixes_load_and_report_what_the_checkpoint_learned(tmp_path, wrapper, prefix):
    path = write(tmp_path / "net.py", MODEL)
    model, x = trained(path)
    state = {prefix + k: v for k, v in model.state_dict().items()}
    saved = state if wrapper is None else {wrapper: state, "epoch": 3, "optimizer": {"lr": torch.tensor(0.1)}}
    torch.save(saved, tmp_path / "ckpt.pt")
    report = check_targets([f"{path}:Net"], Options(device="cpu", weights=str(tmp_path / "ckpt.pt"), probe_budget=0))
    assert not report.errors, [e.text for e in report.errors]
    bn1 = report.models[0].probe.layer("bn1")
    # By hand: what evaluation mode feeds bn1 on the batch (conv1 of the input), against its running variance.
    with torch.no_grad():
        fed = model.conv1(x).transpose(0, 1).flatten(1).double()
    mean, var = fed.mean(1), fed.var(1, unbiased=False)
    ratio = model.bn1.running_var.double() / var
    gap = (model.bn1.running_mean.double() - mean).abs() / var.sqrt()
    assert bn1.running_ratio_mean == pytest.approx(float(ratio.mean()), rel=1e-4)
    assert bn1.running_ratio_min == pytest.approx(float(ratio.min()), rel=1e-4)
    assert bn1.running_ratio_max == pytest.approx(float(ratio.max()), rel=1e-4)
    assert bn1.running_mean_gap == pytest.approx(float(gap.mean()), rel=1e-3)


def test_without_weights_no_running_ratio_and_with_weights_in_json_and_table(tmp_path):
    path = write(tmp_path / "net.py", MODEL)
    model, _ = trained(path)
    torch.save(model.state_dict(), tmp_path / "ckpt.pt")
    plain = json.loads(run_netlint("check", f"{path}:Net", *NO_BUDGET).stdout)["models"][0]["probe"]
    assert all(x["running_ratio_mean"] is None for x in plain["layers"])
    loaded = json.loads(run_netlint("check", f"{path}:Net", "--weights", str(tmp_path / "ckpt.pt"), *NO_BUDGET).stdout)[
        "models"
    ][0]["probe"]
    bn2 = next(x for x in loaded["layers"] if x["module"] == "bn2")
    assert set(bn2) >= {"running_ratio_mean", "running_ratio_min", "running_ratio_max", "running_mean_gap"}
    assert bn2["running_ratio_min"] <= bn2["running_ratio_mean"] <= bn2["running_ratio_max"]
    table = run_netlint("check", f"{path}:Net", "--weights", str(tmp_path / "ckpt.pt"), "--probe-budget", "0").stdout
    assert "running/eval var" in table and "running mean gap" in table


def test_a_checkpoint_of_another_model_is_a_clear_error(tmp_path):
    path = write(tmp_path / "net.py", MODEL)
    model, _ = trained(path)
    state = model.state_dict()
    state["head.weight"] = state.pop("conv2.weight")
    torch.save(state, tmp_path / "wrong.pt")
    result = run_netlint("check", f"{path}:Net", "--weights", str(tmp_path / "wrong.pt"), "--no-probe")
    assert result.returncode == 2 and "Traceback" not in result.stderr + result.stdout
    assert "does not fit this model: 1 missing key(s) (conv2.weight), 1 unexpected key(s) (head.weight)" in (
        result.stdout
    )
    torch.save({"epoch": 3}, tmp_path / "no_state.pt")
    result = run_netlint("check", f"{path}:Net", "--weights", str(tmp_path / "no_state.pt"), "--format", "json")
    assert result.returncode == 2 and "is not a state dict" in json.loads(result.stdout)["errors"][0]["message"]


class Payload:
    """Unpickling this would run a shell command: netlint must refuse it without running it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = write(tmp_path / "net.py", MODEL)
    marker = tmp_path / "ran"
    torch.save({"state_dict": Payload(str(marker))}, tmp_path / "evil.pt")
    result = run_netlint("check", f"{path}:Net", "--weights", str(tmp_path / "evil.pt"))
    assert result.returncode == 2 and not marker.exists()
    assert "refused --weights" in result.stdout and "weights_only=True" in result.stdout


def test_weights_in_the_configuration(tmp_path):
    path = write(tmp_path / "src" / "net.py", MODEL)
    model, _ = trained(path)
    torch.save({"model": model.state_dict()}, tmp_path / "ckpt.pt")
    write(
        tmp_path / "pyproject.toml",
        '[tool.netlint]\nprobe-budget = 0\nmodels = [{target = "src/net.py:Net", weights = "ckpt.pt"}]\n',
    )
    result = run_netlint("check", "--format", "json", cwd=tmp_path)
    probe = json.loads(result.stdout)["models"][0]["probe"]
    assert all(x["running_ratio_mean"] is not None for x in probe["layers"])
    write(tmp_path / "pyproject.toml", '[tool.netlint]\nmodels = [{target = "src/net.py:Net", weights = 3}]\n')
    bad = run_netlint("check", cwd=tmp_path)
    assert bad.returncode == 2 and "weights of 'src/net.py:Net' must be the path of a checkpoint" in bad.stderr


class NotAllowed:
    """A harmless class that weights_only loading still refuses: it is not a tensor type."""


def test_every_checkpoint_error_is_one_sentence_and_one_piece_of_advice(tmp_path):
    from netlint.load.checkpoint import CheckpointError, check_keys, read_checkpoint

    (tmp_path / "text.pt").write_text("not a checkpoint at all\n")
    torch.save({"a": NotAllowed()}, tmp_path / "objects.pt")
    torch.save({"x": torch.zeros(1)}, tmp_path / "other.pt")
    errors = {}
    for name in ("missing.pt", "text.pt", "objects.pt", "other.pt"):
        try:
            check_keys(torch.nn.Linear(2, 2), read_checkpoint(str(tmp_path / name)).state, name)
        except CheckpointError as exc:
            errors[name] = exc
    assert set(errors) == {"missing.pt", "text.pt", "objects.pt", "other.pt"}
    for exc in errors.values():
        assert not exc.message.endswith(".") and exc.hint.endswith(".") and str(exc) == f"{exc.message}. {exc.hint}"
        assert "weights_only=False" not in str(exc) and "Check the documentation" not in str(exc)
    assert "not a PyTorch checkpoint" in errors["text.pt"].message  # not "holds Python objects"
    assert "holds Python objects (tests.test_weights.NotAllowed)" in errors["objects.pt"].message
    assert errors["missing.pt"].hint.startswith("Check the path")
    # Through the command line: the error's own advice, once, after a full stop.
    path = write(tmp_path / "net.py", MODEL)
    result = run_netlint("check", f"{path}:Net", "--weights", str(tmp_path / "missing.pt"), "--format", "json")
    (message,) = [e["message"] for e in json.loads(result.stdout)["errors"]]
    assert message.endswith("missing.pt: no such file. Check the path (it is relative to the working directory).")
    assert message.count("Pass the checkpoint") == 0

"""``netlint recalibrate``: BatchNorm statistics re-estimated with dropout off, nothing else changed."""

from __future__ import annotations

import pickle
import shutil
import stat
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from netlint.probing.recalibrate import recalibrate

from .conftest import run_netlint, write

MODEL = """
import torch
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.5)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(self.drop(x))))
        return self.fc(x.mean(dim=(2, 3)))
"""


def build(tmp_path):
    path = write(tmp_path / "net.py", MODEL)
    namespace: dict = {}
    exec(compile(MODEL, str(path), "exec"), namespace)
    torch.manual_seed(0)
    model = namespace["Net"]()
    with torch.no_grad():  # running statistics learned with dropout on, as training does
        for _ in range(10):
            model(torch.randn(8, 3, 10, 10) * 2 + 1)
    return path, model.eval()


def by_hand(model, batches):
    """Dropout off, BatchNorms on batch statistics; running stats = average of batch mean and unbiased var."""
    sums: dict[str, list[torch.Tensor]] = {"bn1": [], "bn2": []}
    with torch.no_grad():
        for x in batches:
            h1 = model.conv1(x)
            a1 = torch.relu(F.batch_norm(h1, None, None, model.bn1.weight, model.bn1.bias, True, 0.0, model.bn1.eps))
            h2 = model.conv2(a1)  # dropout off: the identity
            for name, h in (("bn1", h1), ("bn2", h2)):
                flat = h.transpose(0, 1).flatten(1)
                sums[name].append(torch.stack([flat.mean(1), flat.var(1, unbiased=True)]))
    return {name: torch.stack(v).mean(0) for name, v in sums.items()}


def test_statistics_equal_those_computed_by_hand_and_the_model_is_untouched(tmp_path):
    _, model = build(tmp_path)
    batches = [torch.randn(8, 3, 10, 10, generator=torch.Generator().manual_seed(i)) * 2 + 1 for i in range(3)]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    momenta = [m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    result = recalibrate(model, batches)
    expected = by_hand(model, batches)
    for name in ("bn1", "bn2"):
        assert torch.allclose(result.state[f"{name}.running_mean"], expected[name][0], atol=1e-5, rtol=1e-5)
        assert torch.allclose(result.state[f"{name}.running_var"], expected[name][1], atol=1e-5, rtol=1e-5)
    assert set(result.state) == {"bn1.running_mean", "bn1.running_var", "bn2.running_mean", "bn2.running_var"}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    assert flags == [m.training for m in model.modules()]
    assert momenta == [m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    # After: the running statistics match what evaluation mode feeds bn2 much better than before.
    worst = {m.module: m for m in result.before}["bn2"]
    fixed = {m.module: m for m in result.after}["bn2"]
    assert abs(fixed.ratio_mean - 1) < abs(worst.ratio_mean - 1)
    assert result.output_drift > 0


def test_cli_writes_a_checkpoint_with_every_other_tensor_bit_identical(tmp_path):
    path, model = build(tmp_path)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    optimizer = {"step": torch.tensor(7), "exp_avg": torch.randn(5)}
    torch.save({"model_state_dict": state, "epoch": 12, "optimizer": optimizer}, tmp_path / "in.pt")
    batches = [torch.randn(8, 3, 10, 10) for _ in range(2)]
    torch.save(batches, tmp_path / "batches.pt")
    out = tmp_path / "out.pt"
    result = run_netlint("recalibrate", f"{path}:Net", "--weights", str(tmp_path / "in.pt"), "--input",
                         str(tmp_path / "batches.pt"), "--output", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "output drift" in result.stdout and "bn2" in result.stdout and f"wrote {out}" in result.stdout
    written = torch.load(out, weights_only=True)
    assert set(written) == {"model_state_dict", "epoch", "optimizer"} and written["epoch"] == 12
    assert all(torch.equal(written["optimizer"][k], v) for k, v in optimizer.items())
    assert list(written["model_state_dict"]) == list(state)
    changed = set()
    for key, value in state.items():
        new = written["model_state_dict"][key]
        assert new.dtype == value.dtype and new.shape == value.shape
        if not torch.equal(new, value):
            changed.add(key)
    assert changed == {f"module.bn{i}.running_{s}" for i in (1, 2) for s in ("mean", "var")}


def test_cli_errors(tmp_path):
    path, model = build(tmp_path)
    torch.save(model.state_dict(), tmp_path / "in.pt")
    torch.save(torch.randn(4, 3, 10, 10), tmp_path / "one.pt")
    torch.save(torch.randn(4, 5), tmp_path / "wrong.pt")
    wrong_shape = run_netlint("recalibrate", f"{path}:Net", "--weights", str(tmp_path / "in.pt"), "--input",
                              str(tmp_path / "wrong.pt"), "--output", str(tmp_path / "out.pt"))  # fmt: skip
    assert wrong_shape.returncode == 2 and "the forward pass fails on --input" in wrong_shape.stderr
    assert "Traceback" not in wrong_shape.stderr and not (tmp_path / "out.pt").exists()
    state = model.state_dict()
    del state["bn2.running_var"]
    torch.save(state, tmp_path / "partial.pt")
    missing = run_netlint("recalibrate", f"{path}:Net", "--weights", str(tmp_path / "partial.pt"), "--input",
                          str(tmp_path / "one.pt"), "--output", str(tmp_path / "out.pt"))  # fmt: skip
    assert missing.returncode == 2 and "1 missing key(s) (bn2.running_var)" in missing.stderr


HOSTILE = Path(__file__).resolve().parent / "fixtures" / "hostile"


def conv_checkpoint(path: Path) -> Path:
    """A state dict for the hostile fixtures' small Net (one Conv2d(3, 8, 3) called conv)."""
    conv = nn.Conv2d(3, 8, 3)
    torch.save({f"conv.{k}": v for k, v in conv.state_dict().items()}, path)
    return path


def recalibrate_cli(tmp_path, target: str, *extra: str, weights=None, batches=None, output=None):
    weights = weights or conv_checkpoint(tmp_path / "in.pt")
    if batches is None:
        batches = tmp_path / "batches.pt"
        torch.save(torch.randn(4, 3, 10, 10), batches)
    output = output or tmp_path / "out.pt"
    return run_netlint("recalibrate", target, "--weights", str(weights), "--input", str(batches), "--output",
                       str(output), *extra)  # fmt: skip


@pytest.mark.parametrize(
    ("fixture", "extra", "expected"),
    [
        ("endless_forward.py", ("--timeout", "3"), "did not finish within 3 s"),
        ("exit_in_constructor.py", (), "user code raised sys.exit(0)"),
        ("os_exit_in_forward.py", (), "its worker process exited with status 0 before sending a result"),
        ("writes_files.py", (), "netlint does not let user code write into the checked folders"),
    ],
)
def test_hostile_models_exit_2_write_nothing_and_leave_no_file_behind(tmp_path, fixture, extra, expected):
    """User code runs in a worker, as for check: a hang, an exit, a write at import end that worker only."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(HOSTILE / fixture, folder / fixture)
    result = recalibrate_cli(tmp_path, f"{folder / fixture}:Net", *extra)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.pt").exists()
    assert sorted(p.name for p in folder.iterdir()) == [fixture]  # nothing written beside the model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batches.pt", "in.pt", "models"]  # no temporary file


def test_non_finite_batches_and_statistics_are_refused(tmp_path):
    path, model = build(tmp_path)
    torch.save(model.state_dict(), tmp_path / "in.pt")
    batches = [torch.randn(8, 3, 10, 10) for _ in range(3)]
    batches[1][0, 0, 0, 0] = float("nan")
    torch.save(batches, tmp_path / "nan.pt")
    nan = recalibrate_cli(tmp_path, f"{path}:Net", weights=tmp_path / "in.pt", batches=tmp_path / "nan.pt")
    assert nan.returncode == 2 and "batch 1 of 3 holds NaN or Inf values" in nan.stderr
    assert "nothing was written" in nan.stderr and not (tmp_path / "out.pt").exists()

    overflow = write(tmp_path / "overflow.py", MODEL.replace("x = torch.relu(self.bn1(self.conv1(x)))",
                                                             "x = torch.relu(self.bn1(self.conv1(x) * 1e30 * 1e30))"))  # fmt: skip
    torch.save([torch.randn(8, 3, 10, 10)], tmp_path / "fine.pt")
    result = recalibrate_cli(tmp_path, f"{overflow}:Net", weights=tmp_path / "in.pt", batches=tmp_path / "fine.pt")
    assert result.returncode == 2 and "are not finite (bn1.running_mean" in result.stderr
    assert "the forward overflows" in result.stderr and not (tmp_path / "out.pt").exists()


def test_output_is_checked_before_any_work(tmp_path):
    """A model that would exit in its constructor shows that no user code ran: the path error comes first."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(HOSTILE / "exit_in_constructor.py", folder / "net.py")
    target = f"{folder / 'net.py'}:Net"
    weights = conv_checkpoint(tmp_path / "in.pt")
    before = weights.read_bytes()
    cases = {
        tmp_path / "missing" / "out.pt": "the folder " + str(tmp_path / "missing") + " does not exist",
        folder: "is a folder: name the checkpoint file to write",
        weights: "is --weights itself: netlint does not overwrite it",
        folder / "net.py": "is the model's file itself",
    }
    for output, expected in cases.items():
        result = recalibrate_cli(tmp_path, target, weights=weights, output=output)
        assert result.returncode == 2 and expected in result.stderr, result.stderr
        assert "sys.exit" not in result.stderr and "Traceback" not in result.stderr
    assert weights.read_bytes() == before and not (tmp_path / "missing").exists()
    gone = recalibrate_cli(tmp_path, target, weights=tmp_path / "nope.pt")
    assert gone.returncode == 2 and "cannot read --weights" in gone.stderr and "no such file" in gone.stderr


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_a_malicious_input_is_refused_without_the_weights_only_advice(tmp_path):
    path, model = build(tmp_path)
    torch.save(model.state_dict(), tmp_path / "in.pt")
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump([Evil()], fh)
    result = recalibrate_cli(tmp_path, f"{path}:Net", weights=tmp_path / "in.pt", batches=tmp_path / "evil.pt")
    assert result.returncode == 2 and "cannot use --input" in result.stderr
    assert "weights_only=False" not in result.stderr and "pwned" not in result.stdout + result.stderr
    assert not (tmp_path / "out.pt").exists()


def test_an_existing_output_is_replaced_atomically_keeping_its_mode(tmp_path):
    path, model = build(tmp_path)
    torch.save(model.state_dict(), tmp_path / "in.pt")
    out = tmp_path / "out.pt"
    out.write_bytes(b"an older checkpoint")
    out.chmod(0o640)
    result = recalibrate_cli(tmp_path, f"{path}:Net", weights=tmp_path / "in.pt", output=out)
    assert result.returncode == 0, result.stderr
    assert set(torch.load(out, weights_only=True)) == set(model.state_dict())
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batches.pt", "in.pt", "net.py", "out.pt"]

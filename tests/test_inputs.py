"""Example inputs: --input-shape, then the file's example_inputs(), then the first layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import netlint
from netlint.engine import Options, check_targets
from netlint.inputs import parse_shape

from .conftest import EXAMPLES, write


def only_model(report):
    assert not report.errors, [e.text for e in report.errors]
    [model] = report.models
    return model


def test_spatial_size_is_searched_until_the_forward_runs():
    model = only_model(check_targets([str(EXAMPLES / "mnist_fc_head.py")]))
    assert model.inputs == "2x1x28x28 float32"
    assert model.input_source == "inferred from conv1 (Conv2d, in_channels=1)"


class Conv1dHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(12, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 256, 2)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.fc = nn.Linear(16, 2)

    def forward(self, ids):
        return self.fc(self.embed(ids).mean(1))


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 2)
        self.b = nn.Linear(6, 2)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def test_conv1d_and_embedding_inference():
    report = netlint.check(Conv1dHead())
    assert report.models[0].inputs == "2x12x256 float32"
    report = netlint.check(Tokens())
    assert report.models[0].inputs == "2x16 int64"
    assert "Embedding, num_embeddings=100" in report.models[0].input_source


def test_two_inputs_need_shapes():
    report = netlint.check(TwoInputs())
    assert "missing 1 required positional argument: 'y'" in report.errors[0].text
    assert "--input-shape" in report.errors[0].text
    report = check_targets([f"{__file__}:TwoInputs"], Options(input_shapes=[parse_shape("2,4"), parse_shape("2,6")]))
    assert only_model(report).inputs == "2x4 float32, 2x6 float32"


def test_no_layer_to_infer_from():
    report = netlint.check(nn.Sequential(nn.ReLU()))
    assert "cannot guess an example input" in report.errors[0].text


@pytest.mark.parametrize(
    ("text", "shape", "dtype"),
    [
        ("2,3,224,224", (2, 3, 224, 224), torch.float32),
        ("2x128:long", (2, 128), torch.int64),
        (" 4, 8 ", (4, 8), torch.float32),
    ],
)
def test_parse_shape(text, shape, dtype):
    t = parse_shape(text)
    assert (t.shape, t.dtype) == (shape, dtype)


@pytest.mark.parametrize("text", ["", "2,a", "0,3", "2,3:complex"])
def test_parse_shape_rejects(text):
    with pytest.raises(ValueError):
        parse_shape(text)


CONVENTION = """
import torch
import torch.nn as nn

class A(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(5, 2)
    def forward(self, x):
        return self.fc(x)
    def example_inputs(self):
        return torch.randn(3, 5)

class B(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
    def forward(self, x, scale=1.0):
        return self.conv(x) * scale

def example_inputs(name):
    assert name.endswith(":B")
    return torch.randn(1, 3, 10, 10), 2.0
"""


def test_example_inputs_convention(tmp_path):
    f = write(tmp_path / "conv.py", CONVENTION)
    report = check_targets([str(f)])
    assert not report.errors, [e.text for e in report.errors]
    a, b = report.models
    assert (a.inputs, a.input_source) == ("3x5 float32", "A.example_inputs()")
    assert (b.inputs, b.input_source) == ("1x3x10x10 float32, 2.0", "example_inputs() in the model's file")


def test_input_shape_overrides_the_convention(tmp_path):
    f = write(tmp_path / "conv.py", CONVENTION)
    report = check_targets([f"{f}:A"], Options(input_shapes=[parse_shape("7,5")]))
    assert only_model(report).inputs == "7x5 float32" and report.models[0].input_source == "--input-shape"


def test_failing_convention_is_bad_input(tmp_path):
    f = write(tmp_path / "bad.py", CONVENTION.replace("return torch.randn(3, 5)", "raise KeyError('x')"))
    report = check_targets([f"{f}:A"])
    assert "A.example_inputs() failed: KeyError" in report.errors[0].text


def test_forward_failure_names_the_input_and_the_layer(tmp_path):
    f = write(tmp_path / "wrong.py", "import torch.nn as nn\nclass W(nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.fc = nn.Linear(999, 2)\n        self.conv = nn.Conv2d(3, 4, 3)\n"
              "    def forward(self, x):\n        return self.fc(self.conv(x).flatten(1))\n")  # fmt: skip
    report = check_targets([str(f)])
    text = report.errors[0].text
    assert (
        "the forward pass fails on the chosen input 2x999 float32 (inferred from fc (Linear, in_features=999))" in text
    )
    assert "--input-shape" in text

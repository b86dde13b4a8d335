"""Example inputs: --input-shape, then the file's example_inputs(), then the first layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import netlint
from netlint.graph.inputs import from_values, parse_shape, parse_shapes
from netlint.options import Options
from netlint.run.targets import check_targets

from .conftest import EXAMPLES, run_netlint, write


def only_model(report):
    assert not report.errors, [e.text for e in report.errors]
    [model] = report.models
    return model


def test_spatial_size_is_solved_for_the_linear_after_the_flatten():
    model = only_model(check_targets([str(EXAMPLES / "mnist_fc_head.py")]))
    assert model.inputs == "2x1x28x28 float32"
    assert (
        model.input_source == "inferred from conv1 (Conv2d, in_channels=1), 28x28 to fit fc (Linear, in_features=12544)"
    )


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


def test_two_inputs_are_each_inferred_from_their_own_layer():
    model = only_model(netlint.check(TwoInputs()))
    assert model.inputs == "2x4 float32, 2x6 float32"
    assert "x from a (Linear, in_features=4), y from b (Linear, in_features=6)" in model.input_source
    report = check_targets([f"{__file__}:TwoInputs"], Options(input_shapes=[parse_shape("2,4"), parse_shape("2,6")]))
    assert only_model(report).inputs == "2x4 float32, 2x6 float32"


# -- the first layer forward calls, and the sizes its structure fixes -----------------------------
class BodyFirst(nn.Module):
    """Registers its 64-channel body before its 3-channel stem; forward calls the stem first."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU())
        self.stem = nn.Conv2d(3, 64, 3, padding=1)

    def forward(self, x):
        return self.body(self.stem(x))


class CoordinatesFirst(nn.Module):
    """Calls a Linear on its own coordinate buffer before the input reaches any layer: not the input's layer."""

    def __init__(self):
        super().__init__()
        self.position = nn.Linear(2, 8)
        self.register_buffer("grid", torch.zeros(16, 2))
        self.conv = nn.Conv2d(5, 8, 3, padding=1)

    def forward(self, x):
        bias = self.position(self.grid).mean(0)
        return self.conv(x) + bias[:, None, None]


class UntraceableCondition(nn.Module):
    """Registers the condition's Linear first and branches on a value fx cannot trace."""

    def __init__(self):
        super().__init__()
        self.cond = nn.Linear(4, 8)
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x, c):
        h = self.conv(x)
        e = self.cond(c)
        if h.dim() == 4:  # a Python bool of a traced value: fx fails, an eager run does not
            e = e[:, :, None, None]
        return h + e


class HeadFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(16, 2)
        self.embed = nn.Embedding(100, 16)

    def forward(self, ids):
        return self.head(self.embed(ids).mean(1))


def test_the_first_layer_forward_calls_decides_the_input():
    model = only_model(netlint.check(BodyFirst()))
    assert model.inputs == "2x3x224x224 float32"
    assert model.input_source == "inferred from stem (Conv2d, in_channels=3)"
    assert only_model(netlint.check(CoordinatesFirst())).input_source == "inferred from conv (Conv2d, in_channels=5)"


def test_a_given_shape_is_token_indices_when_the_input_first_reaches_an_embedding():
    report = check_targets([f"{__file__}:HeadFirst"], Options(input_shapes=[parse_shape("2,16")]))
    assert only_model(report).inputs == "2x16 int64"


def test_several_inputs_follow_the_data_when_fx_cannot_trace():
    model = only_model(netlint.check(UntraceableCondition()))
    assert model.inputs == "2x3x224x224 float32, 2x4 float32"
    assert model.input_source.startswith("inferred per input: x from conv (Conv2d, in_channels=3)")


class Generator(nn.Module):
    """DCGAN-like: a latent of 100 values per sample, as a 1x1 map, upsampled by transposed convolutions."""

    def __init__(self, latent=100, width=8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(latent, width * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(width * 4), nn.ReLU(True),
            nn.ConvTranspose2d(width * 4, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.ReLU(True),
            nn.ConvTranspose2d(width * 2, 3, 4, 2, 1, bias=False), nn.Tanh(),
        )  # fmt: skip

    def forward(self, z):
        return self.main(z)


class NatureDQN(nn.Module):
    """84x84 frames: 64x7x7 features reach Linear(3136, 512); no usual size gives that."""

    def __init__(self, actions=6):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(4, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, actions))

    def forward(self, x):
        return self.head(self.conv(x).flatten(1))


def test_a_transposed_convolution_first_takes_a_one_by_one_latent():
    model = only_model(netlint.check(Generator()))
    assert model.inputs == "2x100x1x1 float32"
    assert model.graph.nodes[-1].shapes == ((2, 3, 16, 16),)


def test_the_spatial_size_is_solved_from_the_linear_after_the_flatten():
    model = only_model(netlint.check(NatureDQN()))
    assert model.inputs == "2x4x84x84 float32"
    assert model.input_source == (
        "inferred from conv.0 (Conv2d, in_channels=4), 84x84 to fit head.0 (Linear, in_features=3136)"
    )


def test_no_size_is_solved_when_none_fits():
    from netlint.graph.inputs import fitted, inferred

    class NeverFits(nn.Module):  # 4 channels x (n-2)^2 positions is never 999
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.fc = nn.Linear(999, 2)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    with torch.device("meta"):
        model = NeverFits()
    assert fitted(model, inferred(model)[0]) is None


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
    assert (  # conv is registered after fc, but forward calls it first: the input is conv's
        "the forward pass fails on the chosen input 2x3x224x224 float32 (inferred from conv (Conv2d, in_channels=3))"
        in text
    )
    assert "in layer fc" in text
    assert "--input-shape" in text


# -- a guessed input must keep the batch ---------------------------------------------------------
class FoldsPositions(nn.Module):
    """A CIFAR head written as ``out.view(-1, 640)``: at 224x224 it runs and returns 98 rows for 2 images."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 10, 3, padding=1)
        self.pool = nn.MaxPool2d(4)
        self.fc = nn.Linear(640, 10)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x)).view(-1, 640))


def test_an_inferred_size_must_keep_the_batch():
    model = only_model(netlint.check(FoldsPositions()))
    assert model.inputs == "2x3x32x32 float32"
    assert "keeps the batch" not in model.input_source


class NeverKeepsBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(x).view(-1, 5)


def test_when_no_size_keeps_the_batch_the_input_line_says_so():
    model = only_model(netlint.check(NeverKeepsBatch()))
    assert model.inputs == "2x8 float32"
    assert "no input size tried keeps the batch: 2x8 gives 4x5" in model.input_source


def test_a_given_input_is_never_second_guessed():
    model = only_model(netlint.check(NeverKeepsBatch(), torch.randn(2, 8)))
    assert model.input_source == "inputs="


# -- several inputs --------------------------------------------------------------------------------
class SinusoidalEmbedding(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, t):
        freqs = torch.exp(-torch.arange(self.dim // 2, device=t.device) / self.dim)
        args = t[:, None].float() * freqs[None]
        return torch.cat([args.sin(), args.cos()], dim=-1)


class TinyUNet(nn.Module):
    """Registers its time embedding before its first convolution, as diffusion U-Nets do."""

    def __init__(self):
        super().__init__()
        self.time_mlp = nn.Sequential(SinusoidalEmbedding(16), nn.Linear(16, 32), nn.SiLU())
        self.conv_in = nn.Conv2d(3, 32, 3, padding=1)
        self.conv_out = nn.Conv2d(32, 3, 3, padding=1)

    def forward(self, x, t):
        h = self.conv_in(x) + self.time_mlp(t)[:, :, None, None]
        return self.conv_out(h)


def test_each_input_comes_from_the_first_layer_that_consumes_it():
    model = only_model(netlint.check(TinyUNet()))
    assert model.inputs == "2x3x224x224 float32, 2 float32"
    assert "x from conv_in (Conv2d, in_channels=3)" in model.input_source
    assert "t as one value per sample, embedded before time_mlp.1" in model.input_source


def _hides_signature(forward):
    def wrapper(self, *args):
        wrapper.calls += 1
        return forward(self, *args)

    wrapper.calls = 0
    return wrapper


class HiddenArity(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    @_hides_signature
    def forward(self, x, y):
        return self.conv(x) + y


def test_an_arity_error_is_recognised_once():
    report = netlint.check(HiddenArity())
    [error] = report.errors
    assert "forward cannot be called" in error.text and "missing 1 required positional argument: 'y'" in error.text
    assert "sizes tried" not in error.text
    # One dry run that looks for the first layer, one try: not once per candidate size.
    assert HiddenArity.forward.calls == 2


def test_more_shapes_than_forward_takes_is_an_error():
    report = check_targets([f"{__file__}:Tokens"], Options(input_shapes=parse_shapes(["2,16:long", "2,4"])))
    [error] = report.errors
    assert "2 inputs were given (--input-shape) but Tokens.forward takes 1 positional input (ids)" in error.text
    assert report.exit_code() == 2


# -- inputs that are not one tensor ---------------------------------------------------------------
DICT_BATCH = """
import torch
import torch.nn as nn


class Lit(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, batch):
        return self.bn(self.drop(self.conv(batch["image"]))) * batch["scale"][0]
"""


def test_example_inputs_may_return_a_dict(tmp_path):
    f = write(
        tmp_path / "lit.py",
        DICT_BATCH + "\n\ndef example_inputs():\n"
        "    return {'image': torch.full((2, 3, 16, 16), 12345.0), 'scale': [torch.ones(1)]}\n",
    )
    model = only_model(check_targets([str(f)], Options(probe=False)))
    assert model.inputs == "{image: 2x3x16x16 float32, scale: [1 float32]}"
    assert [p.engine for p in model.parts] == ["torch.fx"]
    assert [(f.code, f.module) for f in model.findings if f.code == "NL001"] == [("NL001", "drop")]


def test_a_dict_that_fx_cannot_trace_is_recorded(tmp_path):
    source = DICT_BATCH.replace(
        'return self.bn(self.drop(self.conv(batch["image"]))) * batch["scale"][0]',
        'x = [v for k, v in sorted(batch.items()) if k == "image"][0]\n        return self.bn(self.drop(self.conv(x)))',
    )
    f = write(tmp_path / "lit.py", source)
    report = check_targets([str(f)], Options(input_shapes=parse_shapes(["image=2,3,16,16"]), probe=False))
    model = only_model(report)
    assert model.inputs == "{image: 2x3x16x16 float32}" and model.input_source == "--input-shape"
    assert model.parts[0].engine.startswith("capture")
    assert [(f.code, f.module) for f in model.findings if f.code == "NL001"] == [("NL001", "drop")]


def test_the_probe_uses_a_dict_input_whole():
    class Lit(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.drop = nn.Dropout(0.5)
            self.bn = nn.BatchNorm2d(8)

        def forward(self, batch):
            return self.bn(self.drop(self.conv(batch["image"])))

    report = netlint.check(Lit(), {"image": torch.randn(4, 3, 8, 8)}, probe=True)
    assert not report.errors, [e.text for e in report.errors]
    assert report.probe is not None
    # A real batch nested in a dict is still a real batch: used whole, and reported as such.
    assert (report.probe.batch_size, report.probe.batch_reason) == (4, "a real batch, used whole")


def test_a_tuple_lists_positional_inputs_that_may_nest():
    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 2)

        def forward(self, pair, extra):
            return self.a(pair[0] + pair[1]) * extra["w"]

    inputs = ((torch.randn(2, 4), torch.randn(2, 4)), {"w": torch.randn(2, 2)})
    model = only_model(netlint.check(Pair(), inputs))
    assert model.inputs == "(2x4 float32, 2x4 float32), {w: 2x2 float32}"


def test_input_file_may_hold_a_dict(tmp_path):
    f = write(tmp_path / "lit.py", DICT_BATCH)
    batch = tmp_path / "batch.pt"
    torch.save({"image": torch.full((2, 3, 8, 8), 777.0), "scale": [torch.ones(1)]}, batch)
    result = run_netlint("check", str(f), "--input", str(batch), "--no-probe", "--format", "json")
    assert result.returncode == 1, result.stderr  # NL001 found, through the dict
    assert "{image: 2x3x8x8 float32, scale: [1 float32]}" in result.stdout
    bad = run_netlint("check", str(f), "--input-shape", "image=2,3,8,8", "--input-shape", "2,3")
    assert bad.returncode == 2 and "name every shape" in bad.stderr


def test_errors_on_a_dict_input_show_shapes_not_values(tmp_path):
    f = write(tmp_path / "lit.py", DICT_BATCH)
    wrong = {"image": torch.full((2, 5, 8, 8), 12345.0), "scale": [torch.ones(1)]}
    report = check_targets([str(f)], Options(inputs=from_values(wrong, "inputs=")))
    [error] = report.errors
    assert "{image: 2x5x8x8 float32, scale: [1 float32]}" in error.text
    assert "12345" not in error.text


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["image=2,3,8,8", "label=2:long"], {"image": ((2, 3, 8, 8), torch.float32), "label": ((2,), torch.int64)}),
    ],
)
def test_named_shapes_build_one_dict(texts, expected):
    [batch] = parse_shapes(texts)
    assert {k: (v.shape, v.dtype) for k, v in batch.items()} == expected


@pytest.mark.parametrize("texts", [["image=2,3", "2,3"], ["a=2", "a=3"], ["=2,3"]])
def test_named_shapes_reject(texts):
    with pytest.raises(ValueError):
        parse_shapes(texts)


class UntraceableTwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.cond = nn.Linear(4, 8)

    def forward(self, x, c):
        h = self.conv(x)
        if h.sum() > 0:  # data-dependent: no symbolic trace tells which layer takes c
            h = h + 1
        return h + self.cond(c)[:, :, None, None]


def test_inputs_of_an_untraceable_forward_are_guessed_from_the_other_layers():
    model = only_model(netlint.check(UntraceableTwoInputs()))
    assert model.inputs == "2x3x224x224 float32, 2x4 float32"


class _ConvBn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)


class NeedsGpu(_ConvBn):
    def forward(self, x):
        return self.bn(self.conv(x.cuda()))  # no input size will help: netlint runs without a GPU


class ReadsADict(_ConvBn):
    def forward(self, batch):
        mask = batch.get("mask")
        return self.bn(self.conv(batch["image"])) * mask


def test_a_forward_that_needs_a_gpu_is_told_so_not_sent_hunting_for_input_shapes():
    report = netlint.check(NeedsGpu())
    (error,) = [e.text for e in report.errors]
    assert "the forward pass needs a GPU: it asks for CUDA in cuda() at " in error and "test_inputs.py" in error
    assert "input sizes tried" not in error and "--input-shape" not in error and "spawn" not in error
    assert "instead of x.cuda()" in error


class ReadsAnImage(_ConvBn):
    def forward(self, batch):
        return self.bn(self.conv(batch["image"]))


def test_a_forward_that_reads_named_entries_gets_the_named_input_shape_form_that_fixes_it():
    (error,) = [e.text for e in netlint.check(ReadsAnImage()).errors]
    assert "forward reads 'image' from its input, a dict: give each entry its shape, e.g. --input-shape " \
           "image=2,3,224,224," in error  # fmt: skip
    report = netlint.check(ReadsADict())
    (error,) = [e.text for e in report.errors]
    assert "forward reads 'mask', 'image' from its input, a dict" in error
    assert "--input-shape mask=SHAPE --input-shape image=SHAPE (inferred from conv" in error
    assert "Using a non-tuple sequence" not in " ".join(report.notes)  # the failed attempts' warnings are dropped
    # The named form works: with both entries given, the model is checked.
    fixed = netlint.check(ReadsADict(), {"image": torch.randn(2, 3, 16, 16), "mask": torch.ones(1)})
    assert not fixed.errors and [f.code for f in fixed.findings] == ["NL002"]

"""NL012 parameters-without-gradient: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "NeverCalled": ["aux"],
    "DetachedBranch": ["proj"],
    "NoGradEncoder": ["encoder"],
    "ComparisonGate": ["gate"],
    "ShapeOnly": ["probe"],
    "LoneParameter": ["temperature"],
    "DetachedAuxInTuple": ["aux"],
    "DataInDict": ["b"],
    "ReturnsIndices": [""],
    "FunctionWithoutGradientForAnInput": ["scale"],
    "FunctionWithNonDifferentiableOutput": ["router"],
    "AuxHeadSwitchedOff": ["aux"],
    "UnusedBesideTrainingStep": ["spare"],
    "MaskTokenForPretraining": ["embeddings.mask_token"],
    "SpareExpert": ["spare"],
}


class NeverCalled(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.aux = nn.Linear(8, 4)  # expect: NL012

    def forward(self, x):
        return self.fc(x)


class DetachedBranch(nn.Module):
    """The projection's output is detached before it joins the result."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.proj = nn.Linear(8, 4)  # expect: NL012

    def forward(self, x):
        return self.fc(x) + self.proj(x).detach()


class NoGradEncoder(nn.Module):
    """A whole trainable encoder run under torch.no_grad(): one finding at the encoder."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())  # expect: NL012
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        with torch.no_grad():
            h = self.encoder(x)
        return self.head(h.mean((2, 3)))


class ComparisonGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.gate = nn.Linear(8, 1)  # expect: NL012

    def forward(self, x):
        keep = self.gate(x) > 0
        return self.fc(x) * keep


class ShapeOnly(nn.Module):
    """The probe layer's output is used only for its width."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.probe = nn.Linear(8, 3)  # expect: NL012

    def forward(self, x):
        width = self.probe(x).shape[-1]
        return self.fc(x) * width


class LoneParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.temperature = nn.Parameter(torch.ones(1))  # expect: NL012

    def forward(self, x):
        return F.log_softmax(self.fc(x), dim=-1)


class DetachedAuxInTuple(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.aux = nn.Linear(8, 4)  # expect: NL012

    def forward(self, x):
        return self.fc(x), self.aux(x).detach()


class DataInDict(nn.Module):
    """``.data`` leaves autograd as surely as ``.detach()``."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 4)
        self.b = nn.Linear(8, 4)  # expect: NL012

    def forward(self, x):
        return {"a": self.a(x), "b": self.b(x).data}


class ReturnsIndices(nn.Module):  # expect: NL012
    """The model returns class indices: nothing in it can train."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(x).argmax(dim=1)


class ScaleWithoutGradient(torch.autograd.Function):
    """Its backward returns None for ``scale``: whatever computes the scale never trains."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(scale)
        return x * scale

    @staticmethod
    def backward(ctx, grad):
        (scale,) = ctx.saved_tensors
        return grad * scale, None


class FunctionWithoutGradientForAnInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.scale = nn.Parameter(torch.ones(8))  # expect: NL012

    def forward(self, x):
        return ScaleWithoutGradient.apply(self.fc(x), self.scale)


class TopChoice(torch.autograd.Function):
    """Returns the best score and its index; the index is marked non-differentiable."""

    @staticmethod
    def forward(ctx, logits):
        best, index = logits.max(dim=-1)
        ctx.mark_non_differentiable(index)
        ctx.save_for_backward(index)
        ctx.size = logits.shape[-1]
        return best, index

    @staticmethod
    def backward(ctx, grad_best, grad_index):
        (index,) = ctx.saved_tensors
        return F.one_hot(index, ctx.size).to(grad_best) * grad_best.unsqueeze(-1)


class FunctionWithNonDifferentiableOutput(nn.Module):
    """The router's scores are used only through the index a Function marks non-differentiable."""

    def __init__(self):
        super().__init__()
        self.experts = nn.Parameter(torch.randn(4, 8, 8))
        self.router = nn.Linear(8, 4)  # expect: NL012

    def forward(self, x):
        _, choice = TopChoice.apply(self.router(x))
        return torch.einsum("bi,bio->bo", x, self.experts[choice])


class AuxHeadSwitchedOff(nn.Module):
    """The auxiliary head runs only under a flag of the instance, which is off: no call can train it."""

    def __init__(self, use_aux=False):
        super().__init__()
        self.use_aux = use_aux
        self.fc = nn.Linear(8, 4)
        self.aux = nn.Linear(8, 4)  # expect: NL012

    def forward(self, x):
        if self.use_aux:
            return self.fc(x) + self.aux(x)
        return self.fc(x)


class UnusedBesideTrainingStep(nn.Module):
    """A training step that trains the projection does not excuse a layer that no code refers to."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 8)
        self.projection = nn.Linear(8, 8)
        self.spare = nn.Linear(8, 8)  # expect: NL012

    def forward(self, x):
        return self.encoder(x)

    def training_step(self, batch, batch_idx):
        return self.projection(self(batch)).pow(2).mean()


class MaskedEmbeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.mask_token = nn.Parameter(torch.zeros(8))  # expect: NL012

    def forward(self, x, bool_masked_pos=None):
        h = self.proj(x)
        if bool_masked_pos is not None:
            h = torch.where(bool_masked_pos.unsqueeze(-1), self.mask_token, h)
        return h


class MaskTokenForPretraining(nn.Module):
    """DINOv2-like: the mask token trains only if training passes a mask (an info, not a warning)."""

    def __init__(self):
        super().__init__()
        self.embeddings = MaskedEmbeddings()
        self.fc = nn.Linear(8, 4)

    def forward(self, x, bool_masked_pos=None):
        return self.fc(self.embeddings(x, bool_masked_pos=bool_masked_pos))


class SpareExpert(nn.Module):
    """Experts a router did not pick train when it picks them; a layer no code refers to never does."""

    def __init__(self):
        super().__init__()
        self.router = nn.Linear(8, 4)
        self.experts = nn.ModuleList(nn.Linear(8, 8) for _ in range(4))
        self.spare = nn.Linear(8, 8)  # expect: NL012

    def forward(self, x):
        probs = self.router(x).softmax(-1)
        choice = probs.argmax(-1)
        out = torch.zeros_like(x)
        for i, expert in enumerate(self.experts):
            picked = choice == i
            if picked.any():
                out[picked] = expert(x[picked]) * probs[picked, i : i + 1]
        return out

    @staticmethod
    def example_inputs():
        return (torch.randn(3, 8),)

"""NL012 parameters-without-gradient: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class SimSiamStopGradient(nn.Module):
    """The projection is returned detached, but it also feeds the predictor differentiably."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 8)
        self.pred = nn.Linear(8, 8)

    def forward(self, x):
        z = self.proj(x)
        return self.pred(z), z.detach()


class FrozenBackbone(nn.Module):
    """A frozen backbone under no_grad, unused buffers and a frozen spare layer: nothing to train there."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
        self.backbone.requires_grad_(False)
        self.spare = nn.Linear(8, 8).requires_grad_(False)
        self.register_buffer("counts", torch.zeros(8))
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        with torch.no_grad():
            h = self.backbone(x)
        return self.head(h.mean((2, 3)))


class AuxHeadsInTraining(nn.Module):
    """Inception-style: the auxiliary head is returned (in training mode) as part of a tuple."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.fc = nn.Linear(8, 4)
        self.aux = nn.Linear(8, 4)

    def forward(self, x):
        h = torch.relu(self.body(x))
        if self.training:
            return self.fc(h), self.aux(h)
        return self.fc(h)


class TiedWeights(nn.Module):
    """The decoder is never called, but its weight is the encoder's, which trains."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(16, 8)
        self.decoder = nn.Linear(8, 16, bias=False)
        self.decoder.weight = self.encoder.weight

    def forward(self, x):
        return self.encoder(x) @ self.encoder.weight.t()

    @staticmethod
    def example_inputs():
        return torch.randint(0, 16, (2, 5))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        if self.training and torch.rand(()) < 0.5:
            return x
        return x + self.fc(x)


class StochasticDepth(nn.Module):
    """Blocks a random draw skips in some steps train whenever they run."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*(Block() for _ in range(6)))

    def forward(self, x):
        return self.blocks(x)


class StraightThroughGate(nn.Module):
    """A hard gate learned with a straight-through estimator: the soft value carries the gradient."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.gate = nn.Linear(8, 1)

    def forward(self, x):
        soft = torch.sigmoid(self.gate(x))
        hard = (soft > 0.5).float()
        return self.fc(x) * (hard + soft - soft.detach())


class SwishFunction(torch.autograd.Function):
    """A memory-saving Swish: forward runs with gradients off, backward recomputes from the input."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad * s * (1 + x * (1 - s))


class MemoryEfficientSwish(nn.Module):
    def forward(self, x):
        return SwishFunction.apply(x)


class CustomFunctionActivation(nn.Module):
    """EfficientNet-like: every parameter before a custom autograd Function still trains through its backward."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), MemoryEfficientSwish())
        self.expand = nn.Conv2d(8, 16, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = MemoryEfficientSwish()
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        h = self.act(self.bn(self.expand(self.stem(x))))
        return self.head(h.mean((2, 3)))


class TanhGelu(torch.autograd.Function):
    """A GeLU with its own backward, as language models write it."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 0.5 * x * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        t = torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x))
        slope = 0.5 * x * ((1 - t * t) * (0.79788456 + 0.1070322243 * x * x)) + 0.5 * (1 + t)
        return slope * grad


class GeluFunctionMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(8, 32)
        self.down = nn.Linear(32, 8)

    def forward(self, x):
        h = self.up(x)
        h = TanhGelu.apply(h) if self.training else F.gelu(h, approximate="tanh")
        return self.down(h)


class SignWithIdentityGradient(torch.autograd.Function):
    """A straight-through sign: the comparison inside is not where the gradient goes, backward is."""

    @staticmethod
    def forward(ctx, x):
        return (x > 0).float() * 2 - 1

    @staticmethod
    def backward(ctx, grad):
        return grad


class BinaryCodes(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 16)
        self.decoder = nn.Linear(16, 8)

    def forward(self, x):
        return self.decoder(SignWithIdentityGradient.apply(self.encoder(x)))


class AuxHeadWithLabels(nn.Module):
    """UperNet-like: the auxiliary head runs only when labels are passed, and then feeds the loss."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.decode = nn.Conv2d(8, 4, 1)
        self.aux_head = nn.Conv2d(8, 4, 1)

    def forward(self, x, labels=None):
        features = self.backbone(x)
        logits = self.decode(features)
        if labels is None:
            return logits
        aux = self.aux_head(features)
        loss = F.cross_entropy(logits, labels) + 0.4 * F.cross_entropy(aux, labels)
        return logits, loss


class AuxLogitsKeptForTheLoss(nn.Module):
    """The auxiliary head always runs (and is resized), but its output reaches the loss only when labels are passed."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.decode = nn.Conv2d(8, 4, 1)
        self.auxiliary = nn.Conv2d(8, 4, 1)

    def forward(self, x, labels=None):
        features = self.backbone(x)
        logits = F.interpolate(self.decode(features), size=x.shape[-2:])
        aux_logits = self.auxiliary(features)
        aux_logits = F.interpolate(aux_logits, size=x.shape[-2:])
        loss = None
        if labels is not None:
            loss = self.loss(logits, aux_logits, labels)
        return logits if loss is None else (logits, loss)

    def loss(self, logits, aux_logits, labels):
        return F.cross_entropy(logits, labels) + 0.4 * F.cross_entropy(aux_logits, labels)


class ProjectionInTrainingStep(nn.Module):
    """SimCLR-like: the projection head is used only by the training step's contrastive loss."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(8, 16), nn.ReLU())
        self.projection = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 8))

    def forward(self, x):
        return self.encoder(x)

    def training_step(self, batch, batch_idx):
        first, second = batch
        z1, z2 = self.projection(self(first)), self.projection(self(second))
        return -F.cosine_similarity(z1, z2).mean()


class DeepSupervision(nn.Module):
    """Side heads that a flag computed from the targets argument switches on."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.out = nn.Linear(8, 4)
        self.side = nn.ModuleList([nn.Linear(8, 4) for _ in range(2)])

    def forward(self, x, targets=None):
        h = torch.relu(self.body(x))
        supervised = targets is not None
        if supervised:
            return sum(F.mse_loss(head(h), targets) for head in self.side)
        return self.out(h)


class ZeroRouterExperts(nn.Module):
    """Top-1 mixture of experts with a zero router: every token picks expert 0 at initialisation, and
    the others train as soon as the router learns to send them tokens."""

    def __init__(self):
        super().__init__()
        self.router = nn.Linear(8, 4)
        nn.init.zeros_(self.router.weight)
        nn.init.zeros_(self.router.bias)
        self.experts = nn.ModuleList(nn.Linear(8, 8) for _ in range(4))

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
        return (torch.randn(16, 8),)

"""NL012 parameters-without-gradient: models that must not be reported."""

import torch
import torch.nn as nn


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

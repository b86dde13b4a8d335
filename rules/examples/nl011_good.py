"""NL011 linear-collapse: models that must not be reported."""

import torch
import torch.nn as nn


class WithActivation(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 10))


class LowRankAdapter(nn.Module):
    """LoRA: 64 -> 8 -> 64 is a deliberate rank-8 factorisation."""

    def __init__(self):
        super().__init__()
        self.down = nn.Linear(64, 8, bias=False)
        self.up = nn.Linear(8, 64, bias=False)

    def forward(self, x):
        return self.up(self.down(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 64)


class ResidualProjection(nn.Module):
    """The projection's output is also added back: it cannot be merged into the next layer."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(32, 32)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        h = self.proj(x)
        return self.fc(h), h


class Gated(nn.Module):
    """a * sigmoid(b) is a product of two activations: a nonlinearity."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.b = nn.Linear(16, 32)
        self.out = nn.Linear(32, 16)

    def forward(self, x):
        return self.out(self.a(x) * torch.sigmoid(self.b(x)))


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(16, 16)
        self.k = nn.Linear(16, 16)
        self.v = nn.Linear(16, 16)
        self.o = nn.Linear(16, 16)

    def forward(self, x):
        w = (self.q(x) @ self.k(x).transpose(1, 2)).softmax(-1)
        return self.o(w @ self.v(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 5, 16)


class LayerNormBetween(nn.Module):
    """LayerNorm divides by a per-sample deviation: not linear."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 32)
        self.norm = nn.LayerNorm(32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(self.norm(self.fc1(x)))


class SpatialConvThenPointwise(nn.Module):
    """A 3x3 conv then a 1x1 conv: the pair is a 3x3 conv, but the 1x1 is the cheap way to write it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.pw = nn.Conv2d(8, 16, 1)

    def forward(self, x):
        return self.pw(self.conv(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 8, 8)


class SplitIntoHeads(nn.Module):
    """The reshape splits each feature vector into heads: the next Linear mixes within a head only."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.per_head = nn.Linear(8, 8)

    def forward(self, x):
        return self.per_head(self.fc(x).view(x.shape[0], 4, 8))

"""NL005 drop-path-before-batchnorm: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
from torchvision.ops import StochasticDepth

EXPECTED = {
    "TorchvisionStochasticDepth": ["sd"],
    "OwnDropPathModule": ["drop_path"],
    "PerSampleMask": [""],
    "RandomlySkippedBlocks": ["blocks.0", "blocks.1"],
    "BernoulliGatedBlocks": ["blocks.0", "blocks.1"],
}


def residual(c):
    return nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU())


class TorchvisionStochasticDepth(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch = residual(8)
        self.sd = StochasticDepth(0.2, "row")  # expect: NL005
        self.next = residual(8)

    def forward(self, x):
        return self.next(x + self.sd(self.branch(x)))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class DropPath(nn.Module):
    """A user's own drop-path layer (as in timm): recognised by its name and its drop probability."""

    def __init__(self, drop_prob: float):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        if not self.training or self.drop_prob == 0:
            return x
        keep = 1 - self.drop_prob
        return x * x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep) / keep


class OwnDropPathModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.branch = residual(8)
        self.drop_path = DropPath(0.1)  # expect: NL005
        self.next = residual(8)

    def forward(self, x):
        return self.next(x + self.drop_path(self.branch(x)))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class PerSampleMask(nn.Module):
    """Stochastic depth written inline: a per-sample Bernoulli mask scales the residual branch."""

    def __init__(self):
        super().__init__()
        self.branch = residual(8)
        self.next = residual(8)

    def forward(self, x):
        out = self.branch(x)
        if self.training:
            keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < 0.9
            out = out * keep / 0.9  # expect: NL005
        return self.next(x + out)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class SkippedBlock(nn.Module):
    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.body = residual(8)

    def forward(self, x):
        if self.training and torch.rand(()) < self.p:  # expect: NL005
            return x
        return x + self.body(x)


class RandomlySkippedBlocks(nn.Module):
    """Huang et al.'s original form: a random draw decides whether a block runs at all."""

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(SkippedBlock(0.3), SkippedBlock(0.3), SkippedBlock(0.3))

    def forward(self, x):
        return self.blocks(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class EqualGatedBlock(nn.Module):
    """Stochastic depth as research code writes it: a Bernoulli sample compared with torch.equal,
    or with Tensor.equal, decides whether the residual branch runs."""

    def __init__(self, survive: float, method: bool):
        super().__init__()
        self.gate = torch.distributions.Bernoulli(torch.tensor([survive]))
        self.method = method
        self.body = residual(8)

    def forward(self, x):
        if not self.training:
            return x + self.body(x)
        if self.method:
            keep = self.gate.sample().equal(torch.ones(1))  # expect: NL005
        else:
            keep = torch.equal(self.gate.sample(), torch.ones(1))  # expect: NL005
        return x + self.body(x) if keep else x


class BernoulliGatedBlocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(
            EqualGatedBlock(0.8, False), EqualGatedBlock(0.8, True), EqualGatedBlock(0.8, False)
        )

    def forward(self, x):
        return self.blocks(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)

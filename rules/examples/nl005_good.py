"""NL005 drop-path-before-batchnorm: models that must not be reported."""

import torch
import torch.nn as nn
from torchvision.ops import StochasticDepth


class LayerNormBlocks(nn.Module):
    """ConvNeXt-style: drop-path between blocks normalised by LayerNorm, no BatchNorm after it."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm = nn.GroupNorm(1, 8)
        self.sd = StochasticDepth(0.2, "row")
        self.dw2 = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm2 = nn.GroupNorm(1, 8)

    def forward(self, x):
        x = x + self.sd(self.norm(self.dw(x)))
        return self.norm2(self.dw2(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class ZeroRate(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.sd = StochasticDepth(0.0, "row")
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(x + self.sd(self.conv(x)))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class DropPathInTheLastBlock(nn.Module):
    """Drop-path only in the last block, which goes to global pooling and the head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.sd = StochasticDepth(0.1, "row")
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = x + self.sd(torch.relu(self.bn(self.conv(x))))
        return self.head(x.mean(dim=(2, 3)))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class ElementwiseMask(nn.Module):
    """A full-shape random mask is (hand-written) dropout, not drop-path: NL005 leaves it alone."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        out = self.conv(x)
        out = out * (torch.rand_like(out) > 0.1) / 0.9
        return self.bn(x + out)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)

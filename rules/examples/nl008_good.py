"""NL008 activation-before-batchnorm: models that must not be reported."""

import torch.nn as nn


class Canonical(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())

    def forward(self, x):
        return self.block(x)


class PoolBetween(nn.Module):
    """conv -> ReLU -> pool -> BatchNorm: the BatchNorm does not directly follow the activation."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(16))

    def forward(self, x):
        return self.block(x)


class PreActivation(nn.Module):
    """He et al.'s pre-activation: BatchNorm -> ReLU -> conv. The BatchNorm reads the block input."""

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm2d(16)
        self.conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)

    def forward(self, x):
        return x + self.conv(self.bn(x).relu())

    @staticmethod
    def example_inputs():
        import torch

        return torch.randn(2, 16, 8, 8)

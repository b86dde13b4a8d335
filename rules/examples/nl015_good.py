"""NL015 stride-skips-input: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ResNetD(nn.Module):
    """Bag of Tricks' fix: average-pool, then a stride-1 1x1 projection."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AvgPool2d(2, stride=2, ceil_mode=True, count_include_pad=False)
        self.proj = nn.Conv2d(8, 16, 1)

    def forward(self, x):
        return self.proj(self.pool(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class OddMapPool(nn.Module):
    """MaxPool2d(2) on a 7x7 map drops the last row and column: a border effect, not a skip."""

    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 7, 7)


class DilationCoprimeWithStride(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, stride=2, dilation=3, padding=3)

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 16, 16)


class TransposedStride(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 4, 1, stride=2)

    def forward(self, x):
        return self.up(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 8, 8)


class StridedOverSingletonDimension(nn.Module):
    """Stride 2 along a dimension of size 1 skips nothing that exists."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, (1, 3), stride=(2, 1), padding=(0, 1))

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 1, 16)


class FunctionalPools(nn.Module):
    def forward(self, x):
        return F.max_pool2d(x, 3, stride=2, padding=1) + F.avg_pool2d(x, 2)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 16, 16)


class StridedConvWithLargeKernel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 16, 16)

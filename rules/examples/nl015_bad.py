"""NL015 stride-skips-input: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "StridedShortcut": ["shortcut"],
    "DilatedStride": ["conv"],
    "PoolStrideLargerThanKernel": ["pool"],
    "FunctionalStridedConv": [""],
    "Strided1d": ["conv"],
}


class StridedShortcut(nn.Module):
    """ResNet's downsampling shortcut: a 1x1 conv with stride 2 reads 1 of 4 positions."""

    def __init__(self):
        super().__init__()
        self.body = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.shortcut = nn.Conv2d(8, 16, 1, stride=2)  # expect: NL015

    def forward(self, x):
        return self.body(x) + self.shortcut(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class DilatedStride(nn.Module):
    """Kernel 3, dilation 2, stride 2: every tap lands on an even position."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, stride=2, dilation=2, padding=2)  # expect: NL015

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 16, 16)


class PoolStrideLargerThanKernel(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=3)  # expect: NL015

    def forward(self, x):
        return self.pool(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 12, 12)


class FunctionalStridedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4, 1, 1))

    def forward(self, x):
        return F.conv2d(x, self.weight, stride=2)  # expect: NL015

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 8, 8)


class Strided1d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 2, stride=4)  # expect: NL015

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 32)

"""NL002 bias-before-batchnorm: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class NoBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, bias=False)
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class ActivationFirst(nn.Module):
    """ReLU before the norm: the bias changes what the ReLU passes, so it matters."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return self.bn(F.relu(self.conv(x)))


class SkipUsesOutput(nn.Module):
    """The conv output also goes to a skip connection, where the bias is not cancelled."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class LinearOnTokens(nn.Module):
    """Linear on (N, L, F) then BatchNorm1d(L): the norm's channels are positions, not features."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 32)
        self.bn = nn.BatchNorm1d(10)

    def forward(self, x):
        return self.bn(self.fc(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 10, 32)


class GroupNormGroups(nn.Module):
    """GroupNorm with several channels per group subtracts a mean shared by different biases."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.norm = nn.GroupNorm(4, 16)

    def forward(self, x):
        return self.norm(self.conv(x))


class LayerNormAfterConv(nn.Module):
    """LayerNorm over (C, H, W) subtracts one mean per sample: per-channel biases survive."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.LayerNorm([8, 30, 30])

    def forward(self, x):
        return self.norm(self.conv(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 32, 32)


class ModelOutputToo(nn.Module):
    """The pre-norm features are returned as well."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        features = self.conv(x)
        return self.bn(features), features

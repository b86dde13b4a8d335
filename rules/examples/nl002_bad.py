"""NL002 bias-before-batchnorm: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "ConvBiasBatchNorm": ["conv"],
    "LinearBiasBatchNorm1d": ["fc"],
    "TransposedConv": ["up"],
    "InstanceNormAfterBias": ["conv"],
    "GroupNormPerChannel": ["conv"],
    "FunctionalConvBias": [""],
    "ThroughIdentity": ["conv"],
    "Conv3dBatchNorm3d": ["conv"],
    "SharedConvTwoNorms": ["conv"],
}


class ConvBiasBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)  # expect: NL002
        self.bn = nn.BatchNorm2d(16)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class LinearBiasBatchNorm1d(nn.Module):
    """A Linear on (N, F) before BatchNorm1d(F): the norm's channels are the bias's features."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(32, 64)  # expect: NL002
        self.bn = nn.BatchNorm1d(64)

    def forward(self, x):
        return F.relu(self.bn(self.fc(x)))


class TransposedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)  # expect: NL002
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn(self.up(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 16, 16)


class InstanceNormAfterBias(nn.Module):
    """InstanceNorm subtracts a mean per channel and sample: the bias is cancelled too."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)  # expect: NL002
        self.norm = nn.InstanceNorm2d(8, affine=True)

    def forward(self, x):
        return self.norm(self.conv(x))


class GroupNormPerChannel(nn.Module):
    """GroupNorm with one channel per group is InstanceNorm."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)  # expect: NL002
        self.norm = nn.GroupNorm(8, 8)

    def forward(self, x):
        return self.norm(self.conv(x))


class FunctionalConvBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 3, 3, 3))
        self.bias = nn.Parameter(torch.zeros(8))
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        x = F.conv2d(x, self.weight, self.bias)  # expect: NL002
        return self.bn(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 16, 16)


class ThroughIdentity(nn.Module):
    """An nn.Identity between the conv and its norm changes nothing."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)  # expect: NL002
        self.maybe_act = nn.Identity()
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.maybe_act(self.conv(x)))


class Conv3dBatchNorm3d(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3)  # expect: NL002
        self.bn = nn.BatchNorm3d(8)

    def forward(self, x):
        return self.bn(self.conv(x))


class SharedConvTwoNorms(nn.Module):
    """Both readers of the conv output subtract the channel mean: still dead weight."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)  # expect: NL002
        self.bn_a = nn.BatchNorm2d(8)
        self.bn_b = nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.conv(x)
        return self.bn_a(y) + self.bn_b(y)

"""NL014 kernel-sees-padding: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class EveryTapSeesData(nn.Module):
    """3x3 with padding 1 on 2x2: each tap lands on the map at one output position or another."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 2, 2)


class ReplicatePadding(nn.Module):
    """Replicated borders carry data: no tap multiplies zeros."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1, padding_mode="replicate")

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 1, 1)


class ReflectPadThenConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3)

    def forward(self, x):
        return self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 2, 2)


class OnePaddingValue(nn.Module):
    """Constant padding of ones is not zero padding: the border taps add a learned offset."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ConstantPad2d(1, 1.0)
        self.conv = nn.Conv2d(4, 4, 3)

    def forward(self, x):
        return self.conv(self.pad(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 1, 1)


class LargeAtOneCall(nn.Module):
    """Shared conv on a 1x1 and an 8x8 map: at 8x8 every tap is used, so the layer is not wasted."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x).mean() + self.conv(F.adaptive_avg_pool2d(x, 1)).mean()

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 8, 8)


class TransposedOnOnePixel(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x):
        return self.up(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 1, 1)


class PointwiseOnOnePixel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 1, 1)

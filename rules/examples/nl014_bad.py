"""NL014 kernel-sees-padding: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "TooDeepForCifar": ["head"],
    "SamePaddingOnOnePixel": ["conv"],
    "StandardisedConv": ["conv"],
    "TensorFlowSamePad": [""],
    "ZeroPadLayer": ["conv"],
    "Conv1dOnShortSequence": ["conv"],
    "SmallAtEveryCall": ["conv"],
    "StridedOnTwoPixels": ["conv"],
}


class TooDeepForCifar(nn.Module):
    """Four stages with a 2x2 max-pool take 16x16 to 1x1; the 3x3 conv after them uses 1 of 9 taps."""

    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(
            *[nn.Sequential(nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1), nn.MaxPool2d(2)) for i in range(4)]
        )
        self.head = nn.Conv2d(8, 8, 3, padding=1)  # expect: NL014

    def forward(self, x):
        return self.head(self.stages(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 16, 16)


class SamePaddingOnOnePixel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 5, padding="same")  # expect: NL014

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 2, 2)


class StdConv2d(nn.Conv2d):
    """Weight standardisation: the layer calls F.conv2d itself."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean(dim=(1, 2, 3), keepdim=True)) / (w.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class StandardisedConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = StdConv2d(4, 8, 3, padding=1)  # expect: NL014

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 1, 1)


class TensorFlowSamePad(nn.Module):
    """TensorFlow "same": pad by hand, then a conv without padding; 5x5 on a 2x2 map."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8, 4, 5, 5))

    def forward(self, x):
        x = F.pad(x, [2, 2, 2, 2], value=0.0)
        return F.conv2d(x, self.weight)  # expect: NL014

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 2, 2)


class ZeroPadLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d(3)
        self.conv = nn.Conv2d(4, 4, 7)  # expect: NL014

    def forward(self, x):
        return self.conv(self.pad(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 3, 3)


class Conv1dOnShortSequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 7, padding=3)  # expect: NL014

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 2)


class SmallAtEveryCall(nn.Module):
    """Called on a 1x1 and a 2x2 map: 5x5 taps are wasted at both sizes."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 5, padding=2)  # expect: NL014

    def forward(self, x):
        return self.conv(x).mean() + self.conv(F.avg_pool2d(x, 2)).mean()

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 2, 2)


class StridedOnTwoPixels(nn.Module):
    """3x3, stride 2, padding 1 on a 2x2 map: one output, whose first row and column of taps see padding."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, stride=2, padding=1)  # expect: NL014

    def forward(self, x):
        return self.conv(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 2, 2)

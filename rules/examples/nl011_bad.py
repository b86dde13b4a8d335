"""NL011 linear-collapse: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "MissingActivation": ["0"],
    "ThroughNormAndDropout": ["fc1"],
    "PointwiseProjectionThenExpansion": ["project"],
    "TokensReshapedBetween": ["proj"],
    "FunctionalLinears": [""],
    "PooledConvIntoLinear": ["conv"],
}


class MissingActivation(nn.Sequential):
    def __init__(self):
        super().__init__(
            nn.Linear(32, 64),  # expect: NL011
            nn.Linear(64, 10),
        )


class ThroughNormAndDropout(nn.Module):
    """BatchNorm is affine at inference and dropout is the identity: still one linear map."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 32, bias=False)  # expect: NL011
        self.bn = nn.BatchNorm1d(32)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc2(self.drop(self.bn(self.fc1(x))))


class PointwiseProjectionThenExpansion(nn.Module):
    """A 1x1 projection 16 -> 16 + BatchNorm, no residual, into a 1x1 expansion 16 -> 72."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False)
        self.project = nn.Conv2d(16, 16, 1, bias=False)  # expect: NL011
        self.bn = nn.BatchNorm2d(16)
        self.expand = nn.Conv2d(16, 72, 1, bias=False)

    def forward(self, x):
        return F.relu(self.expand(self.bn(self.project(F.relu(self.dw(x))))))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 16, 8, 8)


class TokensReshapedBetween(nn.Module):
    """(N, L, C) -> (N*L, C) keeps every feature vector whole."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 32)  # expect: NL011
        self.head = nn.Linear(32, 8)

    def forward(self, x):
        y = self.proj(x).contiguous()
        return self.head(y.reshape(-1, 32))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 5, 16)


class FunctionalLinears(nn.Module):
    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(24, 16))
        self.w2 = nn.Parameter(torch.randn(8, 24))

    def forward(self, x):
        h = F.linear(x, self.w1)  # expect: NL011
        return F.linear(h, self.w2)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 16)


class PooledConvIntoLinear(nn.Module):
    """1x1 conv on a pooled 1x1 map, flattened into a Linear: the feature axis survives the flatten."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3)
        self.conv = nn.Conv2d(16, 32, 1)  # expect: NL011
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(F.relu(self.stem(x)), 1)
        return self.fc(torch.flatten(self.conv(x), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 16, 16)

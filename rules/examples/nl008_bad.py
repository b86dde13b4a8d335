"""NL008 activation-before-batchnorm: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "ConvReluBatchNorm": ["block.2"],
    "LinearGeluBatchNorm": ["bn"],
}


class ConvReluBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False),
            nn.ReLU(),
            nn.BatchNorm2d(16),  # expect: NL008
        )

    def forward(self, x):
        return self.block(x)


class LinearGeluBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 32, bias=False)
        self.bn = nn.BatchNorm1d(32)  # expect: NL008

    def forward(self, x):
        return self.bn(F.gelu(self.fc(x)))

    @staticmethod
    def example_inputs():
        return torch.randn(4, 16)

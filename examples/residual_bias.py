"""A small CIFAR ResNet whose residual blocks keep the default bias=True on both 3x3 convolutions.

netlint reports NL002 (bias-before-batchnorm) for conv1 and conv2 of every block: each feeds a
BatchNorm2d that subtracts the per-channel mean, which cancels the bias. The stem convolution
already has bias=False and is not reported.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + x)


class ResidualNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 32, blocks: int = 2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.layer1 = nn.Sequential(*[BasicBlock(width) for _ in range(blocks)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer1(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))

    @staticmethod
    def example_inputs():
        return (torch.randn(8, 3, 32, 32),)

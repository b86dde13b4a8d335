"""Bottleneck blocks with stochastic depth (Huang et al. 2016) whose forward takes an `active` flag.

The network draws, for every block, whether it is active in this training step, and the block
branches on `self.training` and on that flag. torch.fx cannot trace such a block (the flag comes
from a tensor, so it is a symbolic value in an `if`), so netlint analyses the network with fx and
each block by recording its forward at runtime, and says so in the report. The layers themselves
are laid out correctly (bias=False before every BatchNorm, no dropout): no NL001-NL004 finding.
NL005 (info) notes that skipping blocks at random in training shifts the variance the next blocks'
BatchNorms learn from. The probe measures that shift, but the skip is drawn once for the whole
batch, so one probe sees one draw: no interval, and the findings stay informational (a per-sample
drop-path, torchvision's StochasticDepth(p, "row") or timm's DropPath, is resampled and can be
confirmed).
"""

import torch
import torch.nn as nn


class Bottleneck(nn.Module):
    def __init__(self, channels: int, survival: float):
        super().__init__()
        mid = channels // 4
        self.survival = survival
        self.conv1 = nn.Conv2d(channels, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, active: bool = True) -> torch.Tensor:
        if self.training and not active:
            return x  # the whole residual branch is dropped for this step
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if not self.training:
            out = out * self.survival  # expected value of the branch at inference
        return self.relu(out + x)


class StochasticDepthNet(nn.Module):
    def __init__(self, channels: int = 64, depth: int = 4, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
        # Linearly decaying survival probabilities, as in the paper.
        self.blocks = nn.ModuleList(Bottleneck(channels, 1.0 - 0.5 * i / depth) for i in range(depth))
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            active = torch.rand((), device=x.device) < block.survival
            x = block(x, active)
        return self.head(x.mean(dim=(2, 3)))

    @staticmethod
    def example_inputs():
        return torch.randn(16, 3, 32, 32)  # CIFAR-10, as in the stochastic depth paper

"""NL010 batchnorm-reused: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class OneNormPerConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Siamese(nn.Module):
    """One tower applied to two images: each call of the tower calls its norm once."""

    def __init__(self):
        super().__init__()
        self.tower = Tower()

    def forward(self, x):
        return (self.tower(x) - self.tower(x.flip(-1))).abs()


class RecurrentBlock(nn.Module):
    """A weight-shared block unrolled three times."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())

    def forward(self, x):
        x = self.stem(x)
        for _ in range(3):
            x = x + self.block(x)
        return x


class NormsInModuleList(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(4, 4, 3, padding=1, bias=False) for _ in range(3))
        self.norms = nn.ModuleList(nn.BatchNorm1d(4) for _ in range(3))

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = F.relu(norm(conv(x)))
        return x

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 16)


class EitherBranch(nn.Module):
    """A data-dependent branch calls the norm in one arm or the other: once per forward."""

    def __init__(self):
        super().__init__()
        self.conv_a = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.conv_b = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        if x.mean() > 0:
            return self.bn(self.conv_a(x))
        return self.bn(self.conv_b(x))

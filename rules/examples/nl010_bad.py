"""NL010 batchnorm-reused: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "OneNormTwoConvs": ["bn"],
    "NormInALoop": ["bn"],
    "SharedBetweenBlocks": ["a.bn"],
    "InsideABlock": ["block.bn"],
}


class OneNormTwoConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)  # expect: NL010

    def forward(self, x):
        x = F.relu(self.bn(self.conv1(x)))
        return F.relu(self.bn(self.conv2(x)))


class NormInALoop(nn.Module):
    """The convs are in a ModuleList, the norm is not: one norm for three layers."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(4, 4, 3, padding=1, bias=False) for _ in range(3))
        self.bn = nn.BatchNorm1d(4)  # expect: NL010

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(self.bn(conv(x)))
        return x

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 16)


class Block(nn.Module):
    def __init__(self, bn=None):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = bn if bn is not None else nn.BatchNorm2d(8)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class SharedBetweenBlocks(nn.Module):
    """block_a.bn is block_b.bn: two blocks normalise with one set of statistics."""

    def __init__(self):
        super().__init__()
        shared = nn.BatchNorm2d(8)  # expect: NL010
        self.a = Block(shared)
        self.b = Block(shared)

    def forward(self, x):
        return self.b(self.a(x))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 8, 8)


class TwiceInside(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(8, 8, 1, bias=False)
        self.conv2 = nn.Conv2d(8, 8, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)  # expect: NL010

    def forward(self, x):
        return self.bn(self.conv2(F.relu(self.bn(self.conv1(x)))))


class InsideABlock(nn.Module):
    """The block is called once; its norm twice."""

    def __init__(self):
        super().__init__()
        self.block = TwiceInside()

    def forward(self, x):
        return self.block(x)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 8, 8, 8)

"""NL001 dropout-before-batchnorm: models that must be reported.

EXPECTED maps each model to the module paths of its NL001 findings; every line a finding points
to carries an ``# expect: NL001`` marker, and every marker is hit by some finding.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "ConvBlockDropout": ["drop"],
    "MlpDropoutBatchNorm": ["net.1"],
    "FunctionalDropout": [""],
    "ChannelDropoutResidual": ["drop"],
    "DropoutIntoConcat": ["branch.1"],
    "CustomDropBlock": ["dropblock"],
    "AlphaDropoutSelu": ["drop"],
    "DropoutThroughPooling": ["drop"],
    "DropoutIntoAttentionValues": ["drop"],
    "ActiveAtInference": [""],
    "ThroughPadAndUpsample": ["drop"],
}


class ConvBlockDropout(nn.Module):
    """conv-bn-relu-dropout, then the next conv-bn: the dropout reaches bn2 through conv2."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.drop = nn.Dropout(0.3)  # expect: NL001
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)

    def forward(self, x):
        x = self.drop(F.relu(self.bn1(self.conv1(x))))
        return F.relu(self.bn2(self.conv2(x)))


class MlpDropoutBatchNorm(nn.Module):
    """An MLP with Dropout between Linear layers and a BatchNorm1d after the second Linear."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(32, 64),
            nn.Dropout(0.5),  # expect: NL001
            nn.Linear(64, 64, bias=False),
            nn.BatchNorm1d(64),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.net(x)


class FunctionalDropout(nn.Module):
    """F.dropout in forward: the finding points at the call, module "" (the root's forward)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        x = F.dropout(x, 0.2, training=self.training)  # expect: NL001
        return self.bn(self.conv(x))


class ChannelDropoutResidual(nn.Module):
    """Dropout2d on a residual branch; the sum goes into a BatchNorm."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.drop = nn.Dropout2d(0.1)  # expect: NL001
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(x + self.drop(self.conv(x)))


class DropoutIntoConcat(nn.Module):
    """Only one branch has dropout; the concatenation feeds a BatchNorm."""

    def __init__(self):
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1), nn.Dropout(0.25))  # expect: NL001
        self.other = nn.Conv2d(4, 4, 1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(torch.cat([self.branch(x), self.other(x)], dim=1))


class DropBlock2d(nn.Module):
    """A hand-written DropBlock (Ghiasi et al. 2018): kept whole as a dropout-family layer."""

    def __init__(self, drop_prob: float, block_size: int):
        super().__init__()
        self.drop_prob = drop_prob
        self.block_size = block_size

    def forward(self, x):
        if not self.training or self.drop_prob == 0:
            return x
        gamma = self.drop_prob / self.block_size**2
        mask = (torch.rand_like(x[:, :1]) < gamma).float()
        mask = 1 - F.max_pool2d(mask, self.block_size, 1, self.block_size // 2)
        return x * mask * mask.numel() / mask.sum()


class CustomDropBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.dropblock = DropBlock2d(0.1, 3)  # expect: NL001
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.dropblock(self.conv(x)))


class AlphaDropoutSelu(nn.Module):
    """AlphaDropout is still dropout: it changes the variance the BatchNorm learns."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.act = nn.SELU()
        self.drop = nn.AlphaDropout(0.1)  # expect: NL001
        self.out = nn.Linear(16, 8, bias=False)
        self.bn = nn.BatchNorm1d(8)

    def forward(self, x):
        return self.bn(self.out(self.drop(self.act(self.fc(x)))))


class DropoutThroughPooling(nn.Module):
    """Pooling does not undo the shift: the BatchNorm two layers later is still affected."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.drop = nn.Dropout(0.2)  # expect: NL001
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(self.conv2(self.pool(self.drop(self.conv1(x)))))


class DropoutIntoAttentionValues(nn.Module):
    """Dropped features reach the BatchNorm through the attention's values (and nothing else)."""

    def __init__(self):
        super().__init__()
        self.qk = nn.Linear(16, 32)
        self.drop = nn.Dropout(0.3)  # expect: NL001
        self.v = nn.Linear(16, 16)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x):
        q, k = self.qk(x).chunk(2, dim=-1)
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.bn((attn @ self.v(self.drop(x))).mean(dim=1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 10, 16)


class ActiveAtInference(nn.Module):
    """F.dropout without training=: it also drops at inference (NL006), and NL001's message says so."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.bn = nn.BatchNorm1d(32)

    def forward(self, x):
        return self.bn(F.dropout(F.relu(self.fc(x)), 0.3))  # expect: NL001, NL006


class ThroughPadAndUpsample(nn.Module):
    """Padding, upsampling and a crop between the dropout and the BatchNorm change nothing."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, bias=False)
        self.drop = nn.Dropout(0.2)  # expect: NL001
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.conv2 = nn.Conv2d(8, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        x = self.up(F.pad(self.drop(F.relu(self.conv1(x))), (1, 1, 1, 1), mode="reflect"))
        return self.bn(self.conv2(x[:, :, 2:-2, 2:-2]))

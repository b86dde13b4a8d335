"""NL003 dropout-between-convolutions: models that must be reported (see nl001_bad.py for the format)."""

import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "ConvDropoutConv": ["features.2"],
    "WideResNetBlock": ["dropout"],
    "FunctionalBetweenConvs": [""],
    "AlphaDropoutSelfNormalising": ["drop"],
    "ThroughPoolAndNorm": ["drop"],
}


class ConvDropoutConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.Dropout(0.25),  # expect: NL003
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.features(x)


class WideResNetBlock(nn.Module):
    """Zagoruyko & Komodakis's wide residual block: dropout between the two 3x3 convolutions."""

    def __init__(self):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(16)
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.dropout = nn.Dropout(0.3)  # expect: NL003
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + x

    def example_inputs(self):
        import torch

        return torch.randn(2, 16, 32, 32)


class FunctionalBetweenConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.dropout(x, p=0.1, training=self.training)  # expect: NL003
        return self.conv2(x)


class AlphaDropoutSelfNormalising(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 8, 5, padding=2)
        self.act = nn.SELU()
        self.drop = nn.AlphaDropout(0.05)  # expect: NL003
        self.conv2 = nn.Conv1d(8, 8, 5, padding=2)

    def forward(self, x):
        return self.conv2(self.drop(self.act(self.conv1(x))))


class ThroughPoolAndNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)  # expect: NL003
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.conv2(self.pool(self.drop(F.relu(self.bn1(self.conv1(x))))))

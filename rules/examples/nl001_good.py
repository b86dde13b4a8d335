"""NL001 dropout-before-batchnorm: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import StochasticDepth


class DropoutInHead(nn.Module):
    """Dropout after the last BatchNorm, in the classifier: the recommended place."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.features(x))


class BatchStatsOnly(nn.Module):
    """A BatchNorm without running statistics normalises with batch statistics at inference too."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.drop = nn.Dropout(0.3)
        self.bn = nn.BatchNorm2d(8, track_running_stats=False)

    def forward(self, x):
        return self.bn(self.drop(self.conv(x)))


class LayerNormFirst(nn.Module):
    """A LayerNorm renormalises every sample before the path reaches the BatchNorm."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 16)
        self.drop = nn.Dropout(0.1)
        self.ln = nn.LayerNorm(16)
        self.fc2 = nn.Linear(16, 16, bias=False)
        self.bn = nn.BatchNorm1d(16)

    def forward(self, x):
        return self.bn(self.fc2(self.ln(self.drop(self.fc1(x)))))


class ZeroProbability(nn.Module):
    """p=0 and an explicit training=False drop nothing."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.drop = nn.Dropout(0.0)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        x = F.dropout(x, 0.5, training=False)
        return self.bn(self.drop(self.conv(x)))


class ShapeOnlyDependency(nn.Module):
    """The dropped tensor only lends its size to a reshape of another tensor: no data path."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(16, 32)
        self.bn = nn.BatchNorm1d(32)

    def forward(self, x):
        dropped = self.drop(x)
        y = self.bn(self.fc(x).view(dropped.size(0), -1))
        return y, dropped


class DropPathBeforeBatchNorm(nn.Module):
    """Stochastic depth is NL005's subject, not NL001's."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.drop_path = StochasticDepth(0.2, "row")
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn(x + self.drop_path(self.conv(x)))


class DropoutInTransformer(nn.Module):
    """Dropout inside a transformer (LayerNorm everywhere) before a BatchNorm1d head."""

    def __init__(self):
        super().__init__()
        layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(32)
        self.bn = nn.BatchNorm1d(32)

    def forward(self, x):
        return self.bn(self.norm(self.encoder(x)).mean(dim=1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 10, 32)


class RelativePositionBias(nn.Module):
    """Dropout in an MLP that computes an attention bias (MaxViT's rel-pos MLP): softmax renormalises it."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.bias_mlp = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.125), nn.Linear(8, 1))
        self.proj = nn.Linear(16, 16, bias=False)
        self.bn = nn.BatchNorm1d(16)
        self.register_buffer("coords", torch.randn(10 * 10, 2))

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        bias = self.bias_mlp(self.coords).view(10, 10)
        attn = (q @ k.transpose(-2, -1) + bias).softmax(dim=-1)
        return self.bn(self.proj(attn @ v).mean(dim=1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 10, 16)

"""NL004 fc-head-instead-of-gap: models that must not be reported."""

import torch
import torch.nn as nn


class GlobalPoolHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class PatchTokens(nn.Module):
    """A ViT patch embedding: flatten(2) + transpose makes tokens, and the Linear acts per token."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 8, stride=8)
        self.proj = nn.Linear(32, 32)

    def forward(self, x):
        return self.proj(self.patch(x).flatten(2).transpose(1, 2))


class PixelMlp(nn.Module):
    """An MLP on raw pixels: the flattened tensor is the input image, not a conv feature map."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(28 * 28, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 1, 28, 28)


class MeanPooled(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class TokenSequenceHead(nn.Module):
    """(N, L, D) tokens from Linear layers flattened into a Linear: a sequence, not a conv map."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(12, 32)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(16 * 32, 3)

    def forward(self, x):
        return self.head(torch.flatten(torch.relu(self.norm(self.embed(x))), 1))

    def example_inputs(self):
        return torch.randn(2, 16, 12)


class PooledEcgNet(nn.Module):
    """A 1-D network pooled globally before its Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 16, 7, padding=3)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))

    def example_inputs(self):
        return torch.randn(2, 1, 500)

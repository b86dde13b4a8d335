"""NL003 dropout-between-convolutions: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ChannelDropout(nn.Module):
    """Dropout2d drops whole channels: the right tool between convolutions."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout2d(0.2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.conv2(self.drop(F.relu(self.conv1(x))))


class DropoutBeforeHead(nn.Module):
    """Dropout on the last feature map, then pooling and a Linear: the next weight layer is the head."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.5)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.drop(F.relu(self.conv(x)))), 1))


class InputDropout(nn.Module):
    """Dropout on the input image: no convolution before it."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.1)
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return self.conv(self.drop(x))


class OneByOneMap(nn.Module):
    """Dropout on a 1x1 map before a 1x1 conv classifier: no spatial extent, nothing correlated."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 64, 3)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(0.5)
        self.classifier = nn.Conv2d(64, 10, 1)

    def forward(self, x):
        return self.classifier(self.drop(self.pool(F.relu(self.conv(x)))))


class TransformerMlpDropout(nn.Module):
    """Dropout on tokens (N, L, D) between Linear layers: not a conv feature map."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 32, 8, stride=8)
        self.fc1 = nn.Linear(32, 64)
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(64, 32)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.fc2(self.drop(F.gelu(self.fc1(tokens))))


class DropoutBetweenLinears(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)


class LatentDecoder(nn.Module):
    """Dropout on a map that a Linear produced (a generator's first step): not between convolutions."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 8 * 4 * 4)
        self.drop = nn.Dropout(0.3)
        self.conv = nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, z):
        x = F.pad(self.fc(z).view(-1, 8, 4, 4), (1, 1, 1, 1))
        return self.conv(F.interpolate(self.drop(x), scale_factor=2))

    def example_inputs(self):
        return torch.randn(2, 16)


class ChannelsLastTokens(nn.Module):
    """A permute that moves the channel axis last turns the map into tokens for a Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8, 8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        tokens = self.fc(self.drop(self.conv(x).permute(0, 2, 3, 1)))
        return self.conv2(tokens.permute(0, 3, 1, 2))

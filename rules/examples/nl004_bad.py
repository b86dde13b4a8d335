"""NL004 fc-head-instead-of-gap: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn

EXPECTED = {
    "VggStyleHead": ["classifier.0"],
    "FlattenModule": ["head.2"],
    "ViewThenDropout": ["fc"],
    "ReshapeAfterNorm": ["fc"],
    "VideoHead": ["fc"],
    "EcgNet": ["classifier"],
    "AudioViewHead": ["fc"],
    "SequenceConv1d": ["fc"],
}


class VggStyleHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4))
        self.classifier = nn.Sequential(
            nn.Linear(64 * 8 * 8, 256),  # expect: NL004
            nn.ReLU(),
            nn.Linear(256, 10),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 32, 32)


class FlattenModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(8 * 28 * 28, 10))  # expect: NL004

    def forward(self, x):
        return self.head(self.body(x))


class ViewThenDropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 5, stride=4)
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(16 * 7 * 7, 10)  # expect: NL004

    def forward(self, x):
        x = torch.relu(self.conv(x))
        return self.fc(self.drop(x.view(x.size(0), -1)))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 32, 32)


class ReshapeAfterNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8 * 16 * 16, 4)  # expect: NL004

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.fc(x.reshape(x.shape[0], -1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 32, 32)


class VideoHead(nn.Module):
    """A 3D conv net flattening a (C, T, H, W) map."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3, stride=2, padding=1)
        self.fc = nn.Linear(8 * 4 * 16 * 16, 5)  # expect: NL004

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 8, 32, 32)


class EcgNet(nn.Module):
    """A 1-D ECG network: (N, 32, 125) flattened into the classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, 16, 7, padding=3), nn.BatchNorm1d(16), nn.ReLU(), nn.MaxPool1d(2),
            nn.Conv1d(16, 32, 5, padding=2), nn.BatchNorm1d(32), nn.ReLU(), nn.MaxPool1d(2),
        )  # fmt: skip
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(32 * 125, 5)  # expect: NL004

    def forward(self, x):
        return self.classifier(self.flatten(self.features(x)))

    def example_inputs(self):
        return torch.randn(2, 1, 500)


class AudioViewHead(nn.Module):
    """A 1-D audio network cropped, viewed and fed to a Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(40, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 98, 10)  # expect: NL004

    def forward(self, x):
        x = torch.relu(self.conv(x))[:, :, 1:-1]
        return self.fc(x.contiguous().view(x.size(0), -1))

    def example_inputs(self):
        return torch.randn(2, 40, 100)


class SequenceConv1d(nn.Module):
    """A (N, C, L) conv map flattened into a Linear: C*L*out weights, as for images."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 64, 2)  # expect: NL004

    def forward(self, x):
        return self.fc(torch.flatten(self.conv(x), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 64)

"""NL004 fc-head-instead-of-gap: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "VggStyleHead": ["classifier.0"],
    "FlattenModule": ["head.2"],
    "ViewThenDropout": ["fc"],
    "ReshapeAfterNorm": ["fc"],
    "VideoHead": ["fc"],
    "EcgNet": ["classifier"],
    "AudioViewHead": ["fc"],
    "SequenceConv1d": ["fc"],
    "FlattenTwice": ["fcs.1"],
    "TextConvolution": ["fc"],
    "ImageCaptionEncoder": ["project"],
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


class FlattenTwice(nn.Module):
    """torch.flatten(x, 1), then an nn.Flatten() that finds nothing left to flatten: the map is still behind it."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fcs = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 16 * 16, 64),  # expect: NL004
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        return self.fcs(torch.flatten(self.features(x), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 32, 32)


class TextConvolution(nn.Module):
    """Embeddings transposed to (N, D, L): the Conv1d slides over positions, and its map is flattened."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.conv = nn.Conv1d(16, 32, 3, padding=1)
        self.fc = nn.Linear(32 * 20, 2)  # expect: NL004

    def forward(self, x):
        h = F.relu(self.conv(self.embed(x).transpose(1, 2)))
        return self.fc(torch.flatten(h, 1))

    @staticmethod
    def example_inputs():
        return torch.randint(0, 100, (2, 20))


class ImageCaptionEncoder(nn.Module):
    """The image feature is flattened into a projection that the decoder reads as one step: a head like any other."""

    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU())
        self.project = nn.Linear(16 * 16 * 16, 32)  # expect: NL004
        self.decoder = nn.LSTM(32, 32, batch_first=True)

    def forward(self, x):
        step = self.project(torch.flatten(self.cnn(x), 1)).unsqueeze(1)
        return self.decoder(step)[0]

    @staticmethod
    def example_inputs():
        return torch.randn(2, 3, 32, 32)

"""NL004 fc-head-instead-of-gap: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


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


class TokensAggregatedByConv(nn.Module):
    """CoaT-like: a Conv1d mixes 3 class tokens, and the head reads the features of the result.

    The (N, 3, 24) tensor holds tokens with their features last: the convolution's "length" is
    features, not positions.
    """

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 24)
        self.norm = nn.LayerNorm(24)
        self.aggregate = nn.Conv1d(3, 2, 1)
        self.head = nn.Linear(2 * 24, 10)

    def forward(self, x):
        tokens = self.norm(self.embed(x))
        stacked = torch.stack([tokens[:, 0], tokens[:, 1], tokens[:, 2]], dim=1)
        return self.head(torch.flatten(self.aggregate(stacked), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 5, 8)


class SingleChannelMap(nn.Module):
    """A conv map with one channel flattened: pooling it would leave one feature, never the fix."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 1, 5, padding=2)
        self.fc = nn.Linear(64, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 64)


class ConvVaeEncoder(nn.Module):
    """fc_mu and fc_logvar read the flattened map: the latent must encode where things are, since
    it is sampled and decoded back into an image."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU())
        self.fc_mu = nn.Linear(32 * 7 * 7, 16)
        self.fc_logvar = nn.Linear(32 * 7 * 7, 16)
        self.fc_decode = nn.Linear(16, 32 * 7 * 7)
        self.decoder = nn.Sequential(nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(16, 1, 4, 2, 1))

    def forward(self, x):
        h = torch.flatten(self.encoder(x), 1)
        mu, logvar = self.fc_mu(h), self.fc_logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(self.fc_decode(z).view(-1, 32, 7, 7)), mu, logvar

    @staticmethod
    def example_inputs():
        return torch.randn(2, 1, 28, 28)


class SpatialTransformer(nn.Module):
    """The localisation head regresses an affine transform from the flattened map: positions are its input."""

    def __init__(self):
        super().__init__()
        self.localise = nn.Sequential(nn.Conv2d(1, 8, 7), nn.MaxPool2d(2), nn.ReLU())
        self.fc_loc = nn.Sequential(nn.Linear(8 * 11 * 11, 32), nn.ReLU(), nn.Linear(32, 6))
        self.classify = nn.Sequential(nn.Conv2d(1, 10, 5), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def forward(self, x):
        theta = self.fc_loc(torch.flatten(self.localise(x), 1)).view(-1, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return self.classify(F.grid_sample(x, grid, align_corners=False))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 1, 28, 28)

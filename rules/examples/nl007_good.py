"""NL007 dropout-before-nonzero-activation: models that must not be reported."""

import torch.nn as nn


class ZeroPreserving(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(16, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 16), nn.Dropout(0.3), nn.GELU(),
            nn.Linear(16, 16), nn.Dropout(0.3), nn.Tanh(), nn.Linear(16, 16), nn.Dropout(0.3), nn.SiLU(),
        )  # fmt: skip

    def forward(self, x):
        return self.net(x)


class DropoutAfterSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 16), nn.Sigmoid(), nn.Dropout(0.3))

    def forward(self, x):
        return self.net(x)


class AlphaDropoutIntoSigmoid(nn.Module):
    """AlphaDropout sets dropped units to the SELU saturation value on purpose."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 16), nn.SELU(), nn.AlphaDropout(0.1), nn.Sigmoid())

    def forward(self, x):
        return self.net(x)

"""NL007 dropout-before-nonzero-activation: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "DropoutSigmoidGate": ["gate.1"],
    "DropoutSoftplus": ["drop"],
    "ThroughIdentity": ["drop"],
    "FunctionalSigmoid": [""],
    "ThroughReshape": ["drop"],
}


class DropoutSigmoidGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Sequential(
            nn.Linear(16, 16),
            nn.Dropout(0.3),  # expect: NL007
            nn.Sigmoid(),
        )

    def forward(self, x):
        return x * self.gate(x)


class DropoutSoftplus(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.drop = nn.Dropout(0.2)  # expect: NL007
        self.act = nn.Softplus()

    def forward(self, x):
        return self.act(self.drop(self.fc(x)))


class ThroughIdentity(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.drop = nn.Dropout(0.2)  # expect: NL007
        self.norm = nn.Identity()
        self.act = nn.Hardsigmoid()

    def forward(self, x):
        return self.act(self.norm(self.drop(self.fc(x))))


class FunctionalSigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)

    def forward(self, x):
        x = F.dropout(self.fc(x), 0.25, training=self.training)  # expect: NL007
        return torch.sigmoid(x)


class ThroughReshape(nn.Module):
    """A view and a permute move the dropped zeros; the sigmoid still turns them into 0.5."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.drop = nn.Dropout(0.2)  # expect: NL007

    def forward(self, x):
        return torch.sigmoid(self.drop(self.fc(x)).view(-1, 4, 8).permute(0, 2, 1))

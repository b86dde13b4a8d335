"""NL006 dropout-active-at-inference: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "OmittedTraining": [""],
    "LiteralTrue": ["head"],
    "ChannelDropoutOmitted": [""],
    "TorchDropoutTrue": [""],
    "GuardEndsBeforeTheCall": [""],
    "GuardOnAnotherFlag": [""],
}


class OmittedTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.dropout(x, 0.5)  # expect: NL006
        return self.fc2(x)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(F.dropout(x, p=0.3, training=True))  # expect: NL006


class LiteralTrue(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 16)
        self.head = Head()

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


class ChannelDropoutOmitted(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        return F.dropout2d(self.conv(x), 0.2)  # expect: NL006


class TorchDropoutTrue(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(torch.dropout(x, 0.1, True))  # expect: NL006


class GuardEndsBeforeTheCall(nn.Module):
    """The training-only block ends before the dropout: the dropout runs in eval() too."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        if self.training:
            x = x + 0.01 * torch.randn_like(x)
        x = F.dropout(x, 0.2)  # expect: NL006
        return self.fc(x)


class GuardOnAnotherFlag(nn.Module):
    """A configuration flag is not the training mode."""

    def __init__(self, use_dropout=True):
        super().__init__()
        self.use_dropout = use_dropout
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = F.dropout(x, 0.3) if self.use_dropout else x  # expect: NL006
        return self.fc(x)

"""NL006 dropout-active-at-inference: models that must not be reported."""

import torch.nn as nn
import torch.nn.functional as F


class FollowsTheModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        x = F.dropout(F.relu(self.fc1(x)), 0.5, training=self.training)
        return self.fc2(x)


class DropoutModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 4))

    def forward(self, x):
        return self.net(x)


class ExplicitlyOff(nn.Module):
    """training=False is off in training too (pointless, but not random at inference); p=0 drops nothing."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(F.dropout(F.dropout(x, 0.5, training=False), 0.0))


class AlphaDropoutDefault(nn.Module):
    """F.alpha_dropout defaults to training=False."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc(F.alpha_dropout(F.selu(x), 0.1))


class UnderTrainingGuard(nn.Module):
    """Functional dropout that only runs in training, written four common ways."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(16, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 4)
        self.p = 0.2

    def forward(self, x):
        if self.training:
            x = F.dropout(x, 0.5)
        x = self.fc1(x)
        if self.training and self.p > 0:
            x = F.dropout(
                x,
                self.p,
            )
        x = self.fc2(F.dropout(x, 0.1) if self.training else x)
        return self.head(x)

    def head(self, x):
        if not self.training:
            return self.fc3(x)
        return self.fc3(F.dropout(x, 0.3))


class NotInferenceBranch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        if not self.training:
            pass
        else:
            x = F.dropout1d(x.unsqueeze(-1), 0.2).squeeze(-1)
        return self.fc(x)


class GuardedHelper(nn.Module):
    """The dropout sits in a helper that forward only calls in training."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        if self.training:
            x = self.noise(x)
        return self.fc(x)

    def noise(self, x):
        return F.dropout(x, 0.1)

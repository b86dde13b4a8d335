"""NL013 probabilities-into-logits-loss: models that must be reported (see nl001_bad.py for the format).

The training step at the bottom of this file uses F.cross_entropy and nn.NLLLoss: the loss in sight.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "SoftmaxLayer": ["3"],
    "FunctionalSoftmax": [""],
    "SigmoidThenSqueeze": [""],
    "SoftmaxMethodThenView": [""],
    "SigmoidInTheHead": ["head.1"],
}


class SoftmaxLayer(nn.Sequential):
    def __init__(self):
        super().__init__(
            nn.Linear(16, 32),
            nn.ReLU(),
            nn.Linear(32, 10),
            nn.Softmax(dim=1),  # expect: NL013
        )


class FunctionalSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)  # expect: NL013


class SigmoidThenSqueeze(nn.Module):
    """A trailing squeeze changes no value: the sigmoid is the last op that does."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc(x)).squeeze(1)  # expect: NL013


class SoftmaxMethodThenView(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 12)

    def forward(self, x):
        probs = self.fc(x).softmax(-1)  # expect: NL013
        return probs.view(x.shape[0], 3, 4)


class SigmoidInTheHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(16, 16), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(16, 4), nn.Sigmoid())  # expect: NL013

    def forward(self, x):
        return self.head(self.body(x))


def training_step(model, x, y):
    return F.cross_entropy(model(x), y) + nn.NLLLoss()(model(x), y)

"""NL013 probabilities-into-logits-loss: models that must not be reported.

The training step at the bottom uses nn.BCELoss, which expects probabilities from a Sigmoid.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


class LogSoftmaxOutput(nn.Module):
    """LogSoftmax is what NLLLoss expects, and CrossEntropyLoss of log-probabilities equals that of logits."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(x), dim=1)


class SigmoidForBCELoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


class AttentionInside(nn.Module):
    """The softmax weights values inside the model; the output is a Linear's."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        self.out = nn.Linear(16, 10)

    def forward(self, x):
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        w = (q @ k.transpose(1, 2)).softmax(-1)
        return self.out((w @ v).mean(1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 5, 16)


class TupleOutput(nn.Module):
    """Which element meets the loss is not known: tuples are not judged."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        logits = self.fc(x)
        return logits.softmax(1), logits


class DictOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return {"probs": torch.softmax(self.fc(x), dim=1)}


class LogitsOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(x).view(-1, 10)


def training_step(model, x, y):
    return nn.BCELoss()(model(x), y)

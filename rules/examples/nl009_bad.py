"""NL009 batch-mixing: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "ImplicitSoftmax3d": [""],
    "SoftmaxOverBatch": [""],
    "NormalizeOverBatch": [""],
    "DivideBySum": [""],
    "CentreOnBatchMean": [""],
    "SoftmaxOverMergedHeads": [""],
    "StraddlingView": [""],
    "ViewNotDividingSample": ["mix"],
    "LstmNotBatchFirst": ["rnn"],
    "AttentionNotBatchFirst": ["attn"],
    "GramOfBatch": [""],
    "TwoPaths": ["", "", ""],
    "StatisticAlsoReturned": [""],
}


def tokens():
    return torch.randn(2, 5, 8)


class ImplicitSoftmax3d(nn.Module):
    """F.softmax without dim on a 3-D tensor normalises over dimension 0: the batch."""

    def __init__(self):
        super().__init__()
        self.score = nn.Linear(8, 1)

    def forward(self, x):
        weights = F.softmax(self.score(x))  # expect: NL009
        return (weights * x).sum(1)

    example_inputs = staticmethod(tokens)


class SoftmaxOverBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return torch.softmax(self.fc(x), dim=0)  # expect: NL009


class NormalizeOverBatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return F.normalize(self.fc(x), dim=0)  # expect: NL009


class DivideBySum(nn.Module):
    """``h / h.sum()`` sums over every dimension, the batch included."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = F.relu(self.fc(x))
        return h / h.sum()  # expect: NL009


class CentreOnBatchMean(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = self.fc(x)
        return h - h.mean(dim=0, keepdim=True)  # expect: NL009


class SoftmaxOverMergedHeads(nn.Module):
    """Heads folded into the batch (B*heads), then a softmax over that merged dimension."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 8)

    def forward(self, x):
        b, n, c = x.shape
        q = self.qkv(x).view(b, n, 2, c // 2).transpose(1, 2).reshape(b * 2, n, c // 2)
        scores = q @ q.transpose(1, 2)
        attn = F.softmax(scores, dim=0)  # expect: NL009
        return (attn @ q).reshape(b, 2, n, c // 2).transpose(1, 2).reshape(b, n, c)

    example_inputs = staticmethod(tokens)


class StraddlingView(nn.Module):
    """``view(x.size(1), -1)`` on (2, 5) gives rows of 2 that straddle the samples; the softmax mixes them.
    (With 8 features the rows would align with the samples at batch size 2, by accident of the sizes:
    netlint reads reshapes at the batch size it runs, so such a reshape is found at other sizes only.)"""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = self.fc(x)
        rows = h.view(h.size(1), -1)
        return rows.softmax(dim=1).view(h.shape)  # expect: NL009


class ViewNotDividingSample(nn.Module):
    """Rows of 4 out of samples of 10 values: the second row holds the end of one sample and the start
    of the next, and the Linear mixes them."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 10)
        self.mix = nn.Linear(4, 4)  # expect: NL009

    def forward(self, x):
        h = self.fc(x)
        return self.mix(h.view(-1, 4)).view(h.shape)


class LstmNotBatchFirst(nn.Module):
    """A batch-first tensor into an LSTM built with batch_first=False: the recurrence runs over samples."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 16)  # expect: NL009

    def forward(self, x):
        out, _ = self.rnn(x)
        return out

    example_inputs = staticmethod(tokens)


class AttentionNotBatchFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2)  # expect: NL009

    def forward(self, x):
        out, _ = self.attn(x, x, x)
        return out

    example_inputs = staticmethod(tokens)


class GramOfBatch(nn.Module):
    """Every sample against every other: output (N, N)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        z = self.fc(x)
        return z @ z.t()  # expect: NL009


class TwoPaths(nn.Module):
    """Mixing ops on two paths: every one is reported, the one that follows another too (fixing the first
    leaves it), but nothing below a reduction over the batch (the batch is gone there)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = self.fc(x)
        a = h.softmax(dim=0)  # expect: NL009
        b = h - h.amax()  # expect: NL009
        return a.softmax(dim=0) + b  # expect: NL009


class StatisticAlsoReturned(nn.Module):
    """The batch mean is returned beside the prediction, but the prediction is also centred on it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = self.fc(x)
        centre = h.mean()  # expect: NL009
        return h - centre, centre

"""NL900 unused-suppression: suppressions that suppress nothing (see nl001_bad.py for the format).

The model is clean, so every suppression below is stale.
"""

import torch.nn as nn

EXPECTED = {"Clean": ["", "", ""]}


class Clean(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)  # netlint: ignore[NL002]  # expect: NL900
        self.bn = nn.BatchNorm2d(8)  # netlint: ignore  # expect: NL900
        self.head = nn.Linear(8, 2)  # netlint: ignore[NL999]  # expect: NL900

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).mean((2, 3)))

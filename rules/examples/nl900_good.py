"""NL900 unused-suppression: suppressions that do suppress a finding, and text that only looks like one."""

import torch.nn as nn

DOC = "# netlint: ignore[NL002] inside a string is not a comment"


class Suppressed(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)  # netlint: ignore[NL002]  (kept for a pretrained checkpoint)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3)  # netlint: ignore
        self.bn2 = nn.BatchNorm2d(8)

    def forward(self, x):
        return self.bn2(self.conv2(self.bn(self.conv(x))))

"""A CIFAR VGG whose conv blocks end with Dropout, a pattern common in older Keras code.

netlint reports, for each block's dropout that another block follows:
- NL001 (dropout-before-batchnorm): the dropout's output reaches the next block's BatchNorm, which
  then learns its running variance under dropout's 1/(1-p) scaling (the variance shift).
- NL003 (dropout-between-convolutions): element-wise dropout on a conv feature map between two
  convolutions barely regularises; Dropout2d would drop whole channels.
The last block's dropout feeds the classifier head through global pooling: neither rule applies.
"""

import torch
import torch.nn as nn


def block(cin: int, cout: int, p: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Dropout(p),
    )


class VGGDropout(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(block(3, 64, 0.2), block(64, 128, 0.3), block(128, 256, 0.4))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))

    @staticmethod
    def example_inputs():
        return torch.randn(16, 3, 32, 32)

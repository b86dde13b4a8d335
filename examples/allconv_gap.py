"""An all-convolutional network (Springenberg et al. 2015 style) with Dropout(0.5) after its last conv,
then 7x7 average pooling and a Linear classifier.

netlint reports nothing here, and that is the point of this example: the dropout acts on a conv
feature map, but the next weight layer is the Linear head, so it is not "between convolutions"
(NL003); there is no BatchNorm after it (NL001); and the 7x7 pooling reduces the map to 1x1 before
the flatten, so the head is not a flattened-map head (NL004).
"""

from itertools import pairwise

import torch
import torch.nn as nn


def conv_bn(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class AllConvNet(nn.Module):
    def __init__(self, num_classes: int = 100):
        super().__init__()
        widths = [3, 32, 64, 128, 256, 256]
        # 224 -> 112 -> 56 -> 28 -> 14 -> 7
        self.features = nn.Sequential(*[conv_bn(a, b, 2) for a, b in pairwise(widths)])
        self.dropout = nn.Dropout(0.5)
        self.pool = nn.AvgPool2d(7)
        self.classifier = nn.Linear(256, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.features(x))
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(x)

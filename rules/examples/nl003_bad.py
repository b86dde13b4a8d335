"""NL003 dropout-between-convolutions: models that must be reported (see nl001_bad.py for the format)."""

import torch
import torch.nn as nn
import torch.nn.functional as F

EXPECTED = {
    "ConvDropoutConv": ["features.2"],
    "WideResNetBlock": ["dropout"],
    "FunctionalBetweenConvs": [""],
    "AlphaDropoutSelfNormalising": ["drop"],
    "ThroughPoolAndNorm": ["drop"],
    "ThroughPaddingAndCrop": ["drop1", "drop2"],
    "UpsamplingDecoder": ["drop"],
    "BiasAndEmbeddingOperands": ["drop"],
    "ChannelsKeptPermute": ["drop"],
    "ScriptedActivation": ["drop"],
    "PaddedChannelShortcut": ["blocks.0.drop", "blocks.1.drop"],
}


class ConvDropoutConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.Dropout(0.25),  # expect: NL003
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.features(x)


class WideResNetBlock(nn.Module):
    """Zagoruyko & Komodakis's wide residual block: dropout between the two 3x3 convolutions."""

    def __init__(self):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(16)
        self.conv1 = nn.Conv2d(16, 16, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.dropout = nn.Dropout(0.3)  # expect: NL003
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(self.dropout(F.relu(self.bn2(out))))
        return out + x

    def example_inputs(self):
        import torch

        return torch.randn(2, 16, 32, 32)


class FunctionalBetweenConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.dropout(x, p=0.1, training=self.training)  # expect: NL003
        return self.conv2(x)


class AlphaDropoutSelfNormalising(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(4, 8, 5, padding=2)
        self.act = nn.SELU()
        self.drop = nn.AlphaDropout(0.05)  # expect: NL003
        self.conv2 = nn.Conv1d(8, 8, 5, padding=2)

    def forward(self, x):
        return self.conv2(self.drop(self.act(self.conv1(x))))


class ThroughPoolAndNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)  # expect: NL003
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.conv2(self.pool(self.drop(F.relu(self.bn1(self.conv1(x))))))


class ThroughPaddingAndCrop(nn.Module):
    """Padding (functional and a layer) and a crop move data without mixing channels."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3)
        self.drop1 = nn.Dropout(0.2)  # expect: NL003
        self.pad = nn.ReflectionPad2d(1)
        self.conv2 = nn.Conv2d(8, 8, 3)
        self.drop2 = nn.Dropout(0.2)  # expect: NL003
        self.conv3 = nn.Conv2d(8, 8, 3)

    def forward(self, x):
        x = self.conv2(self.pad(self.drop1(F.relu(self.conv1(F.pad(x, (1, 1, 1, 1)))))))
        x = F.pad(self.drop2(F.relu(x)), (2, 2, 2, 2), mode="replicate")
        return self.conv3(x[:, :, 1:-1, 1:-1].contiguous())


class UpsamplingDecoder(nn.Module):
    """A U-Net decoder step: dropout, upsampling, concatenation with the skip, convolution."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.drop = nn.Dropout(0.3)  # expect: NL003
        self.up = nn.Upsample(scale_factor=2)
        self.skip = nn.Conv2d(3, 8, 3, padding=1)
        self.fuse = nn.Conv2d(16, 8, 3, padding=1)

    def forward(self, x):
        low = F.interpolate(self.up(self.drop(F.relu(self.down(x)))), size=x.shape[-2:])
        return self.fuse(torch.cat([low, self.skip(x)], dim=1))


class BiasAndEmbeddingOperands(nn.Module):
    """A diffusion ResBlock: a per-channel bias and a time embedding broadcast as N x C x 1 x 1
    join the feature map; they carry no spatial information and change nothing."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.shift = nn.Parameter(torch.zeros(16))
        self.time = nn.Linear(32, 16)
        self.norm = nn.GroupNorm(4, 16)
        self.drop = nn.Dropout(0.1)  # expect: NL003
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)

    def forward(self, x, t):
        h = self.conv1(x) + self.shift.view(1, -1, 1, 1)
        h = h + self.time(F.silu(t))[:, :, None, None].expand_as(h)
        return self.conv2(self.drop(F.silu(self.norm(h))))

    def example_inputs(self):
        return torch.randn(2, 3, 16, 16), torch.randn(2, 32)


class ChannelsKeptPermute(nn.Module):
    """A 1-D signal network that swaps the last two axes: the channel axis stays put."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, (3, 5), padding=(1, 2))
        self.drop = nn.Dropout(0.2)  # expect: NL003
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        x = self.drop(torch.tanh(self.conv1(x)).permute(0, 1, 3, 2).unsqueeze(2).squeeze(2))
        return self.conv2(x.clone().to(torch.float32))

    def example_inputs(self):
        return torch.randn(2, 1, 12, 40)


@torch.jit.script
def scripted_swish(x):
    return x * torch.sigmoid(x)


class ScriptedActivation(nn.Module):
    """A @torch.jit.script activation function: analysed from its Python source."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.drop = nn.Dropout(0.2)  # expect: NL003
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        return self.conv2(self.drop(scripted_swish(self.conv1(x))))


class PreActivationBlock1d(nn.Module):
    """A pre-activation 1-D residual block whose shortcut pads the new channels with zeros:
    transpose, F.pad on the (now last) channel axis, transpose back."""

    def __init__(self, cin, cout):
        super().__init__()
        self.bn1 = nn.BatchNorm1d(cin)
        self.drop = nn.Dropout(0.2)  # expect: NL003
        self.conv1 = nn.Conv1d(cin, cout, 7, padding=3, bias=False)
        self.bn2 = nn.BatchNorm1d(cout)
        self.conv2 = nn.Conv1d(cout, cout, 7, padding=3, bias=False)
        self.extra = cout - cin

    def forward(self, x):
        shortcut = x
        if self.extra:
            shortcut = F.pad(shortcut.transpose(1, 2), (0, self.extra)).transpose(1, 2)
        h = self.conv1(self.drop(F.relu(self.bn1(x))))
        return self.conv2(F.relu(self.bn2(h))) + shortcut


class PaddedChannelShortcut(nn.Module):
    """The second block's dropout sees, through the sum, a shortcut padded to more channels: still one map."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv1d(1, 8, 7, padding=3, bias=False)
        self.blocks = nn.Sequential(PreActivationBlock1d(8, 16), PreActivationBlock1d(16, 16))
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean(-1))

    @staticmethod
    def example_inputs():
        return torch.randn(2, 1, 64)

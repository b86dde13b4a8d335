"""NL009 batch-mixing: models that must not be reported."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class LanguageModelHead(nn.Module):
    """``logits.view(-1, vocab)`` flattens whole per-sample blocks into rows: nothing is mixed."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(32, 16)
        self.out = nn.Linear(16, 32)

    def forward(self, tokens):
        logits = self.out(self.embed(tokens))
        return F.log_softmax(logits.view(-1, logits.size(-1)), dim=-1)

    @staticmethod
    def example_inputs():
        return torch.randint(0, 32, (2, 6))


class BatchNormInTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        h = F.relu(self.bn(self.conv(x)))
        return F.softmax(self.fc(h.mean((2, 3))))  # 2-D: the implicit dim is 1


class StatisticForControlAndBuffer(nn.Module):
    """A batch mean decides a branch and feeds a running buffer; neither reaches the output as data."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.register_buffer("running", torch.zeros(4))

    def forward(self, x):
        h = self.fc(x)
        with torch.no_grad():
            self.running.mul_(0.9).add_(0.1 * h.mean(0))
        if h.abs().sum() > 0:
            h = h * 2
        return h.softmax(dim=-1)


class MultiHeadAttention(nn.Module):
    """Heads folded into the batch (B*heads) and back; softmax over the keys of each sample."""

    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(8, 24)
        self.proj = nn.Linear(8, 8)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, 2, c // 2).permute(2, 0, 3, 1, 4).unbind(0)
        q, k, v = (t.reshape(b * 2, n, c // 2) for t in (q, k, v))
        attn = torch.einsum("bqd,bkd->bqk", q, k).softmax(dim=-1)
        out = torch.bmm(attn, v).view(b, 2, n, c // 2).transpose(1, 2).reshape(b, n, c)
        return self.proj(out) + F.scaled_dot_product_attention(x[:, None], x[:, None], x[:, None]).squeeze(1)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 5, 8)


class Windows(nn.Module):
    """Swin-style windows: (B, H, W, C) -> (B*windows, ws*ws, C) -> back."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        b, h, w, c = x.shape
        win = x.view(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4, c)
        attn = (win @ win.transpose(-2, -1)).softmax(-1)
        win = self.fc(self.norm(attn @ win))
        return win.view(b, h // 2, w // 2, 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)

    @staticmethod
    def example_inputs():
        return torch.randn(2, 4, 4, 8)


class Recurrent(nn.Module):
    """batch_first=True on batch-first input, and a time-major LSTM fed a transposed tensor."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(8, 8, batch_first=True)
        self.lstm = nn.LSTM(8, 8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        h, _ = self.gru(x)
        t, (hn, _) = self.lstm(h.transpose(0, 1))
        a, _ = self.attn(h, h, h)
        return t.transpose(0, 1) + a + hn[-1][:, None]

    @staticmethod
    def example_inputs():
        return torch.randn(2, 5, 8)


class TwoViewsJoined(nn.Module):
    """Two batches concatenated along the batch, then per-sample ops and a split back."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        both = torch.cat([x, x.flip(-1)], dim=0)
        a, b = self.fc(both).softmax(-1).chunk(2, dim=0)
        return a - b


class VectorQuantiser(nn.Module):
    """VQ-VAE-like: the batch-mean commitment loss is returned beside the reconstruction, which it never feeds."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Conv2d(3, 8, 4, stride=2, padding=1)
        self.codebook = nn.Parameter(torch.randn(16, 8))
        self.decoder = nn.ConvTranspose2d(8, 3, 4, stride=2, padding=1)

    def forward(self, x):
        z = self.encoder(x)
        n, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(n, h * w, c)
        codes = (flat.unsqueeze(2) - self.codebook).pow(2).sum(-1).argmin(-1)
        q = F.embedding(codes, self.codebook).view(n, h, w, c).permute(0, 3, 1, 2)
        commitment = ((q.detach() - z) ** 2).mean() + 0.25 * ((q - z.detach()) ** 2).mean()
        q = z + (q - z).detach()  # straight-through
        return self.decoder(q), commitment


class VariationalWithKl(nn.Module):
    """A VAE that returns its batch-mean KL term beside the reconstruction."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(16, 8)
        self.mu = nn.Linear(8, 4)
        self.logvar = nn.Linear(8, 4)
        self.decoder = nn.Linear(4, 16)

    def forward(self, x):
        h = F.relu(self.encoder(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        kl = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1))
        return self.decoder(z), kl

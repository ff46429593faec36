"""Small networks written the way users write them, for the "any model" tests.

Each is an ``nn.Module`` with a ``forward`` of its own: functional activations and pooling,
views and flattens, residual additions, concatenations, strided and depthwise convolutions,
and module instances used more than once (:data:`ZOO`, which every picture is tested on);
calls that return tuples, attention on tokens, channel-axis layer norms, group and instance
norm, and torchvision's ResNet-18 (:data:`REAL`, tested as graphs). Weights are seeded;
batch-norm statistics and norm weights are non-trivial so a wrong recomputation cannot pass
by accident.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py: F.relu between convs, F.max_pool2d, torch.flatten
    (``width=32`` is the original; the tests use a narrower copy)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, 1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(2 * width * 12 * 12, 4 * width)
        self.fc2 = nn.Linear(4 * width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


class TanhLeNet(nn.Module):
    """LeNet-5 style: 5×5 kernels, tanh, average pooling, ``x.view``."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.c2 = nn.Conv2d(6, 16, 5)
        self.f1 = nn.Linear(16 * 5 * 5, 40)
        self.f2 = nn.Linear(40, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(torch.tanh(self.c1(x)), 2)
        x = F.avg_pool2d(torch.tanh(self.c2(x)), 2)
        x = x.view(x.size(0), -1)
        return self.f2(torch.tanh(self.f1(x)))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x  # in place, as torchvision's ResNet does
        return F.relu(out)


class ResNetish(nn.Module):
    """A stem, a residual block with batch norm and ``+``, two branches joined by torch.cat."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = ResidualBlock(8)
        self.branch_a = nn.Conv2d(8, 4, 1)
        self.branch_b = nn.Conv2d(8, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.stem(x))
        x = F.max_pool2d(x, 2)
        x = torch.cat([self.branch_a(x), self.branch_b(x)], dim=1)
        return self.fc(torch.flatten(self.pool(x), 1))


class StridedNet(nn.Module):
    """Strided and dilated convs, GELU / SiLU / LeakyReLU, a depthwise conv, a functional SiLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.act1 = nn.GELU()
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.act2 = nn.SiLU()
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=2, dilation=2)
        self.act3 = nn.LeakyReLU(0.1)
        self.head = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.depthwise(self.act1(self.conv1(x))))
        x = F.silu(x) * 0.5 + x
        x = self.act3(self.conv2(x))
        return self.head(x.reshape(x.shape[0], -1))


class SharedNet(nn.Module):
    """One conv and one in-place ReLU instance used several times."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Conv2d(1, 6, 3, padding=1)
        self.shared = nn.Conv2d(6, 6, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 7 * 7, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.first(x))
        x = self.pool(self.relu(self.shared(x)))
        x = self.pool(self.relu(self.shared(x)))
        return self.fc(x.flatten(1))


ZOO = {
    "examples": ExamplesNet,
    "tanh_lenet": TanhLeNet,
    "resnetish": ResNetish,
    "strided": StridedNet,
    "shared": SharedNet,
}


# --- real networks: tuple results, attention, channel-axis norms ---------------------------


class SplitNet(nn.Module):
    """Calls that return tuples: ``chunk`` (a GLU gate), ``split``, ``unbind``,
    ``max(dim=...)`` (its indices used afterwards), ``topk`` and ``sort``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(20 + 8 + 28 + 49, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        x = F.max_pool2d(self.conv2(a * torch.sigmoid(b)), 2)  # (N, 6, 7, 7)
        left, right = torch.split(x, [2, 4], dim=1)
        rows = right.unbind(2)  # 7 × (N, 4, 7)
        peak, where = left.max(dim=1)  # (N, 7, 7) each
        top, _ = torch.topk(right.flatten(2), 5, dim=2)  # (N, 4, 5)
        ordered, _ = torch.sort(peak.flatten(1), dim=1, descending=True)
        parts = [top.flatten(1), ordered[:, :8], rows[0].flatten(1), where.float().flatten(1)]
        return self.fc(torch.cat(parts, dim=1))


class TinyViT(nn.Module):
    """A ViT in miniature: patchify conv, ``flatten(2).transpose(1, 2)``, a class token
    concatenated, ``nn.MultiheadAttention`` with a residual, ``nn.LayerNorm``, a head."""

    def __init__(self, dim: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.patchify = nn.Conv2d(1, dim, 7, stride=7)  # 4 × 4 patches
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, 17, dim) * 0.5)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patchify(x).flatten(2).transpose(1, 2)  # (N, 16, dim)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = x + self.attn(x, x, x)[0]
        return self.head(self.norm(x)[:, 0])


class SdpaNet(nn.Module):
    """Hand-written multi-head self-attention: one ``qkv`` projection ``unbind`` into three,
    ``F.scaled_dot_product_attention``."""

    def __init__(self, dim: int = 16, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.patchify = nn.Conv2d(1, dim, 4, stride=4)  # 7 × 7 patches
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patchify(x).flatten(2).transpose(1, 2)
        n, length, dim = t.shape
        qkv = self.qkv(t).reshape(n, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (N, heads, L, dim / heads) each
        o = F.scaled_dot_product_attention(q, k, v)
        t = t + self.proj(o.transpose(1, 2).reshape(n, length, dim))
        return self.head(t.mean(1))


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt ``LayerNorm2d``: a layer norm over channels, done channels-last."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class ChannelNorm(nn.LayerNorm):
    """The original ConvNeXt's ``channels_first`` LayerNorm: mean and variance over dim 1 by
    hand."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class ConvNeXtBlock(nn.Module):
    """Depthwise 7×7 conv, permute to channels-last, ``nn.LayerNorm``, Linear, GELU, Linear,
    permute back, residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtish(nn.Module):
    """A ConvNeXt stem and block, both channel layer norms, group and instance norm, then a
    channels-last ``contiguous()`` copy and a ``view`` of it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 4, stride=4)  # 7 × 7
        self.stem_norm = LayerNorm2d(16, eps=1e-6)
        self.block = ConvNeXtBlock(16)
        self.down_norm = ChannelNorm(16)
        self.down = nn.Conv2d(16, 32, 2, stride=2)  # 3 × 3
        self.gn = nn.GroupNorm(4, 32)
        self.inorm = nn.InstanceNorm2d(32, affine=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block(self.stem_norm(self.stem(x)))
        x = F.gelu(self.inorm(self.gn(self.down(self.down_norm(x)))))
        tokens = x.permute(0, 2, 3, 1).contiguous().view(x.shape[0], 9, 32)
        return self.head(tokens.mean(1))


def resnet18() -> nn.Module:
    """torchvision's ResNet-18 for MNIST: one input channel, ten classes."""
    from torchvision.models import resnet18 as tv_resnet18

    model = tv_resnet18(num_classes=10)
    model.conv1 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
    return model


REAL = {
    "split": SplitNet,
    "tiny_vit": TinyViT,
    "sdpa": SdpaNet,
    "convnext": ConvNeXtish,
    "resnet18": resnet18,
}


def build_zoo(name: str) -> nn.Module:
    """The named zoo network (:data:`ZOO` or :data:`REAL`), seeded, in eval mode, with
    non-trivial batch-norm statistics and norm weights."""
    torch.manual_seed(0)
    model = (ZOO | REAL)[name]()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()

"""Small networks written the way users write them, for the "any model" tests.

Each is an ``nn.Module`` with a ``forward`` of its own: functional activations and pooling,
views and flattens, residual additions, concatenations, strided and depthwise convolutions,
and module instances used more than once. Weights are seeded; batch-norm statistics are
non-trivial so a wrong recomputation cannot pass by accident.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py: F.relu between convs, F.max_pool2d, torch.flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 12 * 12, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
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


def build_zoo(name: str) -> nn.Module:
    """The named zoo network, seeded, in eval mode, with non-trivial batch-norm statistics."""
    torch.manual_seed(0)
    model = ZOO[name]()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()

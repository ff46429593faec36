"""The registry of named networks from the classic MNIST tutorials, plus a fast one for class.

Every network is an :class:`Network` (an ``nn.Sequential`` of named parts, blocks nested as
``nn.Sequential`` too), so its layers have readable paths such as ``block1.conv1`` and its
forward pass is exactly "call the submodules in order". Every network takes images as
``(N, 1, 28, 28)`` floats in [0, 1] and starts with a ``normalize`` step (buffers only, no
parameters) that shifts and scales them the way the training data was normalised.

>>> from explainer.nets.architectures import build, available
>>> available()
['linear', 'mlp', 'tinyvgg', 'basic_cnn', 'bn_cnn', 'cnn3_fc3', 'fast_cnn']
>>> sum(p.numel() for p in build("tinyvgg").parameters())
7740
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from explainer.errors import ExplainerError


class Normalize(nn.Module):
    """``(x - mean) / std`` with fixed buffers; it has no parameters to learn."""

    def __init__(self, mean: float = 0.1307, std: float = 0.3081) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.item():.4f}, std={self.std.item():.4f}"


class Network(nn.Sequential):
    """A named architecture: an ``nn.Sequential`` whose ``arch_name`` says which one it is."""

    arch_name: str = "custom"


@dataclass(frozen=True)
class Architecture:
    name: str
    title: str
    summary: str
    builder: Callable[..., list[tuple[str, nn.Module]]]
    source: str = ""


_REGISTRY: dict[str, Architecture] = {}


def register(name: str, title: str, summary: str, source: str = "") -> Callable:
    """Decorator adding a builder ``(**kwargs) -> [(name, module), ...]`` to the registry."""

    def deco(fn: Callable[..., list[tuple[str, nn.Module]]]) -> Callable:
        _REGISTRY[name] = Architecture(name, title, " ".join(summary.split()), fn, source)
        return fn

    return deco


def available() -> list[str]:
    """Names accepted by :func:`build`, from the simplest to the fastest-to-train."""
    return list(_REGISTRY)


def describe(name: str) -> Architecture:
    """The registry entry: title, a paragraph a learner can read, where the design comes from."""
    if name not in _REGISTRY:
        raise ExplainerError(
            f"unknown architecture {name!r}; choose one of: {', '.join(_REGISTRY)}"
        )
    return _REGISTRY[name]


def build(name: str, *, mean: float = 0.1307, std: float = 0.3081, **kwargs) -> Network:
    """Build the network ``name`` with fresh weights; ``mean``/``std`` set its normalisation."""
    arch = describe(name)
    try:
        parts = arch.builder(**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:  # unknown names, negative sizes...
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise ExplainerError(f"bad arguments for architecture {name!r}: {first}") from None
    net = Network(OrderedDict([("normalize", Normalize(mean, std)), *parts]))
    net.arch_name = name
    return net


def count_parameters(model: nn.Module) -> int:
    """Number of learnable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _seq(*named: tuple[str, nn.Module]) -> nn.Sequential:
    return nn.Sequential(OrderedDict(named))


def _conv_bn_relu(i: int, cin: int, cout: int) -> list[tuple[str, nn.Module]]:
    return [
        (f"conv{i}", nn.Conv2d(cin, cout, 3, padding=1)),
        (f"bn{i}", nn.BatchNorm2d(cout)),
        (f"relu{i}", nn.ReLU()),
    ]


@register(
    "linear",
    "Linear (no activation)",
    """Two fully connected layers with nothing in between. Without a non-linearity the two
    layers collapse into a single matrix, so this is logistic regression in disguise: each
    class gets one 28×28 template of weights, and the score is how well the digit matches it.""",
    "the 'linear model' baseline of the PyTorch MNIST tutorials",
)
def _linear(hidden: int = 10) -> list[tuple[str, nn.Module]]:
    return [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(784, hidden)),
        ("fc2", nn.Linear(hidden, 10)),
    ]


@register(
    "mlp",
    "MLP with ReLU everywhere",
    """The same two layers with a ReLU after each, the last one included. The hidden ReLU lets
    the network bend its decision boundaries; the final ReLU is a classic mistake kept on
    purpose: it clips negative logits to zero, so the network can only push a wrong class's
    score down to 0, never below, and a hidden layer of 10 units is a tight bottleneck.""",
    "the 'add a ReLU' step of the PyTorch MNIST tutorials",
)
def _mlp(hidden: int = 10) -> list[tuple[str, nn.Module]]:
    return [
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(784, hidden)),
        ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(hidden, 10)),
        ("relu2", nn.ReLU()),
    ]


@register(
    "tinyvgg",
    "TinyVGG",
    """The CNN Explainer network: two VGG-style blocks of two 3×3 convolutions with ReLU and a
    2×2 max pooling, ten channels wide, then one linear layer. Convolutions share their weights
    across the image, so with fewer parameters than the linear model it reads strokes, not
    pixels.""",
    "CNN Explainer (Wang et al. 2020) / the PyTorch course 'TinyVGG'",
)
def _tinyvgg(channels: int = 10) -> list[tuple[str, nn.Module]]:
    def block(cin: int) -> nn.Sequential:
        return _seq(
            ("conv1", nn.Conv2d(cin, channels, 3, padding=1)),
            ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(channels, channels, 3, padding=1)),
            ("relu2", nn.ReLU()),
            ("pool", nn.MaxPool2d(2)),
        )

    return [
        ("block1", block(1)),
        ("block2", block(channels)),
        ("classifier", _seq(("flatten", nn.Flatten()), ("fc", nn.Linear(channels * 49, 10)))),
    ]


@register(
    "basic_cnn",
    "Basic CNN (pytorch/examples)",
    """The network of pytorch/examples' mnist/main.py: two unpadded 3×3 convolutions (28→26→24
    pixels), one max pooling, dropout, and a big dense layer. Almost all of its 1.2 million
    parameters sit in that first dense layer (9216×128), a sign that the convolutional part
    is doing little downsampling.""",
    "pytorch/examples mnist/main.py",
)
def _basic_cnn() -> list[tuple[str, nn.Module]]:
    return [
        ("conv1", nn.Conv2d(1, 32, 3)),
        ("relu1", nn.ReLU()),
        ("conv2", nn.Conv2d(32, 64, 3)),
        ("relu2", nn.ReLU()),
        ("pool", nn.MaxPool2d(2)),
        ("dropout1", nn.Dropout(0.25)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(9216, 128)),
        ("relu3", nn.ReLU()),
        ("dropout2", nn.Dropout(0.5)),
        ("fc2", nn.Linear(128, 10)),
    ]


@register(
    "bn_cnn",
    "CNN with batch normalisation",
    """A deeper VGG-style network: blocks of 3×3 convolutions at 32, 64 and 128 channels, each
    followed by batch normalisation (which keeps every channel's values centred and scaled
    while training) and ReLU, with max pooling and dropout after each block. The image shrinks
    28→14→7→3 while the channels grow, so the dense head only sees 1,152 numbers.""",
    "the Kaggle 'CNN with BatchNorm' MNIST notebooks (99.5%+)",
)
def _bn_cnn(dropout: float = 0.25) -> list[tuple[str, nn.Module]]:
    def block(convs: list[tuple[int, int]]) -> nn.Sequential:
        layers = [m for i, (cin, cout) in enumerate(convs, 1) for m in _conv_bn_relu(i, cin, cout)]
        return _seq(*layers, ("pool", nn.MaxPool2d(2)), ("dropout", nn.Dropout(dropout)))

    return [
        ("block1", block([(1, 32), (32, 32)])),
        ("block2", block([(32, 64), (64, 64)])),
        ("block3", block([(64, 128)])),
        (
            "classifier",
            _seq(
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(1152, 256)),
                ("bn1", nn.BatchNorm1d(256)),
                ("relu1", nn.ReLU()),
                ("dropout", nn.Dropout(0.5)),
                ("fc2", nn.Linear(256, 10)),
            ),
        ),
    ]


@register(
    "cnn3_fc3",
    "3 conv blocks + 3 dense layers",
    """Three single-convolution blocks (conv, batch norm, ReLU, max pooling, dropout) at 32, 64
    and 128 channels feed a three-layer dense head (256 → 128 → 10). Fewer convolutions than
    bn_cnn, more dense layers: a classic tutorial shape that is quick to train.""",
    "the '3 conv + 3 FC' MNIST tutorials",
)
def _cnn3_fc3(dropout: float = 0.25) -> list[tuple[str, nn.Module]]:
    def block(cin: int, cout: int) -> nn.Sequential:
        return _seq(
            *_conv_bn_relu(1, cin, cout),
            ("pool", nn.MaxPool2d(2)),
            ("dropout", nn.Dropout(dropout)),
        )

    return [
        ("block1", block(1, 32)),
        ("block2", block(32, 64)),
        ("block3", block(64, 128)),
        (
            "classifier",
            _seq(
                ("flatten", nn.Flatten()),
                ("fc1", nn.Linear(1152, 256)),
                ("relu1", nn.ReLU()),
                ("dropout", nn.Dropout(0.5)),
                ("fc2", nn.Linear(256, 128)),
                ("relu2", nn.ReLU()),
                ("fc3", nn.Linear(128, 10)),
            ),
        ),
    ]


@register(
    "fast_cnn",
    "Fast CNN (for live training in class)",
    """Designed here to reach 99% in about ten seconds on a laptop CPU: a 5×5 convolution with
    stride 2 reads the digit at half resolution (14×14) straight away, two cheap 3×3
    convolutions with batch normalisation and max pooling follow (14→7→3), and one small
    linear layer reads the 576 numbers left. Batch normalisation lets it learn with a large
    learning rate, so one pass over the training set is enough.""",
    "designed for this project (in the spirit of the GPU 'MNIST speedruns')",
)
def _fast_cnn(width: int = 16) -> list[tuple[str, nn.Module]]:
    w = width
    return [
        ("block1", _seq(
            ("conv1", nn.Conv2d(1, w, 5, stride=2, padding=2)), ("bn1", nn.BatchNorm2d(w)),
            ("relu1", nn.ReLU()),
        )),
        ("block2", _seq(
            ("conv1", nn.Conv2d(w, 2 * w, 3, padding=1)), ("bn1", nn.BatchNorm2d(2 * w)),
            ("relu1", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
        )),
        ("block3", _seq(
            ("conv1", nn.Conv2d(2 * w, 4 * w, 3, padding=1)), ("bn1", nn.BatchNorm2d(4 * w)),
            ("relu1", nn.ReLU()), ("pool", nn.MaxPool2d(2)),
        )),
        ("classifier", _seq(("flatten", nn.Flatten()), ("fc", nn.Linear(4 * w * 9, 10)))),
    ]  # fmt: skip

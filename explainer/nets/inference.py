"""Batched forward passes over in-memory tensors."""

from __future__ import annotations

import torch
from torch import nn


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` picks cuda, then mps, then cpu; anything else is passed to ``torch.device``."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.inference_mode()
def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 1000,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Logits ``(N, classes)`` on the CPU for images ``(N, 1, 28, 28)`` float in [0, 1]
    (or ``(N, 28, 28)`` uint8, converted here). The model is put in eval mode for the pass and
    its mode restored afterwards."""
    if images.dtype == torch.uint8:
        images = images.float().div_(255.0)
    if images.dim() == 3:
        images = images.unsqueeze(1)
    was_training = model.training
    model.eval()
    try:
        out = [
            model(images[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 10)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return (logits.argmax(1) == labels).float().mean().item() if len(labels) else float("nan")


def latency_ms(model: nn.Module, runs: int = 20) -> float:
    """Median milliseconds for one ``(1, 1, 28, 28)`` image on the CPU (``runs`` timed passes
    after one warm-up pass).

    >>> from explainer import load_checkpoint
    >>> latency_ms(load_checkpoint("mnist_fast_cnn").model) > 0
    True
    """
    import statistics
    import time

    x = torch.zeros(1, 1, 28, 28)
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000

"""What is inside a trained network, measured over many digits: what the questions share.

Each question lives in its own module, with a function returning plain data (numpy arrays in
small dataclasses) and a ``plot_*`` function returning a matplotlib ``Figure``:

- :mod:`explainer.analysis.strength`: how strongly each layer and each channel responds over
  the test digits, and how many channels never fire ("dead");
- :mod:`explainer.analysis.top_digits`: for each conv channel, the digits that excite it most,
  with the patch (the channel's receptive field) that did;
- :mod:`explainer.analysis.embedding_map`: the penultimate layer of N digits projected to 2-D
  with PCA or t-SNE, coloured by class, mistakes marked;
- :mod:`explainer.analysis.snapshots`: one digit captured through every epoch snapshot, where
  a checkpoint's snapshots are, and what the training animation draws of them.

Everything takes images as ``(N, 1, 28, 28)`` floats in [0, 1] or ``(N, 28, 28)`` uint8, e.g.
``load_sample().images`` (500 bundled digits, fast enough for the app on 2 CPU cores):
:func:`image_batch` reads them; :func:`figure_theme` and :func:`style_axes` give every figure
the same look.
"""

from __future__ import annotations

import numpy as np
import torch

from explainer.errors import ExplainerError
from explainer.tracing.capture import as_batch


def image_batch(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """``images`` (``(N, 28, 28)`` uint8 or ``(N, 1, 28, 28)`` floats, numpy or torch) as
    the ``(N, 1, H, W)`` float batch the networks read; a one-line error when empty."""
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if len(x) == 0:
        raise ExplainerError("no images given")
    return as_batch(x)


def figure_theme(name: str):
    """The :func:`explainer.style.theme` called ``name`` ("light" or "dark"), imported
    only when a figure is drawn."""
    from explainer.style import theme

    return theme(name)


def style_axes(ax, th) -> None:
    """One look for every insight figure's axes: ``th``'s background and colours, no top or
    right spine."""
    ax.set_facecolor(th.background)
    ax.tick_params(colors=th.foreground, labelsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color(th.muted)

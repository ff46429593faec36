"""One place that decides colours and value scales, for the GIFs, the Manim scenes and the app.

Rules:
- the input digit: grey scale, 0 = black background, 1 = white ink (as MNIST stores it);
- signed values (conv and batch-norm outputs, dense pre-activations, kernels, weights):
  a diverging map centred at zero, symmetric limits ``[-m, m]``;
- non-negative values (after ReLU, pooling of ReLU outputs, probabilities): a sequential map
  from 0 to the maximum;
- every picture shows its colour bar or a legend saying which rule it uses.

``scale_for(values, kind)`` returns a :class:`Scale` (colormap name, limits, label) and
``colorize(values, scale)`` turns an array into ``uint8`` RGB exactly the way a matplotlib
``imshow`` with that scale would, so tests can compare pixels against a Trace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SIGNED_CMAP = "RdBu_r"  # blue < 0 < red, white at zero
POSITIVE_CMAP = "magma"  # black at zero, bright for strong activations
INPUT_CMAP = "gray"
PROBABILITY_CMAP = "Blues"

# Class colours (tab10): used for the embedding map, bars and legends.
CLASS_COLORS = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
CORRECT_COLOR = "#2ca02c"
WRONG_COLOR = "#d62728"
HIGHLIGHT_COLOR = "#ffb000"  # the predicted class, the active patch


@dataclass(frozen=True)
class Theme:
    name: str
    background: str
    foreground: str
    muted: str
    panel: str
    accent: str


THEMES = {
    "light": Theme("light", "#ffffff", "#1a1a1a", "#6b6b6b", "#f3f3f3", "#1f6fd1"),
    "dark": Theme("dark", "#0f1117", "#e8e8e8", "#9a9a9a", "#1c1f27", "#5aa9ff"),
}


def theme(name: str = "light") -> Theme:
    if name not in THEMES:
        from explainer.errors import ExplainerError

        raise ExplainerError(f"unknown theme {name!r}; choose one of: {', '.join(THEMES)}")
    return THEMES[name]


@dataclass(frozen=True)
class Scale:
    """How to colour an array: colormap name, limits, and a label for its colour bar."""

    cmap: str
    vmin: float
    vmax: float
    label: str
    note: str = ""  # what a picture of these values must say (NaN or infinite values)

    @property
    def signed(self) -> bool:
        return self.vmin < 0


SIGNED_KINDS = {"conv", "bn", "linear", "weight", "kernel", "normalize", "logits", "other"}
POSITIVE_KINDS = {"relu", "pool", "probability", "dropout", "flatten"}


def nonfinite_note(values: np.ndarray) -> str:
    """What a picture of ``values`` (any shape) must say when they are not all finite numbers
    (a diverged model): the map of such a layer is otherwise blank or one colour without a
    word. ``""`` when every value is finite."""
    v = np.asarray(values)
    if v.dtype.kind not in "fc" or bool(np.isfinite(v).all()):
        return ""
    what = "NaN" if bool(np.isnan(v).any()) else "infinite values"
    return f"this layer's output holds {what}: the model diverged"


def scale_for(values: np.ndarray, kind: str = "auto", limit: float | None = None) -> Scale:
    """The scale for ``values`` of a given layer ``kind`` (``"auto"``: signed if any value < 0).

    ``limit`` fixes the magnitude (e.g. one scale for all channels of a layer); by default it is
    the largest absolute finite value (never 0). Values holding NaN or infinities get a
    :attr:`Scale.note` saying so, also written in front of the colour bar's label."""
    v = np.asarray(values, dtype=np.float32)
    if kind == "input":
        return Scale(INPUT_CMAP, 0.0, 1.0, "pixel intensity (0 = background, 1 = ink)")
    if kind == "probability":
        return Scale(PROBABILITY_CMAP, 0.0, 1.0, "probability")
    note = nonfinite_note(v)
    v = v[np.isfinite(v)] if note else v
    signed = kind in SIGNED_KINDS if kind != "auto" else bool(v.size and v.min() < 0)
    if kind in POSITIVE_KINDS and v.size and v.min() < 0:
        signed = True  # e.g. pooling of a signed map: never hide negative values
    m = float(limit) if limit is not None else float(np.abs(v).max()) if v.size else 1.0
    m = m if m > 0 and math.isfinite(m) else 1.0
    lead = f"{note}; " if note else ""
    if signed:
        return Scale(SIGNED_CMAP, -m, m, f"{lead}activation (blue < 0 < red)", note)
    return Scale(POSITIVE_CMAP, 0.0, m, f"{lead}activation (≥ 0)", note)


@lru_cache(maxsize=16)
def colour_table(cmap: str) -> np.ndarray:
    """``uint8`` RGB ``(256, 3)``: the matplotlib colour map ``cmap`` in 256 steps."""
    import matplotlib

    return (
        (matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    )


def colorize(values: np.ndarray, scale: Scale) -> np.ndarray:
    """``uint8`` RGB ``(..., 3)``: ``values`` mapped through ``scale`` with a 256-entry table,
    the same quantisation as matplotlib's ``imshow`` (``N = 256``)."""
    v = np.asarray(values, dtype=np.float64)
    t = (v - scale.vmin) / (scale.vmax - scale.vmin)
    t = np.nan_to_num(t, nan=0.0, posinf=1.0, neginf=0.0)  # a diverged layer: its note says so
    idx = np.clip((t * 256).astype(np.int64), 0, 255)
    return colour_table(scale.cmap)[idx]


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


# --- layers ---------------------------------------------------------------------------------

# Block colours for the architecture diagrams and the layer chips, by layer kind.
KIND_COLORS = {
    "input": "#7f7f7f",
    "normalize": "#9e9e9e",
    "conv": "#1f6fd1",
    "bn": "#8c6bb1",
    "norm": "#b58fd6",  # layer, group, instance norm: BN's family, lighter
    "relu": "#e0711f",
    "pool": "#2ca02c",
    "dropout": "#b0b0b0",
    "flatten": "#17becf",
    "linear": "#d62728",
    "add": "#e7298a",
    "mul": "#8c564b",
    "concat": "#a6761d",
    "split": "#c9a227",
    "attention": "#1b9e77",
    "softmax": "#ffb000",
    "other": "#7f7f7f",
}
KIND_SHORT = {
    "input": "in",
    "normalize": "norm",
    "conv": "conv",
    "bn": "BN",
    "norm": "Norm",
    "relu": "ReLU",
    "pool": "pool",
    "dropout": "drop",
    "flatten": "flat",
    "linear": "fc",
    "add": "add",
    "mul": "mul",
    "concat": "cat",
    "split": "split",
    "attention": "attn",
    "softmax": "soft",
    "other": "op",
}


def layer_scale(values: np.ndarray, kind: str) -> Scale:
    """The one scale for all channels of a layer's output ``values`` (any shape): symmetric
    around zero for signed kinds, ``[0, max]`` after ReLU and pooling. Every picture of a layer
    (GIF panels, Manim scenes, the app) uses this, so the same value has the same colour."""
    if kind == "input":
        return scale_for(values, "input")
    finite = np.asarray(values, dtype=np.float32)
    finite = finite[np.isfinite(finite)]
    if kind == "relu" and finite.size and finite.min() >= 0:
        return scale_for(values, "relu")
    return scale_for(values, kind if kind in SIGNED_KINDS | POSITIVE_KINDS else "auto")


def mix(colour: str, other: str, amount: float) -> str:
    """``colour`` blended with ``other`` (``amount`` of ``colour``, 0..1), as ``"#rrggbb"``."""
    a, b = np.array(hex_to_rgb(colour), float), np.array(hex_to_rgb(other), float)
    r, g, bl = (round(float(v)) for v in amount * a + (1 - amount) * b)
    return f"#{r:02x}{g:02x}{bl:02x}"


def text_on(rgb: tuple[int, int, int] | np.ndarray) -> str:
    """Black or white, whichever reads better on a background colour ``rgb`` (0-255)."""
    r, g, b = (float(c) for c in np.asarray(rgb)[:3])
    return "#000000" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#ffffff"


def mpl_rc(name: str = "light") -> dict:
    """Matplotlib ``rcParams`` for a theme: colours, a readable font size at 800 px wide."""
    t = theme(name)
    return {
        "figure.facecolor": t.background,
        "axes.facecolor": t.background,
        "axes.edgecolor": t.muted,
        "axes.labelcolor": t.foreground,
        "text.color": t.foreground,
        "xtick.color": t.muted,
        "ytick.color": t.muted,
        "xtick.labelcolor": t.foreground,
        "ytick.labelcolor": t.foreground,
        "font.size": 9,
        "font.family": "DejaVu Sans",
        "axes.titlesize": 10,
        "savefig.facecolor": t.background,
    }

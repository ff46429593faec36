"""The whole network at a glance, on Draw & predict: every layer's output for the current
drawing, small, in one strip that redraws with each stroke, the prediction at its end; a
click on a tile's name opens that layer in *Layer by layer*.

A tile is one step of the network as the pictures group it
(:func:`explainer.analysis.flowgraph.flow_blocks`: a convolution with its batch norm and
activation; a flatten or dropout joins the tile after it). A network with more than
:data:`MOST_TILES` such steps (a ResNet) gets one tile per block of its own module tree
(:mod:`explainer.tracing.blocks`: stem, ``layer1.0`` ... head), showing what leaves it.
:func:`tiles` has no Streamlit in it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from explainer.analysis.flowgraph import flow_blocks, record_label
from explainer.app import looks, visuals, words
from explainer.style import scale_for
from explainer.tracing.blocks import blocks_of, by_blocks
from explainer.tracing.trace import LayerRecord, Trace

MOST_TILES = 12
TILE_PX = 140  # a tile's width on the page
PRESENTER_TILE_PX = 150  # four to a row beside the canvas at 1920×1080
LAYERS_PAGE = Path(__file__).resolve().parent / "layers.py"


@dataclass
class Tile:
    """One tile: its ``label``, the ``records`` it stands for (in the order they ran), and
    ``index``, the position of its first record in ``trace.layers`` (what Layer by layer
    opens on)."""

    label: str
    records: list[LayerRecord]
    index: int

    @property
    def output(self) -> np.ndarray:
        return self.records[-1].output


def _fold(groups: list[list[LayerRecord]]) -> list[list[LayerRecord]]:
    """A group of only flatten or dropout joins the group after it (nothing to see)."""
    out: list[list[LayerRecord]] = []
    carry: list[LayerRecord] = []
    for g in groups:
        if all(r.kind in ("flatten", "dropout") for r in g):
            carry += g
            continue
        out.append(carry + g)
        carry = []
    if carry:
        out.append(carry)
    return out


def _by_blocks(trace: Trace) -> list[tuple[str, list[LayerRecord]]]:
    """The network's own blocks (:func:`explainer.tracing.blocks.blocks_of`: stem, each
    residual block, head; merged into stages down to :data:`MOST_TILES`), named as it names
    them; the input's normalisation left out."""
    out = []
    for block in blocks_of(trace, most=MOST_TILES):
        recs = [trace.layer(n) for n in block.records if trace.layer(n).kind != "normalize"]
        if recs:
            out.append((block.name, recs))
    return out


def _label(group: list[LayerRecord]) -> str:
    shown = [r for r in group if r.kind not in ("flatten", "dropout", "bn", "relu")]
    return record_label(shown[0] if shown else group[-1])


def tiles(trace: Trace) -> list[Tile]:
    """The strip's tiles for ``trace`` (see the module docstring); every record but the
    input's own normalisation is in exactly one tile, in the order they ran."""
    names = trace.names()
    groups = _fold([b.records for b in flow_blocks(trace)])
    if len(groups) > MOST_TILES or by_blocks(trace):
        return [Tile(name, g, names.index(g[0].name)) for name, g in _by_blocks(trace)]
    return [Tile(_label(g), g, names.index(g[0].name)) for g in groups]


def tile_picture(values: np.ndarray, px: int = PRESENTER_TILE_PX) -> np.ndarray:
    """A layer's output as one small ``uint8`` RGB picture about ``px`` wide: every channel of
    a ``(C, H, W)`` output in a square-ish grid, a vector as rows of coloured cells."""
    if values.ndim == 3:
        cols = math.ceil(math.sqrt(values.shape[0]))
        return visuals.mosaic(values, scale_for(values, "auto"), cols=cols,
                              cell=max(2, px // cols - 4), labels=False)  # fmt: skip
    flat = np.asarray(values, np.float32).ravel()
    per_row = min(16, flat.size) if flat.size <= 64 else 32
    rows = -(-flat.size // per_row)
    grid = np.full(rows * per_row, np.nan, np.float32)
    grid[: flat.size] = flat
    rgb = visuals.colorize_nan(grid.reshape(rows, per_row), scale_for(flat, "auto"))
    return visuals.upscale(rgb, max(1, px // per_row))


def _open(index: int) -> None:
    st.session_state["layer_step"] = index
    st.session_state["_open_layers"] = True


def network_strip(trace: Trace, key: str) -> None:
    """The strip (``key``: the model and digit, for the picture cache)."""
    shown = tiles(trace)
    st.markdown(
        f"#### The whole network at a glance: {len(shown)} steps, {len(trace.layers)} layers"
    )
    st.caption("What every step makes of the picture, left to right. Click a name to open it "
               "in *Layer by layer*.")  # fmt: skip
    # tiles of one width that wrap: beside the canvas (a wide page) or across the page under it
    width = PRESENTER_TILE_PX if looks.presenter() else TILE_PX
    with st.container(horizontal=True, gap="small", key="strip_tiles"):
        for n, t in enumerate(shown, 1):
            with st.container(width=width):
                pic = visuals.cached_bytes(f"{key}|strip|{t.records[-1].name}",
                                           lambda t=t: tile_picture(t.output))  # fmt: skip
                st.image(pic, width="stretch", caption="×".join(map(str, t.output.shape)))
                st.button(f"{n}. {t.label}", key=f"strip_{t.index}", on_click=_open,
                          args=(t.index,), type="tertiary", width="stretch")  # fmt: skip
        with st.container(width=width):
            said, sure = words.answer(trace.probs, trace.class_names)
            sure = sure.replace(">", "\\>")  # "> 99.9%" is not a quote
            st.markdown(f"Answer  \n**{said}**  \n{sure} sure")
    if st.session_state.pop("_open_layers", False):
        st.switch_page(st.Page(str(LAYERS_PAGE), url_path="layers"))

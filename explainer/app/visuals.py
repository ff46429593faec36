"""Pictures for the app, coloured by :mod:`explainer.style` so they match the GIFs and scenes.

Feature maps are turned into one RGB mosaic with numpy (fast, sharp pixels) instead of a
matplotlib figure per rerun; each mosaic comes with an HTML colour bar saying what the colours
mean.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from explainer import style
from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import tied_classes
from explainer.style import Scale, colorize, scale_for

GAP_RGB = (200, 200, 205)


def upscale(rgb: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of ``(H, W, 3)``."""
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def fit_factor(size: int, target: int) -> int:
    """Integer zoom that brings ``size`` pixels close to ``target`` pixels."""
    return max(1, round(target / max(size, 1)))


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default()


def label_px(cell_px: int) -> int:
    """The font size of a mosaic cell's channel number: a quarter of the cell, 14 to 24 px
    (read from the back of a room even when the picture is shown a little smaller)."""
    return max(14, min(24, cell_px // 4))


def mosaic(
    maps: np.ndarray,
    scale: Scale,
    cols: int | None = None,
    cell: int = 84,
    labels: bool = True,
    highlight: int | None = None,
) -> np.ndarray:
    """All channels of ``maps`` ``(C, H, W)`` as one ``uint8`` RGB grid, each cell about
    ``cell`` pixels wide, numbered in its corner; channel ``highlight`` gets an orange frame."""
    c, h, w = maps.shape
    cols = cols or min(c, max(4, math.ceil(math.sqrt(c * 1.6))))
    rows = math.ceil(c / cols)
    f = fit_factor(max(h, w), cell)
    ch, cw, gap = h * f, w * f, 4
    out = np.full((rows * (ch + gap) + gap, cols * (cw + gap) + gap, 3), GAP_RGB, np.uint8)
    rgb = colorize(maps, scale)
    for i in range(c):
        r, q = divmod(i, cols)
        y, x = gap + r * (ch + gap), gap + q * (cw + gap)
        out[y : y + ch, x : x + cw] = upscale(rgb[i], f)
        if highlight == i:
            hl = style.hex_to_rgb(style.HIGHLIGHT_COLOR)
            out[y - 3 : y + ch + 3, x - 3 : x - 1] = hl
            out[y - 3 : y + ch + 3, x + cw + 1 : x + cw + 3] = hl
            out[y - 3 : y - 1, x - 3 : x + cw + 3] = hl
            out[y + ch + 1 : y + ch + 3, x - 3 : x + cw + 3] = hl
    if labels and c > 1 and ch >= 48 and h >= 7:
        img = Image.fromarray(out)
        draw = ImageDraw.Draw(img)
        font = _font(label_px(ch))
        for i in range(c):
            r, q = divmod(i, cols)
            y, x = gap + r * (ch + gap), gap + q * (cw + gap)
            draw.text(
                (x + 3, y + 1),
                str(i),
                fill=(255, 255, 255),
                font=font,
                stroke_width=2,
                stroke_fill=(0, 0, 0),
            )
        out = np.asarray(img)
    return out


@st.cache_data(show_spinner=False, max_entries=256)
def cached_mosaic(
    key: str, _values: np.ndarray, _scale: Scale, cell: int, cols: int | None = None
) -> bytes:
    """:func:`mosaic` as PNG bytes, computed once per ``key`` (model, digit, layer, size)."""
    import io

    rgb = mosaic(_values, _scale, cols=cols, cell=cell)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


@st.cache_data(show_spinner=False, max_entries=256)
def cached_bytes(key: str, _make) -> bytes:
    """PNG bytes of the ``uint8`` RGB picture ``_make()`` returns, made once per ``key``."""
    import io

    buf = io.BytesIO()
    Image.fromarray(_make()).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def colorbar_html(scale: Scale, what: str = "", label: str | None = None) -> str:
    """A small horizontal colour bar with its limits and meaning, as HTML."""
    lut = style.colour_table(scale.cmap)
    stops = ", ".join(f"rgb({r},{g},{b})" for r, g, b in [*lut[::32].tolist(), lut[-1].tolist()])
    lo, hi = _fmt(scale.vmin), _fmt(scale.vmax)
    label = label or (f"{what}: {scale.label}" if what else scale.label)
    return (
        f'<div class="cbar"><span>{lo}</span><div class="bar" style="background: '
        f'linear-gradient(90deg, {stops});"></div><span>{hi}</span>'
        f"<span style='opacity:.75'>{label}{' · white = 0' if scale.signed else ''}</span></div>"
    )


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def layer_scale(values: np.ndarray, kind: str) -> Scale:
    """One scale for all channels of a layer (so channels can be compared)."""
    return scale_for(values, kind)


INSIDE_FROM = 0.8  # a probability whose text is written inside its bar


COLOURED = [style.HIGHLIGHT_COLOR, "#7a9cc6"]  # the answer's bar, the others
GREYED = ["#8c8c8c", "#cfcfcf"]  # a picture flagged as no digit


def probability_chart(
    probs: np.ndarray, class_names: list[str], height: int = 280, flagged: bool = False
) -> dict:
    """Vega-Lite spec: horizontal bars of the class probabilities, the predicted class (every
    class tied at the top, when there is a tie) in the highlight colour, all greys when the
    picture is ``flagged`` as no digit (no digit to pick); each bar's text as
    :func:`explainer.analysis.arith.confidence_text` ("> 99.9%", never a rounded "100.0%"). (A plain
    dict: building it costs nothing, unlike an Altair chart.)"""
    top = set(tied_classes(probs))
    values = [
        {
            "class": n,
            "p": float(v),
            "text": confidence_text(float(v)),
            "top": "prediction" if i in top else "other",
        }
        for i, (n, v) in enumerate(zip(class_names, probs, strict=False))
    ]
    enc = {
        "y": {
            "field": "class",
            "type": "nominal",
            "sort": None,
            "title": None,
            "axis": {"labelFontSize": 15, "labelLimit": 200, "labelOverlap": False},
        },
        "x": {
            "field": "p",
            "type": "quantitative",
            # room right of 100% for the largest bar's own label ("> 99.9%")
            "scale": {"domain": [0, 1.22]},
            "axis": {"format": "%", "title": "probability", "values": [0, 0.2, 0.4, 0.6, 0.8, 1]},
        },
    }
    color = {
        "field": "top",
        "type": "nominal",
        "legend": None,
        "scale": {"domain": ["prediction", "other"], "range": GREYED if flagged else COLOURED},
    }
    return {
        "data": {"values": values},
        "height": height,
        "encoding": enc,
        "layer": [
            {
                "mark": "bar",
                "encoding": {
                    "color": color,
                    "tooltip": [
                        {"field": "class"},
                        {"field": "p", "format": ".2%", "title": "probability"},
                    ],
                },
            },
            {  # a bar's text right of it; the largest bar's inside its end, where no narrow
                # column can cut it ("> 99.9%" needs more than the room right of 100%)
                "transform": [{"filter": f"datum.p < {INSIDE_FROM}"}],
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 13},
                "encoding": {"text": {"field": "text"}},
            },
            {
                "transform": [{"filter": f"datum.p >= {INSIDE_FROM}"}],
                "mark": {"type": "text", "align": "right", "dx": -6, "fontSize": 13,
                         "fontWeight": "bold", "color": "#1a1a1a"},
                "encoding": {"text": {"field": "text"}},
            },
        ],
    }  # fmt: skip


COUNT_EM = 0.65  # a digit's width, in em, with room to spare (Source Sans: 0.5, DejaVu: 0.64)


def count_font_expr(cm: np.ndarray, most_px: float) -> str:
    """A Vega expression for the counts' font size: ``most_px``, or less when the largest
    count would not fit the width of its cell (``bandwidth('x')``, known only once drawn)."""
    digits = len(str(int(np.abs(cm).max()))) if cm.size else 1
    return f"min({most_px}, (bandwidth('x') - 4) / {COUNT_EM * digits:.2f})"


def confusion_spec(cm: np.ndarray, names: list[str]) -> dict:
    """Vega-Lite heat map with a click selection named ``cell`` over (true, predicted); the
    counts sized to fit their cells (:func:`count_font_expr`), larger in presenter mode."""
    k = len(names)
    long = max(len(n) for n in names) > 2  # Fashion-MNIST: slanted, never dropped or cut
    values = [
        {"true": names[t], "predicted": names[p], "n": int(cm[t, p]), "diag": t == p,
         "ti": t, "pi": p}
        for t in range(k) for p in range(k)
    ]  # fmt: skip
    off = cm.copy()
    np.fill_diagonal(off, 0)
    top = max(int(off.max()), 1)
    return {
        "data": {"values": values},
        "width": "container",  # not Vega-Lite's 20 px a column: room for slanted names
        "height": 430,
        "encoding": {
            "x": {"field": "predicted", "type": "ordinal", "sort": names, "title": "predicted",
                  "axis": {"labelAngle": -45 if long else 0, "labelFontSize": 13,
                           "orient": "bottom" if long else "top",
                           "labelOverlap": False, "labelLimit": 200,
                           "labelAlign": "right" if long else "center"}},
            "y": {"field": "true", "type": "ordinal", "sort": names, "title": "true label",
                  "axis": {"labelFontSize": 13, "labelOverlap": False, "labelLimit": 200}},
        },
        "layer": [
            {
                "params": [{"name": "cell", "select": {"type": "point", "fields": ["ti", "pi"]}}],
                "mark": {"type": "rect", "stroke": "#fff", "strokeWidth": 1.5, "cursor": "pointer"},
                "encoding": {
                    "color": {
                        "condition": {"test": "datum.diag || datum.n == 0", "value": "#eef2f7"},
                        "field": "n", "type": "quantitative",
                        "scale": {"scheme": "oranges", "domain": [0, top]},
                        "title": "mistakes",
                        "legend": {"orient": "bottom", "gradientLength": 200},
                    },
                    "strokeWidth": {"condition": {"param": "cell", "empty": False, "value": 4},
                                    "value": 1},
                    "stroke": {"condition": {"param": "cell", "empty": False,
                                             "value": style.WRONG_COLOR}, "value": "#fff"},
                    "tooltip": [{"field": "true"}, {"field": "predicted"},
                                {"field": "n", "title": "images"}],
                },
            },
            {
                "mark": {"type": "text", "fontSize": {"expr": count_font_expr(
                    cm, 18 if st.session_state.get("presenter") else 14)}},
                "encoding": {
                    "text": {"condition": {"test": "datum.n > 0", "field": "n"}, "value": ""},
                    "color": {"condition": {"test": f"!datum.diag && datum.n > {top * 0.6}",
                                            "value": "white"}, "value": "#333"},
                },
            },
        ],
    }  # fmt: skip


def divergence_spec(names: list[str], series: dict[str, list[float]]) -> dict:
    """The similarity lines: the first series (a correct digit of the true class) in green,
    the second (one of the predicted class) in red, whatever their names' alphabetical order
    (Vega-Lite sorts a nominal domain alphabetically unless the domain is given)."""
    colors = [style.CORRECT_COLOR, style.WRONG_COLOR][: len(series)]
    values = [
        {"layer": n, "step": i, "similarity": v, "compared with": who}
        for who, vals in series.items()
        for i, (n, v) in enumerate(zip(names, vals, strict=False))
    ]
    return {
        "data": {"values": values},
        "height": 280,
        "mark": {"type": "line", "point": True, "strokeWidth": 3},
        "encoding": {
            "x": {"field": "layer", "type": "ordinal", "sort": names, "title": None,
                  "axis": {"labelAngle": -45, "labelOverlap": False, "labelLimit": 400}},
            "y": {"field": "similarity", "type": "quantitative", "title": "cosine similarity",
                  "scale": {"domain": [0, 1]}},
            "color": {"field": "compared with", "type": "nominal",
                      "scale": {"domain": list(series), "range": colors},
                      "legend": {"orient": "bottom", "title": None, "labelLimit": 400}},
            "tooltip": [{"field": "layer"}, {"field": "compared with"},
                        {"field": "similarity", "format": ".3f"}],
        },
    }  # fmt: skip


def heat_table(values: np.ndarray, scale: Scale, fmt: str = "{:.2f}", mark=None) -> str:
    """A small HTML table of numbers coloured by ``scale``; ``mark`` is a boolean mask drawn
    with a thick orange border (the max of a pooling window, the active patch)."""
    rgb = colorize(values, scale)
    rows = []
    for i in range(values.shape[0]):
        cells = []
        for j in range(values.shape[1]):
            r, g, b = rgb[i, j].tolist()
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 128
            border = (
                f"3px solid {style.HIGHLIGHT_COLOR}"
                if mark is not None and mark[i, j]
                else "1px solid #ccc"
            )
            cells.append(
                f"<td style='background:rgb({r},{g},{b});color:{'#fff' if dark else '#111'};"
                f"border:{border};padding:.15em .3em;text-align:right;font-family:monospace;"
                f"font-size:max(.8em, 14px)'>"
                f"{fmt.format(values[i, j])}</td>"
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table style='border-collapse:collapse;margin:.3em 0'>" + "".join(rows) + "</table>"


def to_png_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(rgb)


def colorize_nan(values: np.ndarray, scale: Scale) -> np.ndarray:
    """:func:`colorize`, with NaN cells (padding) drawn in the gap colour."""
    rgb = colorize(np.nan_to_num(values), scale)
    rgb[np.isnan(values)] = GAP_RGB
    return rgb


def outline(rgb: np.ndarray, y: int, x: int, h: int, w: int, width: int = 3) -> np.ndarray:
    """A copy of ``rgb`` with an orange frame around the box (clipped to the picture); the box
    may hang over the border (convolution padding), the frame is drawn where it is visible."""
    out = rgb.copy()
    hl = style.hex_to_rgb(style.HIGHLIGHT_COLOR)
    H, W = out.shape[:2]
    y0, y1, x0, x1 = max(y, 0), min(y + h, H), max(x, 0), min(x + w, W)
    if y0 >= y1 or x0 >= x1:
        return out
    if y >= 0:
        out[y0 : y0 + width, x0:x1] = hl
    if y + h <= H:
        out[y1 - width : y1, x0:x1] = hl
    if x >= 0:
        out[y0:y1, x0 : x0 + width] = hl
    if x + w <= W:
        out[y0:y1, x1 - width : x1] = hl
    return out


def ring(rgb: np.ndarray, y: int, x: int, h: int, w: int, width: int = 2) -> np.ndarray:
    """A copy of ``rgb``, padded by ``2 * width`` on every side, with the box ``(y, x, h, w)``
    ringed just outside its own pixels: white, then black around it, so the ring shows on any
    colour map and the cell keeps its own colour (for one cell of a small map)."""
    pad = 2 * width
    out = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), constant_values=255)
    y, x = y + pad, x + pad
    for grow, colour in ((2 * width, 0), (width, 255)):
        y0, x0, y1, x1 = y - grow, x - grow, y + h + grow, x + w + grow
        out[y0 : y0 + width, x0:x1] = colour
        out[y1 - width : y1, x0:x1] = colour
        out[y0:y1, x0 : x0 + width] = colour
        out[y0:y1, x1 - width : x1] = colour
    return out


def chart(spec: dict, **kwargs):
    """``st.vega_lite_chart`` at the container's width and at the spec's own height (Streamlit
    would otherwise size quantitative axes to its default), scaled for presenter mode, else
    with no text under 14 px."""
    from explainer.app.looks import chart_spec

    spec = chart_spec(spec)
    h = spec.get("height")
    if isinstance(h, int):
        kwargs.setdefault("height", h + 60)  # plot plus axis labels
    return st.vega_lite_chart(spec, width="stretch", **kwargs)

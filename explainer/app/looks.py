"""How the app's pages look: its CSS, presenter mode, and small picture helpers.

Presenter mode (``st.session_state["presenter"]``) is large type for a projector:
:data:`PRESENTER_CSS` scales what Streamlit sizes in rem, :func:`presenter_chart` the charts.
:func:`wrap_row` lays HTML blocks side by side, wrapping; :func:`zoom` and :func:`padded_square`
enlarge small images with sharp pixels.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

# Presenter mode: a 1280×720 projector read from the back of a room. Streamlit sizes text,
# headings, widgets, paddings and its chart theme in rem, so one root font size scales them all
# alike (headings stay the largest, the prediction metric next); what is sized in pixels (the
# sidebar, dataframes, explicit chart fonts through presenter_chart) is scaled here and there.
# Nothing ellipsizes: a label too long for its box wraps instead ("Draw & p…" was unreadable).
PRESENTER_SCALE = 1.375  # 22 px type instead of 16 px
PRESENTER_CSS = """
<style>
html { font-size: 22px; }
.block-container { padding: 0.6rem 1.6rem 3rem 1.6rem !important; max-width: none !important; }
section[data-testid="stSidebar"] { width: 350px !important; min-width: 350px !important;
  max-width: 350px !important; }
[data-testid="stSidebarNav"] [data-testid="stMarkdownContainer"], [data-testid="stMetricValue"],
[data-testid="stMetricValue"] *, [data-testid="stMetricLabel"] *, button p,
[data-testid="stWidgetLabel"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: break-word; }
.cbar .bar { width: 10em; }
.cbar span:not(:last-child) { white-space: nowrap; }
[data-testid="stSidebarHeader"] { height: 2.2rem !important; min-height: 0 !important;
  margin-bottom: 0 !important; }
[data-testid="stSidebarNav"] a { min-height: 0 !important; padding-top: 0 !important;
  padding-bottom: 0 !important; line-height: 1.35 !important; }
[data-testid="stSidebarNavSeparator"] { margin: .3rem 0 !important; }
</style>
"""
BASE_CSS = """
<style>
.block-container { padding-top: 2.2rem; }
/* a markdown element holding only a <style> takes no room (nor the gap after it) */
[data-testid="stElementContainer"]:has(> [data-testid="stMarkdown"] style) { display: none; }
img { image-rendering: pixelated; }
[data-testid="stMarkdownContainer"] code { font-size: max(.75em, 14px); }
[class*="st-key-canvas"] [data-testid="stBidiComponentIsolated"] { clip-path: inset(0); }
.cbar { display:flex; flex-wrap:wrap; align-items:center; gap:.2em .5em;
  font-size:max(.85em, 14px); margin:.2em 0 .8em 0; }
.cbar .bar { height: .9em; width: 14em; border-radius: 3px; border: 1px solid #8884; }
.formula { font-size: 1.15em; }
.sumtable td { padding: .15em .5em; border: none; }
.sumtable { border-collapse: collapse; margin-top: .8em; }
.wraprow { display: flex; flex-wrap: wrap; align-items: center; gap: .4em 1.2em; }
.wraprow .op { font-size: 2em; line-height: 1; }
/* Draw & predict: the canvas, the prediction and the network strip share one wrapping row;
   the strip goes beside them only where all three get their least width (1920×1080) */
[data-testid="stLayoutWrapper"]:has(> .st-key-draw_input) { flex: 1 1 340px !important;
  min-width: 300px; }
[data-testid="stLayoutWrapper"]:has(> .st-key-draw_answer) { flex: 1 1 340px !important;
  min-width: 300px; }
[data-testid="stLayoutWrapper"]:has(> .st-key-draw_strip) { flex: 2 1 670px !important;
  min-width: 670px; }
.st-key-strip_tiles button p { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; }
</style>
"""


def wrap_row(blocks: list[str]) -> None:
    """HTML blocks side by side that wrap onto the next line when the page is too narrow for
    them (a table never runs under its neighbour, as in columns of fixed width); a block of one
    character (an operator: "×", "=") is drawn large."""
    cells = "".join(f"<div class='{'op' if len(b) == 1 else 'blk'}'>{b}</div>" for b in blocks)
    st.markdown(f"<div class='wraprow'>{cells}</div>", unsafe_allow_html=True)


def column_rows(n: int, per_row: int) -> list:
    """``n`` columns laid out ``per_row`` to a row (the last row as wide as the others), so
    that a label never gets a column too narrow for its longest word."""
    cols: list = []
    for start in range(0, n, per_row):
        cols += st.columns(per_row)[: min(per_row, n - start)]
    return cols


def presenter() -> bool:
    return bool(st.session_state.get("presenter"))


_SCALED_CHART_KEYS = ("fontSize", "labelFontSize", "titleFontSize", "labelLimit", "titleLimit")


def presenter_chart(spec: dict) -> dict:
    """A Vega-Lite ``spec`` as the current mode shows it: unchanged normally; in presenter mode
    a copy with its own font sizes, label limits and height scaled by ``PRESENTER_SCALE`` (what
    the spec leaves to Streamlit's chart theme follows the root font size already), and no
    axis label cut short. Every chart of the app goes through it (``visuals.chart``)."""
    if not presenter():
        return spec
    out = _scale_sizes(spec, PRESENTER_SCALE)
    if isinstance(out.get("height"), int | float):
        out["height"] = round(out["height"] * PRESENTER_SCALE)
    config = dict(out.get("config") or {})
    config["axis"] = {"labelLimit": 320, **(config.get("axis") or {})}
    config["legend"] = {"labelLimit": 320, **(config.get("legend") or {})}
    out["config"] = config
    return out


_FONT_KEYS = _SCALED_CHART_KEYS[:3]


def chart_spec(spec: dict) -> dict:
    """A Vega-Lite ``spec`` as the current mode shows it: :func:`presenter_chart` in presenter
    mode, else :func:`readable_chart`."""
    return presenter_chart(spec) if presenter() else readable_chart(spec)


MIN_CHART_PX = 14  # no chart text a learner reads is smaller, in either mode


def readable_chart(spec: dict) -> dict:
    """A Vega-Lite ``spec`` with no text under :data:`MIN_CHART_PX`: its own font sizes raised
    to it, and axes, legends and titles it leaves to the chart theme (12 px) set to it."""
    out = _raise_sizes(spec)
    config = dict(out.get("config") or {})
    floor = {"labelFontSize": MIN_CHART_PX, "titleFontSize": MIN_CHART_PX}
    for part in ("axis", "legend", "header"):
        config[part] = {**floor, **(config.get(part) or {})}
    config["title"] = {"fontSize": MIN_CHART_PX, **(config.get("title") or {})}
    config["text"] = {"fontSize": MIN_CHART_PX, **(config.get("text") or {})}
    out["config"] = config
    return out


def _raise_sizes(node):
    if isinstance(node, dict):
        return {
            k: max(v, MIN_CHART_PX)
            if k in _FONT_KEYS and isinstance(v, int | float) and not isinstance(v, bool)
            else v
            if k in ("data", "datasets")
            else _raise_sizes(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_raise_sizes(v) for v in node]
    return node


def _scale_sizes(node, factor: float):
    if isinstance(node, dict):
        return {
            k: round(v * factor)
            if k in _SCALED_CHART_KEYS and isinstance(v, int | float) and not isinstance(v, bool)
            else v
            if k in ("data", "datasets")  # the points themselves: left alone, unscanned
            else _scale_sizes(v, factor)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_scale_sizes(v, factor) for v in node]
    return node


def zoom(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an ``(H, W)`` or ``(H, W, 3)`` image (sharp pixels)."""
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def padded_square(img: np.ndarray, factor: int = 1) -> np.ndarray:
    """``img`` enlarged ``factor`` times (nearest neighbour), padded to a square with grey
    bars, so equal-width columns never stretch a tall crop."""
    img = zoom(img, factor) if factor > 1 else img
    h, w = img.shape
    n = max(h, w)
    out = np.full((n, n), 0.35, np.float32)
    out[(n - h) // 2 : (n - h) // 2 + h, (n - w) // 2 : (n - w) // 2 + w] = img
    return out

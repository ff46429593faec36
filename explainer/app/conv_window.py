"""The numbers of the Layer-by-layer page's "one output number, by hand" panel, without
Streamlit: every figure from :mod:`explainer.analysis.arith` (the layer's real input, every input
channel of its group, checked against the captured output)."""

from __future__ import annotations

import numpy as np

from explainer.analysis import arith
from explainer.style import HIGHLIGHT_COLOR
from explainer.tracing.trace import Trace


def default_cell(trace: Trace, layer: str, channel: int) -> tuple[int, int]:
    """The output cell the panel opens on: the channel's strongest response."""
    out = trace.layer(layer).output[channel]
    y, x = np.unravel_index(int(np.argmax(out)), out.shape)
    return int(y), int(x)


def conv_window(
    trace: Trace, layer: str, channel: int, row: int, col: int, in_channel: int | None = None
) -> arith.ConvSum:
    """Output ``(channel, row, col)`` of ``layer`` worked out by hand, showing input channel
    ``in_channel`` (default: the one that adds the most), at decimals that add up."""
    cell = arith.conv_cell(trace, layer, channel, row, col)
    shown = None if in_channel is None else cell.in_channels.index(int(in_channel))
    return arith.conv_sum(cell, shown, start=3, most=4)


class Fmt:
    """``arith.fmt`` with ``.format``, for tables that take a format string."""

    def __init__(self, decimals: int) -> None:
        self.decimals = decimals

    def format(self, value: float) -> str:
        return arith.fmt(float(value), self.decimals)


# --- click to compute: the output map as a chart whose cells answer a click ------------------

CLICK = "cell"  # the chart's selection parameter


def click_map_spec(
    trace: Trace, layer: str, channel: int, row: int, col: int, zoom: float = 1.0
) -> dict:
    """Vega-Lite heat map of output ``channel`` of ``layer`` (``(H, W)``, coloured as the
    app's pictures are, :func:`explainer.style.colorize`), one rect per cell with its value on
    hover; a click selects the cell (parameter :data:`CLICK`, fields ``row`` and ``col``); the
    cell ``(row, col)`` worked out below is framed."""
    from explainer.style import colorize, scale_for

    values = trace.layer(layer).output[channel]
    h, w = values.shape
    rgb = colorize(values, scale_for(values, "conv"))
    data = [
        {"row": i, "col": j, "value": float(values[i, j]),
         "fill": "#" + "".join(f"{int(c):02x}" for c in rgb[i, j])}
        for i in range(h) for j in range(w)
    ]  # fmt: skip
    ticks = list(range(0, max(h, w), max(1, -(-max(h, w) // 7))))
    side = round(max(160, min(250, 12 * max(h, w))) * zoom)
    framed = f"datum.row == {int(row)} && datum.col == {int(col)}"
    return {
        "data": {"values": data},
        "width": "container", "height": round(side * h / w),  # presenter_chart scales it
        "params": [{"name": CLICK, "select": {"type": "point", "fields": ["row", "col"]}}],
        "mark": {"type": "rect", "cursor": "pointer"},
        "encoding": {
            "x": {"field": "col", "type": "ordinal", "title": "output column",
                  "axis": {"values": ticks, "labelAngle": 0}},
            "y": {"field": "row", "type": "ordinal", "title": "output row",
                  "axis": {"values": ticks}},
            "color": {"field": "fill", "type": "nominal", "scale": None},
            "stroke": {"condition": {"test": framed, "value": HIGHLIGHT_COLOR}, "value": None},
            "strokeWidth": {"condition": {"test": framed, "value": 3}, "value": 0},
            "tooltip": [{"field": "row"}, {"field": "col"},
                        {"field": "value", "format": ".4f"}],
        },
        "config": {"view": {"stroke": None}},
    }  # fmt: skip


def clicked_cell(state: object) -> tuple[int, int] | None:
    """The ``(row, col)`` a click on :func:`click_map_spec`'s chart selected, from the
    chart's selection state (``{"selection": {"cell": [{"row": .., "col": ..}]}}``), or None."""
    selection = (state or {}).get("selection", {}) if isinstance(state, dict) else None
    if selection is None:
        selection = getattr(state, "selection", None) or {}
    points = (selection or {}).get(CLICK) or []
    if not points or not isinstance(points[0], dict):
        return None
    try:
        return int(points[0]["row"]), int(points[0]["col"])
    except (KeyError, TypeError, ValueError):
        return None


def take_click(chart_key: str, layer: str) -> None:
    """The chart's callback: the clicked cell becomes the one worked out (the page's row and
    column sliders, ``cx_row_<layer>`` and ``cx_col_<layer>``, follow it)."""
    import streamlit as st

    cell = clicked_cell(st.session_state.get(chart_key))
    if cell is not None:
        st.session_state[f"cx_row_{layer}"], st.session_state[f"cx_col_{layer}"] = cell


def path_lines(trace: Trace, layer: str, channel: int, row: int, col: int) -> list[str]:
    """What happens to output ``(channel, row, col)`` of the convolution ``layer`` next, one
    line per record of :func:`explainer.analysis.arith.path_after` (batch norm from running
    statistics, the activation, dropout, the pooling window it falls in), each value checked
    against the record's captured output."""
    value = float(trace.layer(layer).output[channel, row, col])
    lines = [f"{layer}: {arith.fmt(value, 4)}"]
    for rec in arith.path_after(trace, layer):
        if rec.kind == "pool":
            lines.append(_pool_line(trace, rec, channel, row, col, value))
            break
        if rec.kind == "bn":
            value = arith.norm_cell(trace, rec, (channel, row, col)).value
        elif rec.kind == "relu":
            value = arith.activation_value(rec, value)
        arith.check_block(rec, np.array([[value]]), (channel, slice(row, row + 1),
                                                     slice(col, col + 1)))  # fmt: skip
        lines.append(f"{rec.name} ({rec.description}): {arith.fmt(value, 4)}")
    return lines


def _pool_line(trace: Trace, rec, channel: int, row: int, col: int, value: float) -> str:
    """Which pooled cell the value falls in, and whether it is the one passed on."""
    p = rec.params
    if p.get("adaptive") or "kernel_size" not in p:
        return f"{rec.name} ({rec.description}): pooled with its region"
    (kh, kw), (sy, sx), (py, px) = p["kernel_size"], p["stride"], p["padding"]
    _c, oh, ow = rec.output.shape
    hits = [
        (i, j)
        for i in range(oh)
        for j in range(ow)
        if i * sy - py <= row < i * sy - py + kh and j * sx - px <= col < j * sx - px + kw
    ]
    if not hits:
        return f"{rec.name} ({rec.description}): no window covers this cell; it is left out"
    i, j = hits[0]
    pooled = arith.pool_cell(trace, rec, channel, i, j).value
    kept = p.get("mode") == "max" and arith.fmt(pooled, 4) == arith.fmt(value, 4)
    how = (
        "it is the largest of its window and passes on"
        if kept
        else ("the window's largest wins" if p.get("mode") == "max" else "the window's average")
    )
    return f"{rec.name} ({rec.description}): cell ({i}, {j}) = {arith.fmt(pooled, 4)}; {how}"


def click_to_pick(trace: Trace, layer: str, channel: int) -> None:
    """The output map of ``channel`` as a chart: click a cell to work it out below (the row
    and column sliders follow), with what happens to that number next."""
    from functools import partial

    import streamlit as st

    from explainer.app import looks

    key = f"cx_click_{layer}_{channel}"
    row = int(st.session_state.get(f"cx_row_{layer}", default_cell(trace, layer, channel)[0]))
    col = int(st.session_state.get(f"cx_col_{layer}", default_cell(trace, layer, channel)[1]))
    left, right = st.columns([1, 1.2], gap="large")
    with left:
        st.markdown(f"**Click any cell** of filter {channel}'s output map to work it out:")
        spec = looks.chart_spec(click_map_spec(trace, layer, channel, row, col))
        st.vega_lite_chart(spec, on_select=partial(take_click, key, layer), key=key,
                           selection_mode=CLICK, width="stretch")  # fmt: skip
    with right:
        st.markdown(f"**Cell ({row}, {col}), then what happens to it:**")
        try:
            lines = path_lines(trace, layer, channel, row, col)
        except arith.ArithMismatch as exc:
            st.error(str(exc))
            return
        st.markdown("  \n".join(f"{'→ ' if k else ''}{line}" for k, line in enumerate(lines)))

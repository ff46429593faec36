"""Page 2, Layer by layer: the lesson. Previous / Next through the network on the current
digit; every layer explained in plain words, with its real numbers. Every hand computation
comes from :mod:`explainer.app.layer_views` (explainer.analysis.arith), checked against the layer's
captured
output when the panel is built; a mismatch shows one error line instead of numbers."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import streamlit as st

from explainer.analysis import arith
from explainer.analysis.arith import ArithMismatch, fmt
from explainer.app import conv_window, digits, looks, model_choice, verdict, visuals
from explainer.app import layer_views as lv
from explainer.errors import ExplainerError
from explainer.style import scale_for
from explainer.text import markdown_safe
from explainer.tracing.blocks import Block, block_of_record, blocks_of, by_blocks
from explainer.tracing.trace import LayerRecord, Trace


def shape_in(trace: Trace, r: LayerRecord) -> str:
    """``"8×28×28"``, or ``"8×28×28 + 8×28×28"`` for a record that reads several tensors."""
    values = trace.inputs_of(r) if r.inputs else [trace.model_input]
    return " + ".join("×".join(map(str, v.shape)) for v in values)


def show_maps(key: str, values: np.ndarray, kind: str, title: str, cell: int) -> None:
    """All channels as one mosaic (cached under ``key``) and its colour bar."""
    sc = scale_for(values, kind)
    st.image(visuals.cached_mosaic(f"{key}|{kind}|{cell}", values, sc, cell), caption=title)
    label = "weight (blue < 0 < red)" if kind == "kernel" else None
    st.markdown(visuals.colorbar_html(sc, label=label), unsafe_allow_html=True)


def show_vector(values: np.ndarray, names: list[str] | None = None, title: str = "") -> None:
    """A vector as bars (up to 64 values), or as a coloured strip when it is long."""
    if len(values) <= 64:
        labels = (
            names if names and len(names) == len(values) else [str(i) for i in range(len(values))]
        )
        data = [{"i": n, "v": float(v)} for n, v in zip(labels, values, strict=False)]
        spec = {
            "data": {"values": data},
            "mark": "bar",
            "height": 220,
            "encoding": {
                "x": {"field": "i", "type": "nominal", "sort": None, "title": title or "unit"},
                "y": {"field": "v", "type": "quantitative", "title": "value"},
                "color": {
                    "condition": {"test": "datum.v < 0", "value": "#4a7fc1"},
                    "value": "#d0504a",
                },
                "tooltip": [{"field": "i"}, {"field": "v", "format": ".3f"}],
            },
        }
        visuals.chart(spec)
        return
    sc = scale_for(values, "auto")
    cols = 48
    rows = int(np.ceil(len(values) / cols))
    grid = np.full(rows * cols, np.nan, np.float32)
    grid[: len(values)] = values
    rgb = visuals.colorize_nan(grid.reshape(rows, cols), sc)
    st.image(visuals.upscale(rgb, 12), caption=f"{len(values)} values, {cols} per row, in order")
    st.markdown(visuals.colorbar_html(sc), unsafe_allow_html=True)


# --- interactive panels ------------------------------------------------------------------------


@st.fragment
def conv_explorer(trace: Trace, i: int) -> None:
    """Pick an output cell: its window on the layer's real input, the kernel, the products,
    what every other input channel adds, the bias (all from explainer.analysis.arith, checked)."""
    r = trace.layers[i]
    if r.weight is None or not r.is_spatial:
        return
    cout = r.weight.shape[0]
    kh, kw = r.weight.shape[2:]
    _, oh, ow = r.output.shape
    st.markdown("#### One output number, by hand")
    c1, c2, c3, c4 = st.columns(4)
    ch = int(c1.number_input("filter (output channel)", 0, cout - 1, 0, key=f"cx_ch_{r.name}"))
    conv_window.click_to_pick(trace, r.name, ch)  # click a cell: the sliders below follow it
    dy, dx = conv_window.default_cell(trace, r.name, ch)  # the first time; then the cell
    row = c2.slider("output row", 0, oh - 1, dy, key=f"cx_row_{r.name}")  # stays where it is
    col = c3.slider("output column", 0, ow - 1, dx, key=f"cx_col_{r.name}")  # for every filter
    best = worked(conv_window.conv_window, trace, r.name, ch, row, col)
    if best is None:
        return
    group = best.cell.in_channels
    ci = c4.selectbox("input channel shown", group, index=best.shown, key=f"cx_in_{r.name}_{ch}")
    cs = worked(conv_window.conv_window, trace, r.name, ch, row, col, ci)
    if cs is None:
        return
    x = trace.inputs_of(r)[0]
    left, right = st.columns([1, 1.6], gap="large")
    with left:
        sc = scale_for(x[ci], "auto")
        f = visuals.fit_factor(max(x.shape[1:]), 240)
        ddy, ddx = arith.conv_geometry(r)[2]
        span = ((kh - 1) * ddy + 1) * f, ((kw - 1) * ddx + 1) * f
        rgb = visuals.upscale(visuals.colorize(x[ci], sc), f)
        big = visuals.outline(rgb, cs.cell.rows[0] * f, cs.cell.cols[0] * f, *span)
        st.image(big, caption=f"{r.inputs[0]}, channel {ci}: the window of output ({row}, {col})")
        st.markdown(visuals.colorbar_html(sc, "input"), unsafe_allow_html=True)
    fmt = conv_window.Fmt(cs.decimals)
    looks.wrap_row([  # window × kernel = products, wrapping when they do not fit in one line
        f"<b>window</b> ({html.escape(r.inputs[0])}, channel {ci})"
        + visuals.heat_table(cs.patch, scale_for(cs.patch, "auto"), fmt),
        "×",
        f"<b>kernel</b> (filter {ch}, input channel {ci})"
        + visuals.heat_table(cs.kernel, scale_for(cs.kernel, "kernel"), fmt),
        "=",
        f"<b>the {kh * kw} products</b>"
        + visuals.heat_table(cs.products, scale_for(cs.products, "auto"), fmt),
    ])  # fmt: skip
    with right:
        _window_sum(r, cs, ch, row, col)


def _window_sum(r: LayerRecord, cs: arith.ConvSum, ch: int, row: int, col: int) -> None:
    """The output map with the cell framed, and the written sum."""
    st.markdown(
        "Every number a convolution outputs is made the same way: lay the kernel on a window "
        "of every input channel, multiply cell by cell, add it all up, add the bias. The "
        "framed window on the left becomes the framed cell here:"
    )
    out_map = r.output[ch]
    osc = scale_for(out_map, "conv")
    fo = visuals.fit_factor(max(out_map.shape), 240)
    small = visuals.ring(visuals.upscale(visuals.colorize(out_map, osc), fo),
                         row * fo, col * fo, fo, fo, width=max(2, fo // 3))  # fmt: skip
    st.image(small, caption=f"output map of filter {ch}")
    lines = arith.conv_sum_lines(cs)
    body = "".join(
        f"<tr><td>{words}</td><td style='text-align:right;font-family:monospace'>{num}</td></tr>"
        for words, num in lines[:-1]
    )
    words, num = lines[-1]
    body += (
        f"<tr style='border-top:2px solid #888'><td><b>{words} of filter {ch}</b></td>"
        f"<td style='text-align:right;font-family:monospace'><b>{num}</b></td></tr>"
    )
    st.markdown(f"<table class='sumtable'>{body}</table>", unsafe_allow_html=True)
    note = (
        "The written figures add up exactly."
        if cs.exact
        else f"Figures rounded to {cs.decimals} decimals; the sum uses the exact values."
    )
    real = arith.fmt(cs.cell.captured, cs.decimals)
    st.caption(f"{note} The layer's real output there: {real} (checked: the same).")


T = TypeVar("T")

# --- the panels: every number from explainer.app.layer_views (explainer.analysis.arith), checked
# -----------


def worked(build: Callable[..., T], *args: object) -> T | None:
    """``build(*args)``, the numbers of a panel, checked against the captured output; on a
    mismatch one error line and no numbers, on a record not worked by hand a short note."""
    try:
        return build(*args)
    except ArithMismatch as exc:
        st.error(str(exc))
    except ExplainerError as exc:
        st.caption(f"Not worked out by hand here: {exc}")
    return None


def _table(values: np.ndarray, decimals: int, mark=None, m: float | None = None) -> str:
    return visuals.heat_table(values, scale_for(values, "auto", m), conv_window.Fmt(decimals),
                              mark=mark)  # fmt: skip


def relu_panel(trace: Trace, r: LayerRecord) -> None:
    v = worked(lv.activation_view, trace, r)
    if v is None:
        return
    name = arith.activation_name(r)
    if name in ("relu", "relu6"):
        title = f"{v.negative:.0%} of the values were negative and became 0"
    else:
        title = f"{r.description} on real numbers ({v.negative:.0%} of the inputs are negative)"
    st.markdown(f"#### {title}")
    where = "8 of its values (the most negative and the most positive)"
    if len(v.index) == 3:
        ch, ys, xs = v.index
        where = f"channel {ch}, rows {ys.start}–{ys.stop - 1}, columns {xs.start}–{xs.stop - 1}"
        where += f" (on {v.grid.name}'s grid)" if v.grid is not None else ""
    a, b = st.columns(2)
    m = float(max(np.abs(v.before).max(), 1e-6))
    with a:
        st.markdown(f"**before**: {lv.reads(r)}, {where}")
        st.markdown(_table(v.before, 3, v.before < 0, m), unsafe_allow_html=True)
    with b:
        st.markdown(f"**after** {v.formula}: framed cells were negative")
        st.markdown(_table(v.after, 3, v.before < 0, m), unsafe_allow_html=True)
    st.caption("Figures rounded to 3 decimals; checked against the layer's own output.")


def pool_panel(trace: Trace, r: LayerRecord) -> None:
    v = worked(lv.pool_view, trace, r)
    if v is None:
        return
    c = v.cell
    how = "maximum" if c.mode == "max" else "average"
    st.markdown(f"#### Pooling on real numbers (channel {c.channel}, its strongest output cell)")
    a, b = st.columns(2)
    with a:
        ry, rx = v.region_at
        st.markdown(f"**input** ({lv.reads(r)}, from row {ry}, column {rx}): the window of "
                    f"output ({c.y}, {c.x}) and its {how} are framed")  # fmt: skip
        if v.region.size <= 64:
            st.markdown(_table(v.region, v.decimals, v.mark), unsafe_allow_html=True)
    with b:
        st.markdown(f"**output** cells on the network's own grid ({v.block.shape[0]}×"
                    f"{v.block.shape[1]})")  # fmt: skip
        st.markdown(_table(v.block, v.decimals), unsafe_allow_html=True)
    st.markdown(f"output ({c.y}, {c.x}) = {v.formula()}")
    note = "" if v.exact else f" Figures rounded to {v.decimals} decimals."
    st.caption(f"Checked against the layer's own output.{note}")


def bn_panel(trace: Trace, r: LayerRecord) -> None:
    v = worked(lv.norm_view, trace, r)
    if v is None:
        return
    at = ", ".join(str(i) for i in v.index)
    st.markdown(f"#### Batch norm on a real number (channel {v.cell.channel}, position ({at}))")
    st.markdown("  \n".join(v.lines()))
    note = "The written figures give the written result." if v.exact else (
        f"Figures rounded to {v.decimals} decimals; each step uses the exact values.")  # fmt: skip
    st.caption(f"{note} μ and σ² are the running statistics learned in training; checked "
               "against the layer's own output.")  # fmt: skip


def normalize_panel(trace: Trace, r: LayerRecord) -> None:
    v = worked(lv.normalize_view, trace, r)
    if v is None:
        return
    parts = [
        f"{what}: ({fmt(x, 3)} − {fmt(v.mean, 4)}) / {fmt(v.std, 4)} = **{fmt(y, 3)}**"
        for what, (x, y) in zip(("darkest pixel", "brightest pixel"), v.pixels, strict=True)
    ]
    st.markdown("; ".join(parts))


def linear_panel(trace: Trace, r: LayerRecord) -> None:
    v = worked(lv.dense_view, trace, r)
    if v is None:
        return
    row, d = v.row, v.decimals
    st.markdown(f"#### z = W·x + b for **{v.name}**, the {len(row.inputs)} products summed")
    body = [
        f"<tr><td>input {int(j)}</td><td>{fmt(row.weights[j], d)} × {fmt(row.inputs[j], d)}"
        f"</td><td style='text-align:right;font-family:monospace'>{lv.plus(row.products[j], d)}"
        "</td></tr>"
        for j in v.top
    ]
    rest = len(row.inputs) - len(v.top)
    for words, value in ((f"the other {rest} products", v.rest), ("bias", row.bias)):
        body.append(f"<tr><td colspan=2>{words}</td><td style='text-align:right;"
                    f"font-family:monospace'>{lv.plus(value, d)}</td></tr>")  # fmt: skip
    body.append(f"<tr style='border-top:2px solid #888'><td colspan=2><b>= z for {v.name}</b>"
                f"</td><td style='text-align:right;font-family:monospace'><b>"
                f"{fmt(row.value, d)}</b></td></tr>")  # fmt: skip
    st.markdown(f"<table class='sumtable'>{''.join(body)}</table>", unsafe_allow_html=True)
    note = "The written terms add up exactly" if v.exact else (
        f"Figures rounded to {d} decimals; the sum uses the exact values")  # fmt: skip
    st.caption(f"{note} (weights and inputs are rounded too; each product is of the exact "
               "values). Checked against the layer's own output.")  # fmt: skip
    if r is trace.layers[-1] and r.output.shape == trace.logits.shape:
        softmax_panel(trace, None)


def softmax_panel(trace: Trace, r: LayerRecord | None) -> None:
    v = worked(lv.softmax_view, trace, r)
    if v is None:
        return
    sm, d = v.softmax, v.decimals
    k = int(np.argmax(sm.probs))
    names = trace.class_names if len(trace.class_names) == len(sm.probs) else None
    who = names[k] if names else str(k)
    st.markdown("#### Softmax turns the scores into probabilities")
    t = sm.temperature
    if t == 1.0:
        formula, exp_head = (
            r"$p_k = \dfrac{e^{z_k - \max z}}{\sum_j e^{z_j - \max z}}$",
            "e^(z − max)",
        )
    else:  # calibrated: every score is divided by the temperature first
        formula = (r"$p_k = \dfrac{e^{s_k - \max s}}{\sum_j e^{s_j - \max s}}$ with "
                   rf"$s = z / T$, $T = {t:.3f}$ (the calibration temperature: it tones "
                   "an over-sure network down without changing its answer)")  # fmt: skip
        exp_head = "e^(s − max)"
    st.markdown(
        f"{formula} — for **{who}**: {fmt(sm.shifted_exp[k], d)} / {fmt(sm.total, d)} = "
        f"**{arith.confidence_text(float(sm.probs[k]))}**"
    )
    rows = [
        {"class": names[i] if names else str(i), "score z": fmt(z, 3),
         **({} if t == 1.0 else {"s = z / T": fmt(s, 3)}),
         exp_head: fmt(e, d), "probability": float(p)}
        for i, (z, s, e, p) in enumerate(
            zip(sm.logits, sm.scaled, sm.shifted_exp, sm.probs, strict=True))
    ]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", column_config={
        "probability": st.column_config.ProgressColumn(
            "probability", format="percent", min_value=0.0, max_value=1.0)})  # fmt: skip
    note = "the written e^(z − max) add up to the written Σ" if v.exact else (
        f"figures rounded to {d} decimals")  # fmt: skip
    st.caption(f"Computed from {lv.reads(r) if r else 'the logits'}; {note}; checked against "
               "the network's own probabilities.")  # fmt: skip


def elementwise_panel(trace: Trace, r: LayerRecord) -> None:
    v = worked(lv.elementwise_view, trace, r)
    if v is None:
        return
    ew, d = v.ew, v.decimals
    a, b = ew.operands
    st.markdown(f"#### {a} {ew.op} {b}, at its {len(ew.cells)} largest outputs")
    body = "".join(
        f"<tr><td>{idx}</td><td style='font-family:monospace'>{fmt(x, d)} {ew.op} {lv.paren(y, d)}"
        f" = <b>{fmt(o, d)}</b></td></tr>"
        for idx, x, y, o in ew.cells
    )
    st.markdown(f"<table class='sumtable'><tr><td>position</td><td>{a} {ew.op} {b}</td></tr>"
                f"{body}</table>", unsafe_allow_html=True)  # fmt: skip
    note = "the written figures add up" if v.exact else f"figures rounded to {d} decimals"
    st.caption(f"Every position is done the same way; {note}; checked against the output.")


def concat_panel(trace: Trace, r: LayerRecord) -> None:
    parts = worked(lv.concat_view, trace, r)
    if parts:
        st.markdown("  \n".join(parts))
        st.caption("Checked: each input appears unchanged in its part of the output.")


def flatten_panel(trace: Trace, r: LayerRecord, shape_in: str) -> None:
    n = int(np.prod(trace.inputs_of(r)[0].shape))
    st.markdown(f"**{shape_in} = {n} numbers** → {r.shape_text}.")
    got = worked(lv.flatten_view, trace, r)
    if got is not None:
        k, src, value = got
        at = ", ".join(str(i) for i in src)
        st.markdown(f"For example value #{k} of the output is {lv.reads(r)}[{at}] = "
                    f"{fmt(value, 3)}: the same number, moved.")  # fmt: skip


def record_panel(trace: Trace, r: LayerRecord, shape_in: str) -> None:
    """The worked numbers of record ``r`` (the conv explorer is drawn by the page)."""
    panels = {"relu": relu_panel, "pool": pool_panel, "bn": bn_panel, "linear": linear_panel,
              "normalize": normalize_panel, "add": elementwise_panel, "mul": elementwise_panel,
              "concat": concat_panel, "softmax": softmax_panel}  # fmt: skip
    if r.kind == "flatten":
        flatten_panel(trace, r, shape_in)
    elif r.kind in panels:
        panels[r.kind](trace, r)


# --- the page ----------------------------------------------------------------------------------

ckpt = model_choice.current_model()
digit = digits.current_digit()
trace = digits.trace_for(ckpt, digit)
mkey = model_choice.model_key(ckpt)
n = len(trace.layers)
big = looks.presenter()

st.title("Layer by layer")
verdict.say_first(ckpt, digit, trace.probs, trace.class_names)  # said first, when flagged
st.caption(
    f"**{markdown_safe(ckpt.name)}** reading {markdown_safe(digit.source)}: "
    f"prediction **{markdown_safe(trace.predicted_name)}** "
    f"({arith.confidence_text(trace.confidence)}). Step through every layer with the real numbers."
)

if st.session_state.get("layer_step", 0) >= n:
    st.session_state["layer_step"] = 0


def _go(delta: int) -> None:
    st.session_state["layer_step"] = int(
        np.clip(st.session_state.get("layer_step", 0) + delta, 0, n - 1)
    )


def _block_changed(trace: Trace, blocks: list[Block]) -> None:
    """A block picked: open its first layer."""
    chosen = next(b for b in blocks if b.name == st.session_state["layer_block"])
    st.session_state["layer_step"] = trace.names().index(chosen.records[0])


def block_picker(trace: Trace, blocks: list[Block]) -> list[int]:
    """A big network's block chooser (it follows the layer shown, however it was reached);
    the indices of the chosen block's layers."""
    current = trace.layers[st.session_state.get("layer_step", 0)].name
    holder = block_of_record(blocks, current)
    if st.session_state.get("layer_block") != holder.name:
        st.session_state["layer_block"] = holder.name
    st.selectbox(
        f"Block ({len(blocks)} blocks of {len(trace.layers)} layers)",
        [b.name for b in blocks],
        key="layer_block",
        on_change=_block_changed,
        args=(trace, blocks),
        format_func=lambda name: _block_words(next(b for b in blocks if b.name == name)),
    )
    if holder.skip is not None:
        through = ", ".join(holder.skip.through) or "none: it carries the input itself"
        st.caption(f"A residual block: its skip adds {holder.input} back at "
                   f"{holder.skip.join}; layers on the skip: {through}.")  # fmt: skip
    index = {name: k for k, name in enumerate(trace.names())}
    return [index[name] for name in holder.records]


def _block_words(b: Block) -> str:
    what = (
        "residual block"
        if b.skip
        else {"stem": "first layers", "head": "to the scores"}.get(b.role, "block")
    )
    return f"{b.name} — {what}, {len(b)} layer{'s' if len(b) != 1 else ''}"


shown = block_picker(trace, blocks_of(trace)) if by_blocks(trace) else list(range(n))
b1, b2, b3 = st.columns([1, 4, 1], vertical_alignment="bottom")
b1.button(
    "◀ Previous",
    on_click=_go,
    args=(-1,),
    disabled=st.session_state.get("layer_step", 0) == 0,
    width="stretch",
)
step = b2.selectbox(
    "Layer",
    shown,
    key="layer_step",
    format_func=lambda k: f"{k + 1}/{n} · {trace.layers[k].name} — {trace.layers[k].description}",
    label_visibility="collapsed",
)
b3.button("Next ▶", on_click=_go, args=(1,), disabled=step >= n - 1, width="stretch")

r = trace.layers[step]
text_in = shape_in(trace, r)
desc = f" · {r.description}" if r.description != r.kind else ""
st.header(f"{r.name}{desc}")
c_text, c_shape = st.columns([3, 1.2])
c_text.markdown(lv.explain(r))
c_shape.markdown(
    f"<div style='font-size:.9em;opacity:.7'>shape in → out</div>"
    f"<div style='font-size:1.6em;font-weight:600'>{text_in} → {r.shape_text}</div>"
    f"<div style='font-size:.9em;opacity:.7'>reads {lv.reads(r)}</div>",
    unsafe_allow_html=True,
)

cell = 110 if big else 76
if r.kind == "normalize":
    record_panel(trace, r, text_in)
if r.is_spatial:
    kind = "relu" if r.kind in ("relu", "pool") and r.output.min() >= 0 else r.kind
    show_maps(
        f"{mkey}|{digit.key}|{r.name}",
        r.output,
        kind,
        f"the {r.shape[0]} output feature maps, on one colour scale"
        if r.shape[0] > 1
        else "the output, as an image",
        cell,
    )
elif r.output.ndim == 1 and r.output.shape == trace.logits.shape and step == n - 1:
    what = "class score (logit)" if r.kind == "linear" else f"{r.description} of each class"
    show_vector(r.output, trace.class_names, what)
elif r.output.ndim == 1:
    show_vector(r.output, None, "output unit")
elif r.output.ndim == 0:  # one value for the whole image (x.amax(), x.mean() in forward)
    st.metric(f"{r.name}: one value for the whole image", f"{float(r.output):.4g}")

if r.kind == "conv" and r.weight is not None and r.weight.ndim == 4:
    cout, cin, kh, kw = r.weight.shape
    st.subheader(f"The {cout} learned {kh}×{kw} kernels")
    ci = 0
    if cin > 1:
        ci = st.slider("input channel the kernels look at", 0, cin - 1, 0, key=f"kin_{r.name}")
    show_maps(
        f"{mkey}|{r.name}|w{ci}",
        r.weight[:, ci],
        "kernel",
        f"each filter's {kh}×{kw} weights for input channel {ci} (of {cin})",
        90 if big else 64,
    )
    conv_explorer(trace, step)
elif r.kind != "normalize":
    record_panel(trace, r, text_in)

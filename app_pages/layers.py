"""Page 2, Layer by layer: the lesson. Previous / Next through the network on the current
digit; every layer explained in plain words, with its real numbers."""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_pages import common, conv_window, visuals
from explainer import arith
from explainer.style import scale_for
from explainer.trace import LayerRecord, Trace


def explain(r: LayerRecord) -> str:
    """Two or three plain sentences about what layer ``r`` does, with its real settings."""
    p = r.params
    if r.kind == "normalize":
        return (
            f"Shifts and scales every pixel: (x − {p.get('mean', 0):.4f}) / {p.get('std', 1):.4f}, "
            "the mean and spread of the training images. Background pixels become slightly "
            "negative, ink clearly positive, so the network starts from centred numbers."
        )
    if r.kind == "conv":
        k = p.get("kernel_size", [3, 3])
        cin, cout = p.get("in_channels"), p.get("out_channels")
        return (
            f"Slides {cout} small {k[0]}×{k[1]} filters over the image. Each filter multiplies "
            f"a {k[0]}×{k[1]} window of all {cin} input channel(s) by its weights and adds them "
            f"up (plus a bias), producing one feature map per filter: bright where the "
            "window looks like the filter (an edge, a stroke end, a curve)."
            + (
                f" The window jumps {p['stride'][0]} pixels at a time (stride {p['stride'][0]}),"
                " so the maps come out smaller than the input."
                if max(p.get("stride", [1])) > 1
                else ""
            )
        )
    if r.kind == "bn":
        return (
            "Batch normalisation: every channel is shifted and rescaled with statistics "
            "learned during training, γ·(x − μ)/√(σ² + ε) + β. It keeps the numbers in a "
            "healthy range so the next layers train faster; it does not mix channels."
        )
    if r.kind == "relu":
        return (
            "ReLU keeps positive values and replaces every negative value by zero: "
            "max(0, x). This bend is what lets a stack of layers learn more than one big "
            "linear formula. Black cells below are the zeros it created."
        )
    if r.kind == "pool":
        k = p.get("kernel_size", [2, 2])
        return (
            f"{p.get('mode', 'max').capitalize()} pooling keeps one number per {k[0]}×{k[1]} "
            "window: the strongest response. The maps shrink, so later layers see a wider "
            "part of the digit and a small shift of the pen barely matters."
        )
    if r.kind == "dropout":
        return (
            f"Dropout switches off a random {p.get('p', 0):.0%} of the values while training, "
            "so the network cannot rely on any single one. At prediction time it does "
            "nothing: output = input."
        )
    if r.kind == "flatten":
        return (
            "Flatten lays every number of the feature maps out in one long row (channel by "
            "channel, row by row). Nothing is computed; from here on, position is just an "
            "index, and dense layers connect everything to everything."
        )
    if r.kind == "linear":
        return (
            f"A dense layer: each of its {p.get('out_features')} outputs is a weighted sum of "
            f"all {p.get('in_features')} inputs plus a bias, z = W·x + b. The weights are "
            "what training learned; a large positive weight means ‘this input is evidence "
            "for me’."
        )
    return "A layer of a kind this page does not explain in detail; its output is shown below."


def layer_input(trace: Trace, i: int) -> np.ndarray:
    """What layer ``i`` received: the output of the record its ``inputs`` name (the first
    one, for additions and concatenations; the model's input for ``"input"``)."""
    r = trace.layers[i]
    return trace.inputs_of(r)[0] if r.inputs else trace.model_input


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
    what every other input channel adds, the bias (all from explainer.arith, checked)."""
    r = trace.layers[i]
    if r.weight is None or not r.is_spatial:
        return
    cout = r.weight.shape[0]
    kh, kw = r.weight.shape[2:]
    _, oh, ow = r.output.shape
    st.markdown("#### One output number, by hand")
    c1, c2, c3, c4 = st.columns(4)
    ch = int(c1.number_input("filter (output channel)", 0, cout - 1, 0, key=f"cx_ch_{r.name}"))
    dy, dx = conv_window.default_cell(trace, r.name, ch)
    row = c2.slider("output row", 0, oh - 1, dy, key=f"cx_row_{r.name}_{ch}")
    col = c3.slider("output column", 0, ow - 1, dx, key=f"cx_col_{r.name}_{ch}")
    best = conv_window.conv_window(trace, r.name, ch, row, col)
    group = best.cell.in_channels
    ci = c4.selectbox("input channel shown", group, index=best.shown, key=f"cx_in_{r.name}_{ch}")
    cs = conv_window.conv_window(trace, r.name, ch, row, col, ci)
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
    t1, op1, t2, op2, t3 = st.columns([5, 0.5, 5, 0.5, 5], vertical_alignment="center")
    t1.markdown(f"**window** ({r.inputs[0]}, channel {ci})")
    t1.markdown(
        visuals.heat_table(cs.patch, scale_for(cs.patch, "auto"), fmt), unsafe_allow_html=True
    )
    op1.markdown("<div style='font-size:2em;text-align:center'>×</div>", unsafe_allow_html=True)
    t2.markdown(f"**kernel** (filter {ch}, input channel {ci})")
    t2.markdown(visuals.heat_table(cs.kernel, scale_for(cs.kernel, "kernel"), fmt),
                unsafe_allow_html=True)  # fmt: skip
    op2.markdown("<div style='font-size:2em;text-align:center'>=</div>", unsafe_allow_html=True)
    t3.markdown(f"**the {kh * kw} products**")
    t3.markdown(visuals.heat_table(cs.products, scale_for(cs.products, "auto"), fmt),
                unsafe_allow_html=True)  # fmt: skip
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
    fo = visuals.fit_factor(max(out_map.shape), 150)
    small = visuals.outline(visuals.upscale(visuals.colorize(out_map, osc), fo),
                            row * fo, col * fo, fo, fo, width=2)  # fmt: skip
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


def _hot_cell(values: np.ndarray) -> tuple[int, int, int]:
    _c, h, w = values.shape
    idx = int(np.argmax(np.abs(values)))
    return int(idx // (h * w)), int((idx // w) % h), int(idx % w)


def relu_panel(trace: Trace, i: int) -> None:
    r = trace.layers[i]
    x = layer_input(trace, i)
    if x.ndim == 3:
        neg = (x < 0).mean()
        ch = int(np.argmax((x < 0).sum(axis=(1, 2)) * (x > 0).any(axis=(1, 2))))
        _, h, w = x.shape
        y0, x0 = max(0, h // 2 - 3), max(0, w // 2 - 3)
        before = x[ch, y0 : y0 + 6, x0 : x0 + 6]
        after = r.output[ch, y0 : y0 + 6, x0 : x0 + 6]
    else:
        neg = (x < 0).mean()
        ch, before, after = 0, x[None, :8], r.output[None, :8]
    st.markdown(f"#### ReLU on real numbers: {neg:.0%} of the values were negative and became 0")
    a, b = st.columns(2)
    m = float(max(np.abs(before).max(), 1e-6))
    with a:
        st.markdown(f"**before** (channel {ch}, a window from the middle)")
        st.markdown(
            visuals.heat_table(before, scale_for(before, "auto", m), mark=before < 0),
            unsafe_allow_html=True,
        )
    with b:
        st.markdown("**after** max(0, x): framed cells were negative")
        st.markdown(
            visuals.heat_table(after, scale_for(after, "auto", m), mark=before < 0),
            unsafe_allow_html=True,
        )


def pool_panel(trace: Trace, i: int) -> None:
    r = trace.layers[i]
    x = layer_input(trace, i)
    if x.ndim != 3 or r.output.ndim != 3:
        return
    k = r.params.get("kernel_size", [2, 2])
    s = r.params.get("stride", k)
    ch, row, col = _hot_cell(r.output)
    y0, x0 = max(0, (row - 1) * s[0]), max(0, (col - 1) * s[1])
    region = x[ch, y0 : y0 + 3 * s[0], x0 : x0 + 3 * s[1]]
    win = x[ch, row * s[0] : row * s[0] + k[0], col * s[1] : col * s[1] + k[1]]
    mark = np.zeros_like(region, bool)
    wy, wx = row * s[0] - y0, col * s[1] - x0
    mark[wy : wy + k[0], wx : wx + k[1]] = region[wy : wy + k[0], wx : wx + k[1]] == win.max()
    st.markdown(f"#### Pooling on real numbers (channel {ch}, its strongest output cell)")
    a, b = st.columns(2)
    sc = scale_for(region, "auto")
    with a:
        st.markdown(f"**input**: the {k[0]}×{k[1]} window's maximum is framed")
        st.markdown(visuals.heat_table(region, sc, mark=mark), unsafe_allow_html=True)
    with b:
        st.markdown("**output** cell")
        st.markdown(
            f"max({', '.join(f'{v:.2f}' for v in win.ravel())}) = "
            f"**{float(r.output[ch, row, col]):.3f}**"
        )


def bn_panel(ckpt, trace: Trace, i: int) -> None:
    r = trace.layers[i]
    try:
        m = ckpt.model.get_submodule(r.name)
    except AttributeError:
        return
    x = layer_input(trace, i)
    ch, row, col = (
        _hot_cell(r.output) if r.output.ndim == 3 else (int(np.argmax(r.output)), None, None)
    )
    xv = float(x[ch, row, col]) if row is not None else float(x[ch])
    yv = float(r.output[ch, row, col]) if row is not None else float(r.output[ch])
    mu, var = float(m.running_mean[ch]), float(m.running_var[ch])
    g = float(m.weight[ch].detach()) if m.weight is not None else 1.0
    beta = float(m.bias[ch].detach()) if m.bias is not None else 0.0
    st.markdown(f"#### Batch norm on a real number (channel {ch})")
    st.markdown(
        f"γ·(x − μ)/√(σ² + ε) + β = {g:.3f}·({xv:.3f} − {mu:.3f})/√({var:.3f} + {m.eps:g})"
        f" + {beta:.3f} = **{yv:.3f}**"
    )


def normalize_panel(trace: Trace) -> None:
    r = trace.layers[0]
    mean, std = r.params.get("mean", 0.0), r.params.get("std", 1.0)
    ink = float(trace.image.max())
    st.markdown(
        f"Background pixel: (0 − {mean:.4f}) / {std:.4f} = **{(0 - mean) / std:.3f}**; "
        f"brightest ink: ({ink:.2f} − {mean:.4f}) / {std:.4f} = "
        f"**{(ink - mean) / std:.3f}**"
    )


def linear_panel(trace: Trace, i: int) -> None:
    r = trace.layers[i]
    x = layer_input(trace, i).ravel()
    w, b = r.weight, r.bias
    last = i == max(j for j, q in enumerate(trace.layers) if q.kind == "linear")
    unit = trace.prediction if last else int(np.argmax(r.output))
    if w is None:
        return
    terms = w[unit] * x
    top = np.argsort(-np.abs(terms))[:6]
    name = trace.class_names[unit] if last else f"unit {unit}"
    st.markdown(f"#### z = W·x + b for **{name}**, the {len(x)} products summed")
    parts = " ".join(
        f"{'+' if terms[j] >= 0 else '−'} {abs(w[unit, j]):.2f}·{x[j]:.2f}" for j in top
    )
    bias = float(b[unit]) if b is not None else 0.0
    st.markdown(
        f"z = {parts} + … ({len(x) - len(top)} smaller terms) {bias:+.2f} (bias) = "
        f"**{float(r.output[unit]):.3f}**"
    )
    if last:
        z = trace.logits.astype(np.float64)
        e = np.exp(z - z.max())
        st.markdown("#### Softmax turns the scores into probabilities")
        st.markdown(
            r"$p_k = \dfrac{e^{z_k}}{\sum_j e^{z_j}}$ — for the prediction: "
            f"e^{z[unit]:.2f} / Σ = **{e[unit] / e.sum():.2%}**"
        )
        rows = [
            {
                "class": n,
                "score z": float(z[k]),
                "e^(z − max)": float(e[k]),
                "probability": float(e[k] / e.sum()),
            }
            for k, n in enumerate(trace.class_names)
        ]
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_config={
                "probability": st.column_config.ProgressColumn(
                    "probability", format="percent", min_value=0.0, max_value=1.0
                )
            },
        )


# --- the page ----------------------------------------------------------------------------------

ckpt = common.current_model()
digit = common.current_digit()
trace = common.trace_for(ckpt, digit)
mkey = common.model_key(ckpt)
n = len(trace.layers)
big = common.presenter()

st.title("Layer by layer")
st.caption(
    f"**{ckpt.name}** reading {digit.source}: prediction **{trace.predicted_name}** "
    f"({trace.confidence:.1%}). Step through every layer with the real numbers."
)

if st.session_state.get("layer_step", 0) >= n:
    st.session_state["layer_step"] = 0


def _go(delta: int) -> None:
    st.session_state["layer_step"] = int(
        np.clip(st.session_state.get("layer_step", 0) + delta, 0, n - 1)
    )


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
    range(n),
    key="layer_step",
    format_func=lambda k: f"{k + 1}/{n} · {trace.layers[k].name} — {trace.layers[k].description}",
    label_visibility="collapsed",
)
b3.button("Next ▶", on_click=_go, args=(1,), disabled=step >= n - 1, width="stretch")

r = trace.layers[step]
x_in = layer_input(trace, step)
shape_in = "×".join(map(str, x_in.shape))
desc = f" · {r.description}" if r.description != r.kind else ""
st.header(f"{r.name}{desc}")
c_text, c_shape = st.columns([3, 1.2])
c_text.markdown(explain(r))
c_shape.markdown(
    f"<div style='font-size:.9em;opacity:.7'>shape in → out</div>"
    f"<div style='font-size:1.6em;font-weight:600'>{shape_in} → {r.shape_text}</div>",
    unsafe_allow_html=True,
)

cell = 110 if big else 76
if r.kind == "normalize":
    normalize_panel(trace)
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
elif r.kind == "linear" and step == n - 1:
    show_vector(r.output, trace.class_names, "class score (logit)")
else:
    show_vector(r.output, None, "output unit")

if r.kind == "conv" and r.weight is not None:
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
elif r.kind == "relu":
    relu_panel(trace, step)
elif r.kind == "pool":
    pool_panel(trace, step)
elif r.kind == "bn":
    bn_panel(ckpt, trace, step)
elif r.kind == "flatten":
    st.markdown(
        f"**{shape_in} = {int(np.prod(x_in.shape))} numbers** → one vector of {r.shape_text}."
    )
elif r.kind == "linear":
    linear_panel(trace, step)

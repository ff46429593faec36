"""Page 5, Inside the filters: the kernels, the test digits that excite each channel most, how
strongly each layer responds, and the embedding map with the misclassified digits marked."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explainer import style
from explainer.analysis.arith import conv_records
from explainer.app import compute, digits, model_choice, visuals, words
from explainer.errors import ExplainerError
from explainer.style import colorize, scale_for


def _top_grid(kernels: np.ndarray, top, rows_: list[int]) -> np.ndarray:
    """One row per filter: its kernel, then its top digits with the receptive field framed."""
    z = 3
    sc = scale_for(kernels, "kernel")
    rows = []
    for kern, c in zip(kernels, rows_, strict=False):
        k = visuals.upscale(colorize(kern, sc), max(1, 28 // kern.shape[0]) * z)
        side = 28 * z
        k = np.pad(k, ((0, side - k.shape[0]), (0, side - k.shape[1] + 12), (0, 0)),
                   constant_values=255)  # fmt: skip
        tiles = []
        for img, (t, le, b, r_) in zip(top.images[c], top.boxes[c], strict=False):
            rgb = visuals.upscale(np.repeat((img * 255).astype(np.uint8)[..., None], 3, 2), z)
            rgb = visuals.outline(rgb, t * z, le * z, (b - t) * z, (r_ - le) * z, width=2)
            tiles.append(np.pad(rgb, ((0, 0), (0, 3), (0, 0)), constant_values=255))
        rows.append(np.pad(np.concatenate([k, *tiles], axis=1), ((0, 6), (0, 0), (0, 0)),
                           constant_values=255))  # fmt: skip
    return np.concatenate(rows, axis=0)


MISTAKE_MARK = "#000000"  # black rings: a colour no class uses (explainer.style.CLASS_COLORS)


def embedding_spec(xy, labels, preds, names, idx, item: str = "digit") -> dict:
    """The map: one dot per test image in its true class's colour; each mistake ringed in
    black (no class colour is black, so a mistake is never hidden in a red cloud), its own
    dot still showing its true class."""
    tooltip = [
        {"field": "label", "title": "true"},
        {"field": "pred", "title": "predicted"},
        {"field": "i", "title": f"test {item} #"},
    ]
    values = [
        {
            "x": float(a),
            "y": float(b),
            "label": names[t],
            "pred": names[p],
            "wrong": bool(t != p),
            "i": int(i),
        }
        for (a, b), t, p, i in zip(xy, labels, preds, idx, strict=False)
    ]
    return {
        "data": {"values": values},
        "height": 520,
        "layer": [
            {
                "mark": {"type": "circle", "size": 22, "opacity": 0.65},
                "encoding": {
                    "x": {"field": "x", "type": "quantitative", "axis": None},
                    "y": {"field": "y", "type": "quantitative", "axis": None},
                    "color": {
                        "field": "label",
                        "type": "nominal",
                        "sort": names,
                        "scale": {"domain": names, "range": style.CLASS_COLORS},
                        "legend": {"title": "true class", "orient": "right", "labelLimit": 200},
                    },
                    "tooltip": tooltip,
                },
            },
            {
                "mark": {
                    "type": "point",
                    "shape": "circle",
                    "size": 130,
                    "filled": False,
                    "color": MISTAKE_MARK,
                    "strokeWidth": 2,
                },
                "transform": [{"filter": "datum.wrong"}],
                "encoding": {
                    "x": {"field": "x", "type": "quantitative"},
                    "y": {"field": "y", "type": "quantitative"},
                    "tooltip": tooltip,
                },
            },
        ],
    }


def strength_spec(trace) -> dict:
    values = []
    for r in trace.layers:
        if r.kind in ("normalize", "dropout", "flatten") or r is trace.layers[-1]:
            continue  # (the last layer's class scores are on another scale altogether)
        v = r.output
        values.append(
            {
                "layer": r.name,
                "kind": r.kind,
                "mean |a|": float(np.abs(v).mean()),
                "active": float((v > 0).mean()),
            }
        )
    names = [v["layer"] for v in values]
    return {  # one row per layer: every name written in full, never thinned out or slanted
        "data": {"values": values},
        "height": 26 * len(names) + 50,  # the legend on top takes its share of the height
        "mark": "bar",
        "encoding": {
            "y": {
                "field": "layer",
                "type": "ordinal",
                "sort": names,
                "title": None,
                "axis": {"labelOverlap": False, "labelLimit": 320, "labelFontSize": 13},
            },
            "x": {"field": "mean |a|", "type": "quantitative", "title": "mean |activation|"},
            "color": {"field": "kind", "type": "nominal", "legend": {"orient": "top"}},
            "tooltip": [
                {"field": "layer"},
                {"field": "mean |a|", "format": ".3f"},
                {"field": "active", "format": ".0%", "title": "share > 0"},
            ],
        },
    }


st.title("Inside the filters")
ckpt = model_choice.current_model()
ds = model_choice.current_dataset()
digit = digits.current_digit()
trace = digits.trace_for(ckpt, digit)
mkey = model_choice.model_key(ckpt)
convs = conv_records(trace)

if convs:
    layer = st.selectbox(
        "Convolution layer",
        [r.name for r in convs],
        key="flt_layer",
        format_func=lambda n: f"{n} · {trace.layer(n).description}",
    )
    r = trace.layer(layer)
    left, right = st.columns([1, 1.4], gap="large")
    with left:
        cout, cin = r.weight.shape[:2]
        ci = st.slider("input channel", 0, cin - 1, 0, key=f"flt_in_{layer}") if cin > 1 else 0
        st.markdown(f"**Kernels** of the {cout} filters (input channel {ci})")
        sc = scale_for(r.weight[:, ci], "kernel")
        st.image(visuals.cached_mosaic(f"{mkey}|{layer}|w{ci}", r.weight[:, ci], sc, 64))
        st.markdown(
            visuals.colorbar_html(sc, label="weight (blue < 0 < red)"), unsafe_allow_html=True
        )
    with right:
        try:
            top = compute.top_images(ckpt, layer)
        except ExplainerError as exc:  # e.g. a module used twice: its second call is not a layer
            st.info(f"No top {words.item(ds, plural=True)} for {layer}: {exc}")
            st.stop()
        n_top = len(top.channels)  # the first 64 channels at most
        first = st.number_input(
            f"filters from (of {n_top})", 0, max(n_top - 8, 0), 0, step=8, key=f"flt_ch_{layer}"
        )
        shown = list(range(int(first), min(int(first) + 8, n_top)))
        st.markdown(
            f"**The {compute.TOP_K} test {words.item(ds, plural=True)} that excite each filter "
            "most**"
        )
        st.image(
            visuals.cached_bytes(
                f"{mkey}|{layer}|top|{first}|{ci}",
                lambda: _top_grid(r.weight[shown, ci], top, shown),
            ),
            caption=f"left: the filter's kernel; right: the {words.item(ds, plural=True)} "
            "where it fires most, the "
            "patch it sees (its receptive field) framed around the strongest spot",
        )
else:
    st.info(
        f"{ckpt.name} has no convolution, so no filters: its first dense layer sees all "
        "784 pixels at once. Pick a CNN in the sidebar."
    )

st.subheader(f"How strongly each layer responds to the current {words.item(ds)}")
visuals.chart(strength_spec(trace))

st.subheader("The embedding map")
method = st.radio(
    "Projection",
    ["PCA", "t-SNE"],
    horizontal=True,
    key="flt_method",
    help="t-SNE keeps neighbours together (slower, computed once per model).",
)
emb = compute.embedding(ckpt, "pca" if method == "PCA" else "tsne")
xy, idx, labels, preds = emb.points, emb.indices, emb.labels, emb.predictions
visuals.chart(embedding_spec(xy, labels, preds, ckpt.class_names, idx, words.item(ds)))
st.caption(
    f"Each dot is a test {words.item(ds)} ({len(idx):,} of them), placed by the numbers the "
    f"last dense layer receives, projected to 2-D with {method}; colour: true class; black "
    f"rings: the {int((labels != preds).sum())} the model gets wrong (the dot inside keeps "
    "its true class's colour)."
)

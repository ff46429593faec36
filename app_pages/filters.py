"""Page 5, Inside the filters: the kernels, the test digits that excite each channel most, how
strongly each layer responds, and the embedding map with the misclassified digits marked."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from app_pages import common, visuals
from explainer import style
from explainer.style import scale_for

EMBED_MAX = 2000  # points on the map (t-SNE on more is too slow for a live page)
TOP_K = 6


def batch_layer(model: torch.nn.Module, images: np.ndarray, name: str) -> np.ndarray:
    """Output of layer ``name`` for ``images`` ``(N, 28, 28)`` uint8: ``(N, ...)`` float32."""
    module = model.get_submodule(name)
    outs: list[torch.Tensor] = []
    h = module.register_forward_hook(lambda _m, _i, o: outs.append(o.detach().float()))
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            x = torch.from_numpy(np.array(images)).float().div_(255.0).unsqueeze(1)
            for i in range(0, len(x), 1000):
                model(x[i : i + 1000])
    finally:
        h.remove()
        model.train(was)
    return torch.cat(outs).numpy()


@st.cache_resource(show_spinner="Running every test digit through the layer…", max_entries=16)
def top_images(model_key: str, layer: str, dataset: str, _ckpt) -> np.ndarray:
    """Indices ``(C, TOP_K)`` of the eval digits with the highest mean activation per channel."""
    acts = batch_layer(_ckpt.model, common.eval_set(dataset)[0], layer)
    score = acts.reshape(acts.shape[0], acts.shape[1], -1).mean(axis=2)  # (N, C)
    return np.argsort(-score, axis=0)[:TOP_K].T


@st.cache_resource(show_spinner="Computing the embedding map…", max_entries=16)
def embedding(model_key: str, method: str, dataset: str, _ckpt) -> tuple[np.ndarray, np.ndarray]:
    """2-D map ``(M, 2)`` of the features fed to the last dense layer, and which digits
    ``(M,)`` it uses (at most :data:`EMBED_MAX`, evenly spread over the eval set)."""
    images = common.eval_set(dataset)[0]
    idx = np.linspace(0, len(images) - 1, min(EMBED_MAX, len(images))).astype(int)
    last = [n for n, m in _ckpt.model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    feats = _inputs_of(_ckpt.model, images[idx], last)
    if method == "PCA":
        from sklearn.decomposition import PCA

        xy = PCA(n_components=2, random_state=0).fit_transform(feats)
    else:
        from sklearn.manifold import TSNE

        xy = TSNE(n_components=2, init="pca", perplexity=30, random_state=0).fit_transform(feats)
    return xy.astype(np.float32), idx


def _inputs_of(model: torch.nn.Module, images: np.ndarray, name: str) -> np.ndarray:
    module = model.get_submodule(name)
    ins: list[torch.Tensor] = []
    h = module.register_forward_hook(lambda _m, i, _o: ins.append(i[0].detach().float()))
    try:
        with torch.inference_mode():
            model.eval()
            model(torch.from_numpy(np.array(images)).float().div_(255.0).unsqueeze(1))
    finally:
        h.remove()
    return torch.cat(ins).flatten(1).numpy()


def embedding_spec(xy, labels, preds, names, idx) -> dict:
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
                "transform": [{"filter": "!datum.wrong"}],
                "encoding": {
                    "x": {"field": "x", "type": "quantitative", "axis": None},
                    "y": {"field": "y", "type": "quantitative", "axis": None},
                    "color": {
                        "field": "label",
                        "type": "nominal",
                        "sort": names,
                        "scale": {"domain": names, "range": style.CLASS_COLORS},
                        "legend": {"title": "true class", "orient": "right"},
                    },
                    "tooltip": [
                        {"field": "label", "title": "true"},
                        {"field": "pred", "title": "predicted"},
                        {"field": "i", "title": "digit"},
                    ],
                },
            },
            {
                "mark": {
                    "type": "point",
                    "shape": "cross",
                    "size": 160,
                    "filled": True,
                    "color": style.WRONG_COLOR,
                    "stroke": "black",
                    "strokeWidth": 0.8,
                },
                "transform": [{"filter": "datum.wrong"}],
                "encoding": {
                    "x": {"field": "x", "type": "quantitative"},
                    "y": {"field": "y", "type": "quantitative"},
                    "tooltip": [
                        {"field": "label", "title": "true"},
                        {"field": "pred", "title": "predicted"},
                        {"field": "i", "title": "digit"},
                    ],
                },
            },
        ],
    }


def strength_spec(trace) -> dict:
    values = []
    for r in trace.layers:
        if r.kind in ("normalize", "dropout", "flatten"):
            continue
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
    return {
        "data": {"values": values},
        "height": 260,
        "mark": "bar",
        "encoding": {
            "x": {
                "field": "layer",
                "type": "ordinal",
                "sort": names,
                "title": None,
                "axis": {"labelAngle": -40},
            },
            "y": {"field": "mean |a|", "type": "quantitative", "title": "mean |activation|"},
            "color": {"field": "kind", "type": "nominal", "legend": {"orient": "top"}},
            "tooltip": [
                {"field": "layer"},
                {"field": "mean |a|", "format": ".3f"},
                {"field": "active", "format": ".0%", "title": "share > 0"},
            ],
        },
    }


st.title("Inside the filters")
ckpt = common.current_model()
ds = common.current_dataset()
digit = common.current_digit()
trace = common.trace_for(ckpt, digit)
mkey = common.model_key(ckpt)
convs = [r for r in trace.layers if r.kind == "conv"]

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
        st.image(visuals.cached_mosaic(f"{mkey}|{layer}|w{ci}", r.weight[:, ci], sc, 48))
        st.markdown(visuals.colorbar_html(sc, "weight"), unsafe_allow_html=True)
    with right:
        top = top_images(mkey, layer, ds, ckpt)
        ch = st.number_input("filter", 0, cout - 1, 0, key=f"flt_ch_{layer}")
        imgs = common.eval_set(ds)[0][top[ch]].astype(np.float32) / 255.0
        st.markdown(f"**The {TOP_K} test digits that excite filter {ch} most**")
        st.image(visuals.mosaic(imgs, scale_for(imgs, "input"), cols=TOP_K, cell=84, labels=False))
        st.caption("Ranked by the filter's mean activation over the whole map.")
else:
    st.info(
        f"{ckpt.name} has no convolution, so no filters: its first dense layer sees all "
        "784 pixels at once. Pick a CNN in the sidebar."
    )

st.subheader("How strongly each layer responds to the current digit")
st.vega_lite_chart(strength_spec(trace), width="stretch")

st.subheader("The embedding map")
method = st.radio(
    "Projection",
    ["PCA", "t-SNE"],
    horizontal=True,
    key="flt_method",
    help="t-SNE keeps neighbours together (slower, computed once per model).",
)
xy, idx = embedding(mkey, method, ds, ckpt)
labels = common.eval_set(ds)[1][idx]
preds = common.model_logits(ckpt)[idx].argmax(1)
st.vega_lite_chart(embedding_spec(xy, labels, preds, ckpt.class_names, idx), width="stretch")
st.caption(
    f"Each dot is a test digit ({len(idx):,} of them), placed by the numbers the last "
    f"dense layer receives, projected to 2-D with {method}; colour: true class; red "
    f"crosses: the {int((labels != preds).sum())} the model gets wrong."
)

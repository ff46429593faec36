"""Page 4, Compare architectures: every shipped model's size, accuracy, training curve, speed
and per-class accuracy, and the current digit's activations in two models side by side."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from explainer.analysis.attribution import conv_module_names
from explainer.app import compute, digits, looks, model_choice, visuals, words
from explainer.data import dataset_info
from explainer.nets.architectures import available, count_parameters, describe
from explainer.style import scale_for
from explainer.text import markdown_safe


def summary_rows(models: dict, dataset: str = "mnist") -> list[dict]:
    rows = []
    for name, c in models.items():
        m = c.metrics
        rows.append(
            {
                "model": name,
                "parameters": count_parameters(c.model),
                "test accuracy": m.get("test_accuracy"),
                "test errors": m.get("test_errors"),
                "epochs trained": len(c.history) or None,
                "best epoch (kept)": c.epoch or None,
                "training (s)": round(c.train_seconds, 1) if c.train_seconds else None,
                "images / s (batch)": round(m["eval_images_per_second"])
                if m.get("eval_images_per_second")
                else None,
                f"ms per {words.item(dataset)}": round(compute.latency_ms(c), 2),
            }
        )
    return rows


# the curves' colours, one per model in the table's order (Vega's "tableau20"), shown in one
# legend under both charts that wraps (a legend inside a half-width chart cut the names off)
PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#bab0ac", "#9ecae9", "#ffbf79", "#ff9d98", "#88d27a",
           "#83bcb6", "#b79a20", "#d6a5c9", "#fcbfd2", "#d8b5a5", "#79706e"]  # fmt: skip


def model_colors(names: list[str]) -> dict[str, str]:
    """A colour for each model (colours repeat after twenty models)."""
    return {n: PALETTE[i % len(PALETTE)] for i, n in enumerate(names)}


def legend_html(colors: dict[str, str]) -> str:
    """The models' colours as one HTML legend that wraps onto more lines when it must."""
    items = "".join(
        f"<span style='white-space:nowrap'><span style='color:{c};font-size:1.4em;"
        f"line-height:1'>●</span> {html.escape(n)}</span>"
        for n, c in colors.items()
    )
    return f"<div style='display:flex;flex-wrap:wrap;gap:.2em 1.4em'>{items}</div>"


def table_columns(rows: list[dict], presenter: bool) -> list[list[str]]:
    """The summary's columns as the tables that show them: the accuracy in one, how each model
    was trained and what it costs in a second, so that every column fits at 1280×720 (normal
    and presenter type) instead of scrolling out of view. ``presenter`` is kept for callers;
    both modes need the two tables since the epochs columns came."""
    columns = list(rows[0]) if rows else []
    cost = ["epochs trained", "best epoch (kept)", "training (s)", "images / s (batch)"]
    cost += [c for c in columns if c.startswith("ms per")]
    cost = [c for c in cost if c in columns]
    if not cost:
        return [columns]
    return [[c for c in columns if c not in cost], ["model", *cost]]


def summary_tables(rows: list[dict]) -> None:
    config = {
        "test accuracy": st.column_config.ProgressColumn(
            "test accuracy", format="percent", min_value=0.8, max_value=1.0
        ),
        "parameters": st.column_config.NumberColumn("parameters", format="localized"),
        "images / s (batch)": st.column_config.NumberColumn(
            "images/s", format="localized", help="images per second, in batches"
        ),
        "epochs trained": st.column_config.NumberColumn("epochs", help="epochs trained"),
        "best epoch (kept)": st.column_config.NumberColumn(
            "best", help="the epoch whose weights were kept (best validation accuracy)"
        ),
        "training (s)": st.column_config.NumberColumn("train s", help="training time, seconds"),
    }
    for columns in table_columns(rows, looks.presenter()):
        st.dataframe(
            [{c: r[c] for c in columns} for r in rows],
            hide_index=True,
            width="stretch",
            column_config={k: v for k, v in config.items() if k in columns},
        )


def curves_spec(models: dict, field: str, title: str) -> dict:
    """One line per model of ``field`` after each epoch, coloured as :func:`model_colors`
    (no legend of its own: :func:`legend_html` draws one for both charts)."""
    colors = model_colors(list(models))
    values = [
        {"model": name, "epoch": int(h.get("epoch", i + 1)), "v": float(h[field])}
        for name, c in models.items()
        for i, h in enumerate(c.history)
        if h.get(field) is not None and np.isfinite(h[field])
    ]
    return {
        "data": {"values": values},
        "height": 260,
        "mark": {"type": "line", "point": True},
        "encoding": {
            "x": {"field": "epoch", "type": "quantitative", "axis": {"tickMinStep": 1}},
            "y": {"field": "v", "type": "quantitative", "title": field.replace("_", " "),
                  "scale": {"zero": False}},
            "color": {"field": "model", "type": "nominal", "legend": None,
                      "scale": {"domain": list(colors), "range": list(colors.values())}},
            "tooltip": [{"field": "model"}, {"field": "epoch"}, {"field": "v", "format": ".4f"}],
        },
    }  # fmt: skip


def per_class_spec(models: dict, names: list[str]) -> dict:
    """Accuracy of each model on each class: every class name written out (slanted when the
    names are words), the colour scale from the lowest accuracy shown, with its legend."""
    values = []
    for name, c in models.items():
        per = c.metrics.get("per_class_accuracy") or []
        for k, a in enumerate(per):
            values.append({"model": name, "class": names[k], "acc": float(a),
                           "text": f"{a:.1%}" if a < 1 else "100%"})  # fmt: skip
    low = min([v["acc"] for v in values] + [0.9])
    low = float(np.floor(low * 20) / 20)  # a round 5% step below the weakest class
    long = max(len(n) for n in names) > 2
    return {
        "data": {"values": values},
        "height": {"step": 30},
        "encoding": {
            "x": {"field": "class", "type": "ordinal", "sort": names, "title": None,
                  "axis": {"orient": "top", "labelAngle": -35 if long else 0,
                           "labelAlign": "left" if long else "center", "labelOverlap": False,
                           "labelLimit": 200, "labelFontSize": 12}},
            "y": {"field": "model", "type": "nominal", "title": None,
                  "axis": {"labelLimit": 300}},
        },
        "layer": [
            {"mark": "rect", "encoding": {"color": {
                "field": "acc", "type": "quantitative", "title": "accuracy",
                "scale": {"scheme": "blues", "domain": [low, 1.0]},
                "legend": {"format": ".0%", "orient": "bottom", "gradientLength": 240}}}},
            {"mark": {"type": "text", "fontSize": 11},
             "encoding": {"text": {"field": "text"},
                          "color": {"condition": {"test": f"datum.acc > {low + 0.6 * (1 - low)}",
                                                  "value": "white"}, "value": "#222"}}},
        ],
    }  # fmt: skip


@st.fragment
def side_by_side(models: dict, digit: digits.Digit) -> None:
    """The current digit in two models (or, with one model, in that one), layer by layer."""
    names = list(models)
    item = words.item(digit.dataset)
    if len(names) == 1:
        st.subheader(f"The current {item} in {names[0]}, layer by layer")
        model_column(models, names[0], digit, 0)
        return
    st.subheader(f"The current {item} in two models, layer by layer")
    cnns = [i for i, n in enumerate(names) if conv_module_names(models[n].model)]
    for j, col in enumerate(st.columns(2, gap="large")):
        with col:
            default = cnns[j] if j < len(cnns) else min(j, len(names) - 1)
            name = st.selectbox(f"Model {'AB'[j]}", names, index=default, key=f"cmp_model_{j}")
            model_column(models, name, digit, j)


def model_column(models: dict, name: str, digit: digits.Digit, j: int) -> None:
    """One model's answer for ``digit`` and one of its layers' feature maps, chosen by slider."""
    c = models[name]
    tr = digits.trace_for(c, digit)
    spatial = [r.name for r in tr.layers if r.is_spatial and r.kind != "normalize"]
    said, sure = words.answer(tr.probs, tr.class_names)
    st.markdown(f"**{markdown_safe(name)}** predicts **{markdown_safe(said)}** ({sure})")
    if not spatial:
        st.info(f"{markdown_safe(name)} has no feature maps: it flattens the image at once.")
        return
    layer = st.select_slider("layer", spatial, key=f"cmp_layer_{j}_{name}")
    r = tr.layer(layer)
    kind = "relu" if r.output.min() >= 0 else r.kind
    sc = scale_for(r.output, kind)
    key = f"{model_choice.model_key(c)}|{digit.key}|{layer}|{kind}|56"
    st.image(visuals.cached_mosaic(key, r.output, sc, 56),
             caption=f"{layer} · {r.description} · {r.shape_text}")  # fmt: skip
    st.markdown(visuals.colorbar_html(sc), unsafe_allow_html=True)


st.title("Compare architectures")
ds = model_choice.current_dataset()
models = model_choice.all_models(ds)
names_of = list(models)
names = next(iter(models.values())).class_names
if len(models) == 1:
    st.info(
        f"There is one {dataset_info(ds).title} model here, **{markdown_safe(names_of[0])}**, "
        "so there is nothing to set it against: it is shown alone. Train another on the "
        "*Training* page to compare the two."
    )
summary_tables(summary_rows(models, ds))
one = words.item(ds)
st.caption(
    f"Test accuracy on the 10,000 official test {words.item(ds, plural=True)} (as measured "
    "after training; for a model trained here, on the images it never saw); "
    "*epochs*: passes over the training images; *best*: the epoch whose weights were kept, "
    "the one with the best validation accuracy; *train s*: seconds of training; "
    f"*ms per {one}*: one forward pass of one {one}, measured now on this machine."
)
with st.expander("What each architecture is"):
    for name, c in models.items():
        if c.architecture in available():
            a = describe(c.architecture)
            st.markdown(f"**{markdown_safe(name)}** — *{a.title}*. {a.summary}")
        else:
            st.markdown(
                f"**{markdown_safe(name)}** — your own class "
                f"{markdown_safe(c.model_class or c.architecture)}."
            )
a, b = st.columns(2)
with a:
    st.markdown("**Validation accuracy** after each epoch")
    visuals.chart(curves_spec(models, "val_accuracy", ""))
with b:
    st.markdown("**Training loss** after each epoch")
    visuals.chart(curves_spec(models, "train_loss", ""))
st.markdown(legend_html(model_colors(list(models))), unsafe_allow_html=True)
st.subheader("Per-class accuracy")
visuals.chart(per_class_spec(models, names))
side_by_side(models, digits.current_digit())

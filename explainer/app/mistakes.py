"""Page 3, Mistakes: the confusion matrix; click a cell to see those digits, pick one to see
what the model looked at and where in the layers it parted from a correctly read digit."""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from explainer import style
from explainer.app import attributions, compute, digits, model_choice, visuals, words

MAX_SHOWN = 48


def selected_cell(default: tuple[int, int]) -> tuple[int, int]:
    event = st.session_state.get("cm_chart")
    try:
        pts = event["selection"]["cell"]
        if pts:
            return int(pts[0]["ti"]), int(pts[0]["pi"])
    except (KeyError, TypeError, IndexError):
        pass
    return default


ckpt = model_choice.current_model()
ds = model_choice.current_dataset()
images, _labels, indices, full = digits.eval_set(ds)
ev = compute.evaluation(ckpt)
labels, preds, probs_all, cm = ev.labels, ev.predicted, ev.probs, ev.confusion
names = ev.class_names
item, items = words.item(ds), words.item(ds, plural=True)

st.title("Mistakes")
wrong = int((preds != labels).sum())
c1, c2, c3 = st.columns([1, 1, 1.6])
c1.metric("Accuracy", f"{1 - wrong / len(labels):.2%}")
c2.metric("Mistakes", f"{wrong} of {len(labels):,}")
# the model's name (often longer than a metric's box, which would cut it with "…"), in a
# wider column and smaller type, on one line when it fits (every shipped name does); a longer
# one wraps after an underscore, never inside a word
shown_name = html.escape(ckpt.name).replace("_", "_<wbr>")
c3.markdown(
    "<div style='font-size:.875rem'>Model</div><div style='font-size:1.25rem;line-height:1.3;"
    f"padding-top:.4rem'>{shown_name}</div>",
    unsafe_allow_html=True,
)
if not full:
    st.info(words.data_hint(ds))
if wrong == 0:
    st.success(f"No mistakes on these {items}. Pick a weaker model in the sidebar.")
    st.stop()

off = cm.copy()
np.fill_diagonal(off, 0)
worst = np.unravel_index(int(np.argmax(off)), off.shape)
long_names = max(len(n) for n in names) > 2  # slanted names need wider matrix columns
left, right = st.columns([1.5 if long_names else 1.1, 1], gap="large")
with left:
    st.markdown(f"**Click a cell** to see the {items} of that (true, predicted) pair.")
    visuals.chart(visuals.confusion_spec(cm, names), key="cm_chart", on_select="rerun")
t, p = selected_cell((int(worst[0]), int(worst[1])))
where = np.flatnonzero((labels == t) & (preds == p))
with right:
    # a class name never breaks at its hyphen in large type ("T- / shirt/top")
    whole = [n.replace("-", "\u2011") for n in names]
    verb = "read correctly" if t == p else f"read as **{whole[p]}**"
    st.markdown(f"#### {words.count(len(where), ds)} labelled **{whole[t]}**, {verb}")
    if len(where) == 0:
        st.info(f"No {items} in this cell: click another one.")
        st.stop()
    shown = where[:MAX_SHOWN]
    thumbs = images[shown].astype(np.float32)[:, None] / 255.0
    grid = visuals.cached_mosaic(
        f"{model_choice.model_key(ckpt)}|thumbs|{t}|{p}",
        thumbs[:, 0],
        style.scale_for(thumbs, "input"),
        56,
        cols=min(8, len(shown)),
    )
    caption = None if len(shown) == 1 else f"numbered 0 – {len(shown) - 1}" + (
        f" (first {MAX_SHOWN} of {len(where)})" if len(where) > MAX_SHOWN else "")  # fmt: skip
    st.image(grid, caption=caption)
    pick = 0
    if len(shown) > 1:
        pick = st.number_input(
            f"{item.capitalize()} to study", 0, len(shown) - 1, 0, key=f"mist_pick_{t}_{p}"
        )

i = int(shown[int(pick)])
mistake = digits.digit_from_sample(ds, i)
if st.button(f"Explain this {item} on every page", icon=":material/arrow_forward:"):
    digits.set_digit(mistake)

# A correctly read example of the same true class (the most confident one), and one of the
# predicted class, to compare with.


def reference(c: int) -> digits.Digit | None:
    ok = np.flatnonzero((labels == c) & (preds == c))
    if len(ok) == 0:
        return None
    j = int(ok[np.argmax(probs_all[ok, c])])
    return digits.Digit(f"{ds}:test:{int(indices[j])}", images[j].astype(np.float32) / 255.0,
                        int(labels[j]), f"test {item} #{int(indices[j])}", ds)  # fmt: skip


good = reference(t)
if good is not None and good.key == mistake.key:
    good = None  # a correct cell's most confident example: nothing else to compare with
st.divider()
if t == p:
    st.subheader(f"{mistake.source.capitalize()}: read correctly as {names[t]}")
else:
    st.subheader(f"Why {mistake.source} ({words.a(names[t])}) became {words.a(names[p])}")
tr_m = digits.trace_for(ckpt, mistake)
cols = st.columns([1, 1.3])
with cols[0]:
    visuals.chart(visuals.probability_chart(tr_m.probs, names, 240))
    st.caption(words.answer_line(tr_m.probs, names, t))
with cols[1]:
    attributions.side_by_side(ckpt, mistake, good, names, correct=t == p)

if good is not None and t != p:
    other = reference(p)
    green = compute.similarity_by_layer(ckpt, mistake, good)
    series = {f"a correct {names[t]} ({good.source})": green}
    how = (
        f"How alike the mistaken {item}'s activations are to those of a correctly read "
        f"**{names[t]}** (green)"
    )
    if other is None:
        story = f" layer by layer (no test {item} read correctly as {names[p]} to set beside it)."
    else:
        red = compute.similarity_by_layer(ckpt, mistake, other)
        series[f"a correct {names[p]} ({other.source})"] = red
        story = (
            f" and a correctly read **{names[p]}** (red), layer by layer (cosine similarity, "
            "1 = identical pattern). "
            + words.similarity_story(tr_m.names(), green, red, names[t], names[p])
        )
    st.markdown("#### Where in the layers the mistake parts ways")
    st.caption(how + story)
    visuals.chart(visuals.divergence_spec(tr_m.names(), series))

"""Page 7, Export: render any animation of the current digit (GIF or MP4) and download it, or
download the chosen model's interactive web page as a .zip (:mod:`explainer.app.web_zip`)."""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
import time
from pathlib import Path

import streamlit as st

from explainer.animate.length import MAX_SECONDS
from explainer.app import compute, digits, launch, model_choice, web_zip, words
from explainer.errors import ExplainerError
from explainer.extras import MissingExtra, install_command, require
from explainer.text import markdown_safe

NAMES = {  # short, so that the picker never cuts them; what each shows is said under it
    "forward": "Forward pass",
    "dataflow": "Data flow",
    "convolution": "Convolution",
    "training": "Training",
    "mistakes": "Mistakes",
}
TITLES = {
    "forward": "Forward pass: the {item} flows through every layer",
    "dataflow": "Data flow: how the numbers move and shrink",
    "convolution": "Convolution: a kernel sliding over the image",
    "training": "Training: kernels and accuracy over the epochs",
    "mistakes": "Mistakes: the {items} this model gets wrong",
}
SIZES = {
    "small (640×360)": (640, 360),
    "README (800×450)": (800, 450),
    "HD (1280×720)": (1280, 720),
}


def available_kinds() -> list[str]:
    from explainer.animate import KINDS

    return [k for k in KINDS if importlib.util.find_spec(f"explainer.animate.{k}") is not None]


def own_length(kind: str, trace) -> str:
    """The length the ``kind`` animation takes when *Seconds* is left empty, in words: the
    animator's own (its pace for a class), computed for this trace where it depends on it."""
    from explainer.animate import DEFAULTS, paced_seconds

    if kind in ("training", "mistakes"):  # it depends on the epochs / mistakes it shows
        return "as long as its steps need"
    return f"{paced_seconds(kind, trace, DEFAULTS[kind][0], 'class', {}):.0f} s"


def in_app_words(message: str) -> str:
    """An animator's refusal (``use seconds=14 or more``, ``use fps=30 or more``; or the
    command line's ``--seconds 14``; its ``=`` may come escaped for Markdown) said with this
    page's controls."""
    own = "leave *Seconds* empty and the animation takes the length it needs"
    message = re.sub(
        r"use (?:seconds\\?=|--seconds )(\d+) or more",
        rf"set *Seconds* to \1 or more, or {own}",
        message,
    )
    message = re.sub(r"use (?:fps\\?=|--fps )\d+ or more", own, message)
    return re.sub(r"(?:seconds\\?=|--seconds )", "*Seconds* ", message)


def snapshots_for(ckpt) -> list[Path]:
    """The checkpoint's epoch snapshots, then its own file (none for an upload or a model
    trained here)."""
    from explainer.analysis.snapshots import snapshot_paths

    return snapshot_paths(ckpt, strict=False) if ckpt.path else []


def own_code(ckpt) -> str | None:
    """The code of a model of the user's own class that the app may import for its snapshots:
    ``EXPLAINER_APP_CODE``, agreed to by whoever started the app with
    ``EXPLAINER_APP_MODEL`` = this checkpoint; ``None`` for any other model (an upload's class
    is never imported)."""
    code, wanted = os.environ.get("EXPLAINER_APP_CODE"), os.environ.get("EXPLAINER_APP_MODEL")
    if not (ckpt.model_class and code and wanted and ckpt.path):
        return None
    return code if Path(wanted).expanduser().resolve() == ckpt.path.resolve() else None


def web_page(ckpt) -> None:
    """The web page choice: what it is, a button that builds it (once per checkpoint version)
    and the .zip to download; a refusal in one line."""
    st.caption(
        f"**{markdown_safe(ckpt.name)}** as one web page: learners draw and watch it think in "
        "their browser, with no Python and no server. Unzip it into a folder and put that on "
        "GitHub Pages, in your LMS (Moodle, Canvas...) or on a USB stick; see *Publish your "
        "model as a web page* in the docs."
    )
    try:
        require("web", "The web page export")
    except MissingExtra as exc:
        st.info(f"The web page needs the {exc.extra} extra: `{install_command(exc.extra)}`, "
                "then restart the app.")  # fmt: skip
        return
    key = model_choice.model_key(ckpt)
    if st.button("Build the web page", type="primary", icon=":material/public:"):
        with st.spinner(f"Exporting {ckpt.name} and checking every layer..."):
            try:
                data = web_zip.page_zip(ckpt)
            except ExplainerError as exc:
                st.warning(f"Could not export the page: {markdown_safe(exc, 400)}.")
                return
        st.session_state["web_export"] = {"model": key, "name": f"{ckpt.name}_page.zip",
                                          "data": data}  # fmt: skip
    done = st.session_state.get("web_export")
    if done and done["model"] == key:
        st.success(f"{done['name']}: {len(done['data']) / 1e6:.1f} MB, open index.html inside.")
        st.download_button("Download " + done["name"], done["data"], file_name=done["name"],
                           mime="application/zip", icon=":material/download:")  # fmt: skip


def report_options(kind: str, ckpt, trace) -> dict:
    """What the training and mistakes animations read, computed here by the library."""
    if kind == "training":
        from explainer.analysis.snapshots import training_evolution

        snaps = snapshots_for(ckpt)

        def predict(ck):  # each snapshot's test predictions, from the cache when warmed up
            return compute.evaluation(ck).predicted

        evo = training_evolution(
            snaps, trace.image, label=trace.label, predict=predict, code=own_code(ckpt)
        )
        return {"evolution": evo}
    if kind == "mistakes":
        from explainer.analysis.evaluate import mistake_report

        return {"report": mistake_report(compute.evaluation(ckpt))}
    return {}


st.title("Export")
ckpt = model_choice.current_model()
WHAT = ["Animation (GIF or MP4)", "Web page (runs in the browser)"]
what = st.radio("Export", WHAT, horizontal=True, key="exp_what", label_visibility="collapsed")
if what != WHAT[0]:
    web_page(ckpt)
    st.stop()
digit = digits.current_digit()
st.caption(
    f"Animations of **{markdown_safe(digit.source)}** through **{markdown_safe(ckpt.name)}**, "
    "in the same colours as "
    "the app. Render one, preview it, download it."
)
kinds = available_kinds()
if not kinds:
    st.info("No animation module is installed yet (explainer.animate).")
    st.stop()
c1, c2, c3, c4 = st.columns([1.6, 1, 1.5, 1.1])
titles = {
    k: t.format(item=words.item(ckpt.dataset), items=words.item(ckpt.dataset, plural=True))
    for k, t in TITLES.items()
}
kind = c1.selectbox("Animation", kinds, format_func=lambda k: NAMES.get(k, k), key="exp_kind")
fmt = c2.radio("Format", ["GIF", "MP4"], horizontal=True, key="exp_fmt")
size_name = c3.selectbox("Size", list(SIZES), index=0, key="exp_size")
own = own_length(kind, digits.trace_for(ckpt, digit))
seconds = c4.number_input(
    "Seconds",
    min_value=1,
    max_value=MAX_SECONDS,
    value=None,
    placeholder="auto",  # short enough for a narrow box; the caption says the length
    key="exp_seconds",
    help="Empty: the animation's own length, long enough to say each step out loud.",
)
st.caption(
    f"**{titles.get(kind, kind)}**. Length: "
    + (f"{own} (its own)" if seconds is None else f"{seconds:g} s, as set under *Seconds*")
    + "."
)

options: dict = {}
if kind == "training":
    snaps = snapshots_for(ckpt)
    if ckpt.model_class and len(snaps) >= 2 and own_code(ckpt) is None:
        st.info(
            f"{markdown_safe(ckpt.name)} is a model of your own class, whose code the app does "
            "not import for its snapshots: render its training with the command line, "
            "`explainer render training --model FILE.pt --code my_net.py:MyNet`."
        )
        st.stop()
    if len(snaps) < 2:
        st.info(
            f"{ckpt.name} has no epoch snapshots in models/snapshots/; choose mnist_bn_cnn "
            "in the sidebar (its snapshots ship with the project"
            + ("; switch the dataset to MNIST first)." if ckpt.dataset != "mnist" else ").")
        )
        st.stop()

if st.button("Render", type="primary", icon=":material/movie:"):
    trace = digits.trace_for(ckpt, digit)
    suffix = ".gif" if fmt == "GIF" else ".mp4"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{kind}{suffix}"
        t = time.perf_counter()
        try:  # with progress: preparing, drawing, a bar over the frames
            launch.render(
                kind,
                trace,
                out,
                prepare=lambda: report_options(kind, ckpt, trace),
                seconds=None if seconds is None else float(seconds),
                size=SIZES[size_name],
            )
        except ExplainerError as exc:
            st.warning(f"Could not render it: {in_app_words(markdown_safe(exc, 400))}.")
            st.stop()
        st.session_state["export"] = {
            "name": f"{ckpt.name}_{digit.key.split(':')[-1]}_{kind}{suffix}",
            "data": out.read_bytes(),
            "mime": "image/gif" if suffix == ".gif" else "video/mp4",
            "seconds": time.perf_counter() - t,
        }

done = st.session_state.get("export")
if done:
    st.success(
        f"{done['name']}: {len(done['data']) / 1e6:.2f} MB, rendered in {done['seconds']:.1f} s"
    )
    st.download_button(
        "Download " + done["name"],
        done["data"],
        file_name=done["name"],
        mime=done["mime"],
        icon=":material/download:",
    )
    if done["mime"] == "image/gif":
        st.image(done["data"])
    else:
        st.video(done["data"], format="video/mp4")

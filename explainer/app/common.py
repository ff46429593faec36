"""What every page of the app shares: cached loaders, the sidebar, and the current digit.

State lives in ``st.session_state``:

- ``dataset``: ``"mnist"`` or ``"fashion_mnist"`` (the sidebar's dataset switch);
- ``model``: the chosen checkpoint's name (a shipped ``models/*.pt`` stem, or a model trained
  live on the Training page, kept in ``live_models``);
- ``digit``: the current :class:`Digit`, the image every page explains;
- ``presenter``: large type for a projector.

Models are cached with ``st.cache_resource`` (one copy per process, never mutated); data with
``st.cache_data``, keyed by plain strings.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from explainer.analysis.flowgraph import item_word
from explainer.data import DATASETS, dataset_info, find_data_dir, load_sample, load_split
from explainer.errors import ExplainerError
from explainer.nets.checkpoints import Checkpoint, load_checkpoint, models_dir, shipped_checkpoints
from explainer.paths import PREFERRED_ARCHITECTURES
from explainer.tracing.capture import capture_checkpoint
from explainer.tracing.trace import Trace

# Torch's default (one thread per core) spins idle threads against each other on a small or busy
# machine: 2 threads ran the 500 sample digits through bn_cnn 10x slower than 1 thread on the
# 2-core development box. Half the cores, at most 4, unless EXPLAINER_TORCH_THREADS says so.
torch.set_num_threads(
    int(os.environ.get("EXPLAINER_TORCH_THREADS") or max(1, min(4, (os.cpu_count() or 2) // 2)))
)

MAX_CHECKPOINT_BYTES = 100 * 1024 * 1024  # the largest shipped model is ~5 MB
GET_DATA_HINT = (
    "The full test set is not on this machine, so this page uses the 500 bundled test digits. "
    "For all 10,000: `explainer data download` (or point `EXPLAINER_DATA_DIR` at a folder "
    "holding `MNIST/raw/`), then restart the app."
)


@dataclass
class Digit:
    """The image every page explains: ``image`` is ``(28, 28)`` float32 in [0, 1]."""

    key: str
    image: np.ndarray
    label: int | None = None
    source: str = ""
    dataset: str = "mnist"
    steps: list[tuple[str, np.ndarray]] = field(default_factory=list)


# --- models ----------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _load_shipped(path: str, mtime: float) -> Checkpoint | None:
    try:
        return load_checkpoint(path)
    except ExplainerError:
        return None  # still being written by the trainer, or broken: simply not offered


@st.cache_data(show_spinner=False, ttl=5)
def _shipped_files(dataset: str) -> list[tuple[str, float]]:
    """``(path, mtime)`` of the shipped checkpoints, looked up at most every 5 seconds (new
    models appear while the trainer runs, without a stat of every file on every rerun)."""
    return [(str(p), p.stat().st_mtime) for p in shipped_checkpoints(dataset)]


def shipped_models(dataset: str) -> dict[str, Checkpoint]:
    """Readable shipped checkpoints of ``dataset``, by name, the preferred teaching model first."""
    found = {}
    for path, mtime in _shipped_files(dataset):
        ckpt = _load_shipped(path, mtime)
        if ckpt is not None:
            found[Path(path).stem] = ckpt
    order = {a: i for i, a in enumerate(PREFERRED_ARCHITECTURES)}
    return dict(sorted(found.items(), key=lambda kv: order.get(kv[1].architecture, 99)))


def live_models() -> dict[str, Checkpoint]:
    """Models trained on the Training page in this browser session."""
    return st.session_state.setdefault("live_models", {})


def uploaded_models() -> dict[str, Checkpoint]:
    """Checkpoints uploaded in the sidebar in this browser session."""
    return st.session_state.setdefault("uploaded_models", {})


@dataclass
class NamedCheckpoint(Checkpoint):
    """A checkpoint shown under a name of its own (an upload: its file is gone)."""

    label: str = "model"

    @property
    def name(self) -> str:
        return self.label


@st.cache_resource(show_spinner=False)
def _load_path(path: str, mtime: float, code: str) -> Checkpoint | str:
    try:
        return load_checkpoint(path, code=code or None)
    except ExplainerError as exc:
        return str(exc)


def env_model() -> dict[str, Checkpoint]:
    """``EXPLAINER_APP_MODEL`` when it is a checkpoint file (not a shipped name): that model,
    read with ``weights_only``. A model of the user's own class needs ``EXPLAINER_APP_CODE``
    (``my_net.py:MyNet``): the person starting the app agreeing to import that code."""
    wanted = os.environ.get("EXPLAINER_APP_MODEL", "")
    if not wanted.endswith(".pt"):
        return {}
    path = Path(wanted).expanduser()
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    got = _load_path(str(path), mtime, os.environ.get("EXPLAINER_APP_CODE", ""))
    if isinstance(got, str):
        st.session_state["_model_error"] = f"EXPLAINER_APP_MODEL: {got}"
        return {}
    return {got.name: got}


def all_models(dataset: str) -> dict[str, Checkpoint]:
    extra = env_model() | uploaded_models() | live_models()
    return shipped_models(dataset) | {k: v for k, v in extra.items() if v.dataset == dataset}


def datasets_with_models() -> list[str]:
    extra = env_model() | uploaded_models() | live_models()
    return [
        d for d in DATASETS if shipped_checkpoints(d) or any(c.dataset == d for c in extra.values())
    ]


def add_uploaded_checkpoint(name: str, data: bytes) -> str:
    """Load an uploaded checkpoint of a registry architecture and add it to the model list;
    returns its name. Read with ``weights_only`` from a private temporary file: nothing is
    unpickled and no code is imported (a checkpoint of the user's own class is refused)."""
    if not data:
        raise ExplainerError(f"{name} is empty (0 bytes)")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise ExplainerError(
            f"{name} is {len(data) / 1e6:.0f} MB; the app takes checkpoints up to "
            f"{MAX_CHECKPOINT_BYTES / 1e6:.0f} MB"
        )
    digest = hashlib.sha256(data).hexdigest()[:12]
    label = f"{Path(name).stem} (uploaded)"
    models = uploaded_models()
    if label in models and models[label].__dict__.get("_app_key") == f"upload:{digest}":
        return label
    fd, tmp = tempfile.mkstemp(suffix=".pt")  # mode 0600: only this user reads it
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        ckpt = load_checkpoint(tmp)  # no code=: a user's own class is refused, never imported
    except ExplainerError as exc:
        text = str(exc).replace(tmp, name)
        if "your own class" in text:
            text = (
                f"{name} holds a model of its own class; the app never imports code from an "
                "upload. Upload a checkpoint of a registered architecture, or start the app "
                "with EXPLAINER_APP_MODEL=file.pt EXPLAINER_APP_CODE=my_net.py:MyNet"
            )
        raise ExplainerError(text) from None
    finally:
        os.unlink(tmp)
    fields = {f: getattr(ckpt, f) for f in Checkpoint.__dataclass_fields__}
    named = NamedCheckpoint(**(fields | {"path": None}), label=label)
    named.__dict__["_app_key"] = f"upload:{digest}"
    models[label] = named
    return label


def current_dataset() -> str:
    return st.session_state.get("dataset", "mnist")


def current_model() -> Checkpoint:
    """The checkpoint chosen in the sidebar (stops the page with a message when none exists)."""
    models = all_models(current_dataset())
    if not models:
        st.error("No trained model found in `models/`. Run `make models` (or `explainer train`).")
        st.stop()
    name = st.session_state.get("model")
    return models[name] if name in models else next(iter(models.values()))


def select_model(name: str) -> None:
    """Make ``name`` the sidebar's model from the next run on."""
    st.session_state["_next_model"] = name


def model_label(name: str, ckpt: Checkpoint | None = None) -> str:
    ckpt = ckpt or all_models(current_dataset()).get(name)
    acc = ckpt.metrics.get("test_accuracy") if ckpt else None
    tail = f" · {acc:.2%}" if acc else ""
    live = " (trained here)" if name in live_models() else ""
    live = live or (" (your file)" if name in env_model() else "")
    return f"{name}{live}{tail}"


# --- data ------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False)
def sample_arrays(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bundled sample: images ``(500, 28, 28)`` uint8, labels ``(500,)``, test indices."""
    s = load_sample(dataset)
    return s.images.numpy(), s.labels.numpy(), s.indices.numpy()


def has_test_set(dataset: str) -> bool:
    return find_data_dir(dataset) is not None


@st.cache_resource(show_spinner=False)
def eval_set(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Images ``(N, 28, 28)`` uint8, labels, official test indices, and whether it is the full
    test set (else the bundled sample). Read-only: shared by every session."""
    if has_test_set(dataset):
        split = load_split(dataset, train=False, download=False)
        images, labels = split.images.numpy(), split.labels.numpy()
        arrays = (images, labels, np.arange(len(labels)), True)
    else:
        arrays = (*sample_arrays(dataset), False)
    for a in arrays[:3]:
        a.setflags(write=False)
    return arrays


def model_key(ckpt: Checkpoint) -> str:
    """A plain-string cache key for a model: its file and modification time, or its session id
    for a model trained here."""
    key = ckpt.__dict__.get("_app_key")
    if key is None:
        if ckpt.path is not None:
            mtime = ckpt.path.stat().st_mtime if ckpt.path.exists() else 0
            key = f"{ckpt.path}@{mtime}"
        else:
            key = f"live:{id(ckpt)}"
        ckpt.__dict__["_app_key"] = key
    return key


# --- the current digit -----------------------------------------------------------------------


def digit_from_sample(dataset: str, i: int) -> Digit:
    images, labels, indices = eval_set(dataset)[:3]
    return Digit(
        key=f"{dataset}:test:{int(indices[i])}",
        image=images[i].astype(np.float32) / 255.0,
        label=int(labels[i]),
        source=f"test {item_word(dataset)} #{int(indices[i])}",
        dataset=dataset,
    )


def image_key(image: np.ndarray, prefix: str) -> str:
    return f"{prefix}:{hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest()[:16]}"


def current_digit() -> Digit:
    d = st.session_state.get("digit")
    if d is None or d.dataset != current_dataset():
        d = digit_from_sample(current_dataset(), 0)
        st.session_state["digit"] = d
    return d


def set_digit(d: Digit) -> None:
    st.session_state["digit"] = d


@st.cache_resource(show_spinner=False, max_entries=64)
def _trace(model_key: str, digit_key: str, _ckpt: Checkpoint, _image: np.ndarray, label) -> Trace:
    return capture_checkpoint(_ckpt, _image, label=label, source=digit_key)


def trace_for(ckpt: Checkpoint, digit: Digit) -> Trace:
    """Every layer's output for ``digit`` through ``ckpt``, cached by (model, digit) names."""
    return _trace(model_key(ckpt), digit.key, ckpt, digit.image, digit.label)


# --- sidebar and looks -----------------------------------------------------------------------

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
</style>
"""
BASE_CSS = """
<style>
.block-container { padding-top: 2.2rem; }
img { image-rendering: pixelated; }
[class*="st-key-canvas"] [data-testid="stBidiComponentIsolated"] { clip-path: inset(0); }
.cbar { display:flex; align-items:center; gap:.5em; font-size:.85em; margin:.2em 0 .8em 0; }
.cbar .bar { height: .9em; width: 14em; border-radius: 3px; border: 1px solid #8884; }
.formula { font-size: 1.15em; }
.sumtable td { padding: .15em .5em; border: none; }
.sumtable { border-collapse: collapse; margin-top: .8em; }
.wraprow { display: flex; flex-wrap: wrap; align-items: center; gap: .4em 1.2em; }
.wraprow .op { font-size: 2em; line-height: 1; }
</style>
"""


def sidebar() -> None:
    """Dataset switch, model picker and presenter mode (in the router, so every page has them)."""
    st.markdown(BASE_CSS, unsafe_allow_html=True)
    with st.sidebar:
        upload_checkpoint()
        dsets = datasets_with_models() or ["mnist"]
        if len(dsets) > 1:
            st.radio(
                "Dataset",
                dsets,
                format_func=lambda d: dataset_info(d).title,
                key="dataset",
                horizontal=True,
            )
        else:
            st.session_state["dataset"] = dsets[0]
        models = all_models(current_dataset())
        if "_next_model" in st.session_state:
            st.session_state["model"] = st.session_state.pop("_next_model")
        if error := st.session_state.pop("_model_error", None):
            st.error(error)
        if models:
            names = list(models)
            labels = {n: model_label(n, c) for n, c in models.items()}
            if st.session_state.get("model") not in names:
                wanted = os.environ.get("EXPLAINER_APP_MODEL", "")
                wanted = Path(wanted).stem if wanted.endswith(".pt") else wanted
                st.session_state["model"] = wanted if wanted in names else names[0]
            st.selectbox(
                "Model",
                names,
                key="model",
                format_func=labels.get,
                help="Every shipped model (with its test accuracy) and the ones you train on "
                "the Training page.",
            )
        st.toggle("Presenter mode", key="presenter", help="Large type for a projector.")
    if st.session_state.get("presenter"):
        st.markdown(PRESENTER_CSS, unsafe_allow_html=True)


def upload_checkpoint() -> None:
    """The sidebar's "your own checkpoint" uploader (a ``.pt`` of a registered
    architecture); a new upload becomes the selected model."""
    up = st.file_uploader(
        "Your checkpoint (.pt)",
        type=["pt"],
        key="ckpt_upload",
        help="A checkpoint saved by `explainer train` (any registered architecture). It is "
        "read as plain tensors: nothing in it is run.",
    )
    if up is None:
        return
    try:
        name = add_uploaded_checkpoint(up.name, up.getvalue())
    except ExplainerError as exc:
        st.warning(str(exc))
        return
    if st.session_state.get("_uploaded") != name + str(up.file_id):
        st.session_state["_uploaded"] = name + str(up.file_id)
        st.session_state["dataset"] = uploaded_models()[name].dataset
        st.session_state["model"] = name


def sidebar_digit() -> None:
    """The current digit in the sidebar (drawn after the page, so it shows the latest one)."""
    d = current_digit()
    with st.sidebar:
        st.caption(f"Current {item_word(d.dataset)} (every page explains it)")
        st.image(zoom(d.image, 4), caption=d.source, width=112)


_HIDE_CANVAS_TOOLBARS = """<script>
(() => {
  // every custom component's shadow root (the canvas may not have drawn its toolbar yet)
  const hosts = '[data-testid="stBidiComponentIsolated"]';
  const hide = () => document.querySelectorAll(hosts).forEach((el) => {
    const root = el.shadowRoot;
    if (root && !root.getElementById("no-toolbar")) {
      const style = document.createElement("style");
      style.id = "no-toolbar";
      style.textContent = ".dc-toolbar { display: none !important; }";
      root.appendChild(style);
    }
  });
  hide();
  new MutationObserver(hide).observe(document.body, { childList: true, subtree: true });
})();
</script>"""


def hide_canvas_toolbars() -> None:
    """Hide the toolbar of every drawing canvas on the page (streamlit-drawable-canvas draws it
    inside its shadow root, out of reach of the page's CSS; its unlabeled "Edit" pencil stops
    drawing and lets a drag push the digit off the canvas). Give the canvas labelled buttons
    instead (see :func:`canvas_buttons`)."""
    st.html(_HIDE_CANVAS_TOOLBARS, unsafe_allow_javascript=True)


def wrap_row(blocks: list[str]) -> None:
    """HTML blocks side by side that wrap onto the next line when the page is too narrow for
    them (a table never runs under its neighbour, as in columns of fixed width); a block of one
    character (an operator: "×", "=") is drawn large."""
    cells = "".join(f"<div class='{'op' if len(b) == 1 else 'blk'}'>{b}</div>" for b in blocks)
    st.markdown(f"<div class='wraprow'>{cells}</div>", unsafe_allow_html=True)


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


def models_root() -> Path:
    return models_dir()


# --- the canvas's own buttons ----------------------------------------------------------------
# The canvas component's toolbar (an unlabeled "Edit" pencil that stops drawing and lets a drag
# push the digit off the canvas, undo, redo, a bin) is hidden (hide_canvas_toolbars); labelled
# Undo / Clear buttons replace it. Both hand the canvas a new initial drawing (every stroke but
# the last, or none), numbered so that it always differs from the one before: the canvas then
# reloads it and sends it back, and the prediction follows.


def canvas_start(name: str) -> dict | None:
    """The initial drawing to hand the canvas ``name`` (after Undo or Clear), if any."""
    return st.session_state.get(f"_{name}_start")


def _restart_canvas(name: str, objects: list) -> None:
    n = st.session_state.get(f"_{name}_n", 0) + 1
    st.session_state[f"_{name}_n"] = n
    st.session_state[f"_{name}_start"] = {"objects": objects, "revision": n}


def canvas_buttons(name: str, objects: list) -> None:
    """Undo (the last stroke) and Clear under the canvas ``name``, in place of its toolbar."""
    hide_canvas_toolbars()
    undo, clear = st.columns(2)
    for column, label, icon, keep in (
        (undo, "Undo stroke", ":material/undo:", objects[:-1]),
        (clear, "Clear", ":material/delete:", []),
    ):
        column.button(
            label,
            icon=icon,
            on_click=_restart_canvas,
            args=(name, keep),
            disabled=not objects,
            width="stretch",
            key=f"{name}_{label.split()[0].lower()}",
        )


def drawing_canvas(name: str, size: int, stroke_width: int) -> tuple[np.ndarray | None, list]:
    """A square white-on-black drawing canvas (its toolbar replaced by :func:`canvas_buttons`):
    ``(RGBA image data or None, the strokes drawn)``."""
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=size,
        width=size,
        drawing_mode="freedraw",
        initial_drawing=canvas_start(name),
        return_image_data=True,
        key=name,
    )
    objects = (result.json_data or {}).get("objects", [])
    canvas_buttons(name, objects)
    return result.image_data, objects


def padded_square(img: np.ndarray, factor: int = 1) -> np.ndarray:
    """``img`` enlarged ``factor`` times (nearest neighbour), padded to a square with grey
    bars, so equal-width columns never stretch a tall crop."""
    img = zoom(img, factor) if factor > 1 else img
    h, w = img.shape
    n = max(h, w)
    out = np.full((n, n), 0.35, np.float32)
    out[(n - h) // 2 : (n - h) // 2 + h, (n - w) // 2 : (n - w) // 2 + w] = img
    return out

"""The Streamlit app, run headless with AppTest against the shipped models and the bundled
sample (no dataset needed). Predictions are checked against the model run directly."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest

from explainer.data import load_sample, load_test_or_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir, shipped_checkpoints
from explainer.nets.inference import predict_logits
from explainer.reading.preprocess import preprocess

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
PAGES = ["draw", "layers", "mistakes", "compare", "filters", "training", "export"]


# The shipped models are in the repository: one that does not load is a failure, not a skip.
MODELS = [p.stem for p in shipped_checkpoints("mnist")]


def test_the_shipped_models_are_there_and_load():
    assert MODELS, f"no shipped MNIST model in {models_dir()}"
    for name in MODELS:
        ckpt = load_checkpoint(models_dir() / f"{name}.pt")
        assert ckpt.name == name


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    # the smallest CNN when there is one: quick, and every page has something to show
    name = "mnist_fast_cnn" if "mnist_fast_cnn" in MODELS else MODELS[0]
    at.session_state["model"] = name
    return at.run()


def _model(at: AppTest):
    return load_checkpoint(models_dir() / f"{at.selectbox(key='model').value}.pt")


def _prediction(at: AppTest) -> str:
    return next(m.value for m in at.metric if m.label == "Prediction")


def _canvas_state(image28: np.ndarray) -> dict:
    """What the drawing canvas sends back: Fabric objects plus a PNG of the 280×280 canvas."""
    big = np.kron(image28, np.ones((10, 10), np.uint8))
    rgba = np.dstack([big, big, big, np.full_like(big, 255)])
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    raw = {"objects": [{"type": "path"}], "background": "#000000"}
    return {"drawing": {"raw": raw, "data": url}, "backgroundFit": None}


def _page_ok(at: AppTest) -> None:
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert not at.error, at.error[0].value if at.error else ""
    assert at.title


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_exception(page):
    at = _app()
    at.switch_page(f"explainer/app/{page}.py").run()
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert at.title, f"{page} has no title"
    assert not at.error


def test_key_widgets_exist():
    at = _app()
    assert at.radio(key="source").options == ["Draw", "Upload a picture", "Pick a test digit"]
    assert at.selectbox(key="model").value in MODELS
    assert at.toggle(key="presenter").value is False
    assert "canvas" in at.session_state  # the drawing canvas is mounted
    at.switch_page("explainer/app/layers.py").run()
    labels = [b.label for b in at.button]
    assert "◀ Previous" in labels and "Next ▶" in labels


def test_blank_canvas_asks_to_draw():
    at = _app()
    assert any("draw a digit" in i.value.lower() for i in at.info)
    assert not [m for m in at.metric if m.label == "Prediction"]


def test_choosing_another_test_digit_changes_the_prediction():
    at = _app()
    at.radio(key="source").set_value("Pick a test digit").run()
    digits = load_test_or_sample("mnist")[0]  # what the page offers: test set, else sample
    ckpt = _model(at)
    preds = predict_logits(ckpt.model, digits.images[:20]).argmax(1).numpy()
    i, j = 0, int(np.flatnonzero(preds != preds[0])[0])
    at.number_input(key="test_pos").set_value(i).run()
    first = _prediction(at)
    at.number_input(key="test_pos").set_value(j).run()
    second = _prediction(at)
    assert (first, second) == (str(preds[i]), str(preds[j]))
    assert first != second


def test_drawing_injected_through_the_canvas_is_predicted():
    at = _app()
    sample = load_sample("mnist")
    ckpt = _model(at)
    for i in (3, 8):  # two different digits, so a stale prediction cannot pass
        img = sample.images[i].numpy()
        at.session_state["canvas"] = _canvas_state(img)
        at.run()
        assert not at.exception
        big = np.kron(img, np.ones((10, 10), np.uint8))
        rgba = np.dstack([big, big, big, np.full_like(big, 255)])
        expected = predict_logits(ckpt.model, torch.from_numpy(preprocess(rgba).image)[None, None])
        assert _prediction(at) == str(int(expected.argmax()))


def test_layer_stepper_walks_through_every_layer():
    at = _app()
    at.switch_page("explainer/app/layers.py").run()
    ckpt = _model(at)
    first = at.header[0].value
    at.button[1].click().run()  # Next
    assert at.session_state["layer_step"] == 1
    assert at.header[0].value != first
    n = len(at.selectbox(key="layer_step").options)
    for _ in range(n):  # runs past the end: the button is disabled there, nothing breaks
        at.selectbox(key="layer_step").set_value(min(at.session_state["layer_step"] + 1, n - 1))
        at.run()
        assert not at.exception
    last = [name for name, m in ckpt.model.named_modules() if not list(m.children())][-1]
    assert at.header[0].value.startswith(last)


def test_convolution_by_hand_equals_the_layer_output(tinyvgg_or_fast):
    """The page's window × kernel products, summed over channels plus the bias, give the
    layer's own output (checked against torch's conv on the same input)."""
    from explainer.app.conv_window import conv_window
    from explainer.tracing.capture import capture

    ckpt = tinyvgg_or_fast
    conv_name, conv = next((n, m) for n, m in ckpt.model.named_modules()
                           if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)  # fmt: skip
    seen = {}
    hook = conv.register_forward_hook(lambda m, i, o: seen.update(x=i[0].detach().clone()))
    trace = capture(ckpt.model, np.random.default_rng(0).random((28, 28), dtype=np.float32))
    hook.remove()
    ref = conv(seen["x"]).detach().numpy()[0]  # torch's conv on the layer's real input
    for ch, row, col in [(0, 0, 0), (1, 5, 7), (conv.out_channels - 1, 13, 13)]:
        row, col = min(row, ref.shape[1] - 1), min(col, ref.shape[2] - 1)
        got = conv_window(trace, conv_name, ch, row, col).value  # its sum over every channel
        assert got == pytest.approx(ref[ch, row, col], abs=1e-4), conv_name


@pytest.fixture
def tinyvgg_or_fast():
    for name in ("mnist_tinyvgg", "mnist_fast_cnn", "mnist_bn_cnn"):
        if name in MODELS:
            return load_checkpoint(models_dir() / f"{name}.pt")
    pytest.skip("no CNN with a multi-channel convolution trained yet")


def test_presenter_mode_enlarges_the_type():
    root = "html { font-size: 22px; }"  # every rem-sized text grows by PRESENTER_SCALE
    at = _app()
    assert not any(root in m.value for m in at.markdown)
    at.toggle(key="presenter").set_value(True).run()
    assert any(root in m.value for m in at.markdown)


def test_train_a_small_model_now_makes_it_selectable():
    at = _app()
    at.switch_page("explainer/app/training.py").run()
    at.slider(key="live_epochs").set_value(1).run()
    next(b for b in at.button if b.label == "Train now").click().run()
    assert not at.exception
    options = at.selectbox(key="model").options
    assert [o for o in options if o.startswith("live_fast_cnn_1")], options
    assert at.selectbox(key="model").value == "live_fast_cnn_1"
    # where it came from, under the picker (its box has no room for that)
    assert any("trained here" in c.value for c in at.sidebar.caption), at.sidebar.caption
    at.switch_page("explainer/app/draw.py").run()
    at.radio(key="source").set_value("Pick a test digit").run()
    assert not at.exception and _prediction(at)


@pytest.mark.slow  # a real render: ~10 s on a quiet laptop
def test_export_renders_a_gif_of_the_current_digit():
    at = _app()
    at.switch_page("explainer/app/export.py").run()
    at.selectbox(key="exp_kind").set_value("forward")
    at.number_input(key="exp_seconds").set_value(6)
    next(b for b in at.button if b.label == "Render").click().run()
    assert not at.exception
    done = at.session_state["export"]
    assert done["data"][:6] == b"GIF89a" and done["name"].endswith("_forward.gif")
    gif = Image.open(io.BytesIO(done["data"]))
    assert gif.size == (640, 360) and gif.n_frames > 1


# --- a model chosen by path or uploaded, and the user's own networks ------------------------


def test_a_zoo_network_chosen_by_path_runs_the_layer_page(tmp_path, monkeypatch):
    """EXPLAINER_APP_MODEL=file.pt with EXPLAINER_APP_CODE (the operator's consent to import
    the class): the model is listed, selected, and the layer page walks through its graph."""
    from zoo import build_zoo

    from explainer.nets.checkpoints import save_checkpoint
    from explainer.tracing.capture import capture

    model = build_zoo("resnetish")
    path = save_checkpoint(tmp_path / "resnetish.pt", model)
    monkeypatch.setenv("EXPLAINER_APP_MODEL", str(path))
    monkeypatch.setenv("EXPLAINER_APP_CODE", f"{Path(__file__).parent / 'zoo.py'}:ResNetish")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert at.selectbox(key="model").value == "resnetish"
    at.switch_page("explainer/app/layers.py").run()
    _page_ok(at)
    digit = at.session_state["digit"]
    names = capture(model, digit.image).names()
    steps = at.selectbox(key="layer_step")
    assert len(steps.options) >= len(names)
    for step in range(len(steps.options)):  # every record, the add and the cat included
        at.selectbox(key="layer_step").set_value(step).run()
        _page_ok(at)
    for page in ("compare", "filters", "mistakes", "training"):
        at.switch_page(f"explainer/app/{page}.py").run()
        _page_ok(at)


def test_without_consent_a_users_class_is_not_imported(tmp_path, monkeypatch):
    from zoo import build_zoo

    from explainer.nets.checkpoints import save_checkpoint

    path = save_checkpoint(tmp_path / "strided.pt", build_zoo("strided"))
    monkeypatch.setenv("EXPLAINER_APP_MODEL", str(path))
    monkeypatch.delenv("EXPLAINER_APP_CODE", raising=False)
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert "strided" not in at.selectbox(key="model").options
    assert any("your own class" in e.value for e in at.error)


def _uploader(at: AppTest):
    return next(u for u in at.get("file_uploader") if u.label.startswith("Your checkpoint"))


def test_an_uploaded_registry_checkpoint_becomes_the_model(tmp_path):
    from explainer.nets.architectures import build
    from explainer.nets.checkpoints import save_checkpoint

    torch.manual_seed(3)
    model = build("fast_cnn").eval()
    data = save_checkpoint(tmp_path / "mine.pt", model).read_bytes()
    at = _app()
    _uploader(at).set_value(("mine.pt", data, "application/octet-stream"))
    at.run()
    assert not at.exception and not at.warning
    assert at.selectbox(key="model").value == "mine (uploaded)"
    at.radio(key="source").set_value("Pick a test digit").run()
    digit = at.session_state["digit"]
    expected = predict_logits(model, torch.from_numpy(digit.image)[None, None]).argmax()
    assert _prediction(at) == str(int(expected))
    at.switch_page("explainer/app/layers.py").run()
    _page_ok(at)


def test_an_uploaded_checkpoint_of_a_users_class_is_refused_without_import(tmp_path):
    import sys

    from zoo import build_zoo

    from explainer.nets.checkpoints import save_checkpoint

    data = save_checkpoint(tmp_path / "shared.pt", build_zoo("shared")).read_bytes()
    before = set(sys.modules)
    at = _app()
    _uploader(at).set_value(("shared.pt", data, "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any("never imports code" in w.value for w in at.warning)
    assert "shared (uploaded)" not in at.selectbox(key="model").options
    assert not [m for m in set(sys.modules) - before if "zoo" in m]
    _uploader(at).set_value(("junk.pt", b"not a checkpoint", "application/octet-stream"))
    at.run()
    assert not at.exception
    assert any("not a readable checkpoint" in w.value for w in at.warning)


def test_the_draw_caption_speaks_of_the_models_own_dataset():
    if not shipped_checkpoints("fashion_mnist"):
        pytest.skip("no Fashion-MNIST model")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["dataset"] = "fashion_mnist"
    at.run()
    at.radio(key="source").set_value("Pick a test item").run()  # the radio says "item"
    _page_ok(at)
    said = next(c.value for c in at.caption if c.value.startswith("Probabilities of"))
    assert "validation items" in said and "on Fashion-MNIST items" in said, said
    assert "digit" not in said and "handwriting" not in said, said

"""The app as a class meets it: the drawing stays the learner's across pages and lesson steps,
the words fit the dataset, and every page's text says what its own numbers show. Driven
headless with AppTest against the shipped models and the bundled sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tomllib

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest
from test_app import APP, _canvas_state
from test_app_truth import _elements, _ok, _texts

from explainer.data import load_sample
from explainer.reading.preprocess import preprocess


def _start(model: str = "mnist_fast_cnn", dataset: str = "mnist") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset"] = dataset
    at.session_state["model"] = model
    return at.run()


def _canvas_data(at: AppTest) -> dict:
    """What the page hands the drawing canvas component (its ``initialDrawing`` among it)."""
    found = [e for e in _elements(at._tree) if getattr(e, "type", "") == "bidi_component"]
    assert len(found) == 1, f"{len(found)} canvases on the page"
    return json.loads(found[0].proto.json)


def _drawn_pixels(image28: np.ndarray) -> np.ndarray:
    """The 28×28 the preprocessing makes of :func:`_canvas_state`'s canvas (the reference)."""
    big = np.kron(image28, np.ones((10, 10), np.uint8))
    return preprocess(np.dstack([big, big, big, np.full_like(big, 255)])).image


# --- 1. the drawing is the learner's until they clear it --------------------------------------


def test_a_drawing_survives_other_pages_and_lesson_steps():
    at = _start()
    img = load_sample("mnist").images[3].numpy()
    at.session_state["canvas"] = _canvas_state(img)
    at.run()
    expected = _drawn_pixels(img)
    strokes = at.session_state["canvas"]["drawing"]["raw"]["objects"]
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)

    at.switch_page("explainer/app/lesson.py").run()
    _ok(at)
    at.button(key="lesson_next").click().run()
    at.button(key="lesson_prev").click().run()
    _ok(at)
    assert at.session_state["lesson_at"] == 0
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)

    at.switch_page("explainer/app/draw.py").run()
    _ok(at)
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)
    assert _canvas_data(at)["initialDrawing"]["objects"] == strokes  # the canvas shows it again
    assert not any("canvas is empty" in t for t in _texts(at))
    assert [m for m in at.metric if m.label == "Prediction"]  # and it is still predicted


def test_a_lesson_drawing_survives_next_then_previous():
    at = _start()
    at.switch_page("explainer/app/lesson.py").run()
    img = load_sample("mnist").images[8].numpy()
    at.session_state["lesson_canvas"] = _canvas_state(img)
    at.run()
    _ok(at)
    expected = _drawn_pixels(img)
    strokes = at.session_state["lesson_canvas"]["drawing"]["raw"]["objects"]
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)
    at.button(key="lesson_next").click().run()
    assert "lesson_canvas" not in at.session_state  # the canvas is gone on step 2
    at.button(key="lesson_prev").click().run()
    _ok(at)
    assert at.session_state["digit"].source == "your drawing"
    np.testing.assert_array_equal(at.session_state["digit"].image, expected)
    assert _canvas_data(at)["initialDrawing"]["objects"] == strokes


def test_clear_ends_the_drawing_and_a_newer_drawing_elsewhere_wins():
    at = _start()
    sample = load_sample("mnist").images
    at.session_state["canvas"] = _canvas_state(sample[3].numpy())
    at.run()
    at.button(key="canvas_clear").click().run()
    at.session_state["canvas"] = {"drawing": {"raw": {"objects": []}, "data": None}}
    at.run()  # what the canvas sends once cleared
    at.switch_page("explainer/app/lesson.py").run()
    at.switch_page("explainer/app/draw.py").run()
    assert _canvas_data(at)["initialDrawing"]["objects"] == []
    assert any("canvas is empty" in t for t in _texts(at))

    at.session_state["canvas"] = _canvas_state(sample[3].numpy())
    at.run()
    at.switch_page("explainer/app/lesson.py").run()
    at.session_state["lesson_canvas"] = _canvas_state(sample[8].numpy())
    at.run()
    newer = _drawn_pixels(sample[8].numpy())
    lesson_strokes = at.session_state["lesson_canvas"]["drawing"]["raw"]["objects"]
    at.switch_page("explainer/app/draw.py").run()  # the Draw canvas's older drawing is dropped
    np.testing.assert_array_equal(at.session_state["digit"].image, newer)
    shown = _canvas_data(at)["initialDrawing"]["objects"]  # the newer one, at its size
    assert [o["type"] for o in shown] == [o["type"] for o in lesson_strokes]
    assert [o["scaleX"] for o in shown] == pytest.approx([280 / 420] * len(shown))


def _stroke(left: float, top: float) -> dict:
    """A Fabric path object as streamlit-drawable-canvas sends it."""
    return {"type": "path", "left": left, "top": top, "width": 90.0, "height": 120.0,
            "scaleX": 1, "scaleY": 1, "strokeWidth": 22,
            "path": [["M", 10, 10], ["Q", 50, 60, 100, 130]]}  # fmt: skip


@pytest.mark.parametrize(
    ("first", "then", "size_first", "size_then"),
    [("draw.py", "lesson.py", 280, 420), ("lesson.py", "draw.py", 420, 280)],
)
def test_a_drawing_moves_between_canvases_rescaled(first, then, size_first, size_then):
    at = _start()
    at.switch_page(f"explainer/app/{first}").run()
    key = "canvas" if first == "draw.py" else "lesson_canvas"
    state = _canvas_state(load_sample("mnist").images[3].numpy())
    state["drawing"]["raw"]["objects"] = [_stroke(40, 60), _stroke(140.5, 30)]
    at.session_state[key] = state
    at.run()
    _ok(at)
    at.switch_page(f"explainer/app/{then}").run()
    _ok(at)
    shown = _canvas_data(at)["initialDrawing"]["objects"]
    f = size_then / size_first  # the canvases' own sizes, as the pages set them
    got = [v for o in shown for v in (o["left"], o["top"], o["scaleX"], o["scaleY"])]
    assert got == pytest.approx([40 * f, 60 * f, f, f, 140.5 * f, 30 * f, f, f])
    assert [o["path"] for o in shown] == [_stroke(0, 0)["path"]] * 2  # drawn in its own box
    assert at.session_state["digit"].source == "your drawing"


# --- 2. the words fit the dataset and the limits are the true ones ----------------------------


def _uploaders(at: AppTest) -> dict[str, object]:
    return {
        e.proto.id.rsplit("-", 1)[-1]: e.proto
        for e in _elements(at._tree)
        if getattr(e, "type", "") == "file_uploader"
    }


def test_fashion_pages_say_an_item_never_a_digit():
    at = _start("fashion_mnist_bn_cnn", "fashion_mnist")
    texts = _texts(at) + [i.value for i in at.info]
    assert any("draw an item" in t for t in texts), texts
    assert not any(" a item" in t or "digit" in t.lower() for t in texts), texts
    assert at.radio(key="source").label == "Where does the item come from?"
    assert "Pick a test item" in at.radio(key="source").options
    at.radio(key="source").set_value("Upload a picture").run()
    assert not any("digit" in t.lower() for t in _texts(at) + [i.value for i in at.info])
    assert "digit" not in _uploaders(at)["upload"].label
    at.switch_page("explainer/app/preprocessing.py").run()
    _ok(at)
    shown = [i.value for i in at.info]
    assert any("upload an item" in t for t in shown), shown
    assert not any("digit" in t.lower() for t in shown), shown
    at.switch_page("explainer/app/draw.py").run()
    at.session_state["canvas"] = _canvas_state(load_sample("mnist").images[3].numpy())
    at.run()
    at.switch_page("explainer/app/preprocessing.py").run()  # with a picture to prepare
    _ok(at)
    said = " ".join(c.value for c in at.caption)
    assert "learned from Fashion-MNIST" in said and "learned from MNIST" not in said, said
    assert "the MNIST way" not in said + " ".join(h.value for h in at.subheader), said


def test_sidebar_counts_fashion_items_as_items():
    from explainer.app.warmup import app_tasks
    from explainer.nets.checkpoints import load_checkpoint, models_dir

    for name, word in (("fashion_mnist_bn_cnn", "items"), ("mnist_fast_cnn", "digits")):
        ckpt = load_checkpoint(models_dir() / f"{name}.pt")
        said = [t.label for t in app_tasks(ckpt)]
        counts = [s for s in said if " on " in s or "reading" in s]
        assert counts and all(s.endswith(word) for s in counts), said
        if word == "items":
            assert not any("digit" in s for s in said), said


def test_training_without_snapshots_speaks_to_a_teacher():
    at = _start("fashion_mnist_bn_cnn", "fashion_mnist")  # no Fashion model keeps its epochs
    at.switch_page("explainer/app/training.py").run()
    _ok(at)
    said = " ".join(i.value for i in at.info)
    assert "Fashion-MNIST" in said and "Train now" in said, said
    assert "`" not in said and "make " not in said and "models/" not in said, said
    assert "Train now" in [b.label for b in at.button]  # the button the message names is there


def test_the_picture_uploader_states_the_limit_it_enforces():
    config = Path(APP).parent / ".streamlit" / "config.toml"
    server_mb = tomllib.loads(config.read_text())["server"]["maxUploadSize"]
    at = _start()
    at.radio(key="source").set_value("Upload a picture").run()
    up = _uploaders(at)["upload"]
    assert up.max_upload_size_mb <= server_mb  # the server refuses anything bigger anyway
    assert f"up to {up.max_upload_size_mb} MB" in up.label, up.label
    docs = (Path(APP).parent / "docs" / "how-to" / "app.md").read_text()
    assert f"(at most {server_mb} MB" in docs  # the checkpoint uploader: the server's limit
    assert f"huge (> {up.max_upload_size_mb} MB)" in docs


# --- 3. Compare: epochs trained and the best epoch, and one model shown alone -----------------


def test_compare_shows_epochs_trained_and_the_best_epoch_apart():
    from explainer.nets.checkpoints import load_checkpoint, models_dir

    at = _start()
    at.switch_page("explainer/app/compare.py").run()
    _ok(at)
    table = at.dataframe[0].value.merge(at.dataframe[1].value, on="model").set_index("model")
    assert "epochs" not in table.columns
    seen = 0
    for path in sorted(models_dir().glob("mnist_*.pt")):
        history = load_checkpoint(path).history
        val = [h["val_accuracy"] for h in history]
        best = int(history[int(np.argmax(val))]["epoch"])  # the reference: the history itself
        row = table.loc[path.stem]
        assert row["epochs trained"] == len(history), path.stem
        assert row["best epoch (kept)"] == best, path.stem
        seen += best != len(history)
    assert seen, "every model's best epoch is its last: the two columns are not told apart"
    assert table.loc["mnist_tinyvgg", "epochs trained"] == 8  # the example
    assert table.loc["mnist_tinyvgg", "best epoch (kept)"] == 6


def test_compare_with_one_model_shows_it_alone():
    from explainer.nets.checkpoints import shipped_checkpoints

    only = [p.stem for p in shipped_checkpoints("fashion_mnist")]
    assert len(only) == 1, only  # the case of the issue: Fashion-MNIST ships one model
    at = _start(only[0], "fashion_mnist")
    at.switch_page("explainer/app/compare.py").run()
    _ok(at)
    said = " ".join(i.value for i in at.info).replace("\\_", "_")  # markdown-escaped name
    assert "one Fashion-MNIST model" in said and only[0] in said, said
    assert list(at.dataframe[0].value["model"]) == only
    assert not [s for s in at.selectbox if s.label.startswith("Model ")]  # no A against B
    assert any(only[0] in h.value and "two models" not in h.value for h in at.subheader)


# --- 4. Mistakes: the similarity caption says what this example's lines do -------------------


def _similarity_lines(at: AppTest) -> tuple[list[str], list[float], list[float]]:
    """The layers and the green / red lines of the Mistakes page's similarity chart."""
    from test_app_truth import _charts

    (spec, rows), *more = [c for c in _charts(at) if "compared with" in json.dumps(c[0])]
    assert not more
    green_name, red_name = spec["encoding"]["color"]["scale"]["domain"]
    layers = spec["encoding"]["x"]["sort"]
    line = {n: {r["layer"]: r["similarity"] for r in rows if r["compared with"] == n}
            for n in (green_name, red_name)}  # fmt: skip
    return layers, [line[green_name][n] for n in layers], [line[red_name][n] for n in layers]


@pytest.mark.parametrize(
    ("model", "dataset"), [("mnist_fast_cnn", "mnist"), ("fashion_mnist_bn_cnn", "fashion_mnist")]
)
def test_mistakes_caption_describes_this_examples_lines(model, dataset):
    at = _start(model, dataset)
    at.switch_page("explainer/app/mistakes.py").run()
    _ok(at)
    layers, green, red = _similarity_lines(at)
    (caption,) = [c.value for c in at.caption if "(green)" in c.value]
    above = [n for n, g, r in zip(layers, green, red, strict=True) if r > g]
    if not above:
        assert "overtakes" not in caption and "rises above" not in caption, caption
        assert "Red stays below green at every layer" in caption, caption
    else:
        assert f"**{above[0]}**" in caption or "from the first layer on" in caption, caption
        assert "stays below" not in caption, caption


def test_similarity_story_says_never_overtakes_and_falls_back():
    from explainer.app.words import similarity_story

    layers = ["conv1", "relu1", "pool1", "fc"]
    never = similarity_story(layers, [0.9, 0.8, 0.7, 0.6], [0.5, 0.5, 0.6, 0.6], "4", "9")
    assert never.startswith("Red stays below green at every layer")  # equal is not above
    stays = similarity_story(layers, [0.9, 0.8, 0.4, 0.3], [0.5, 0.5, 0.6, 0.7], "4", "9")
    assert "overtakes green at **pool1** and stays above" in stays and "a 9" in stays
    back = similarity_story(layers, [0.9, 0.4, 0.7, 0.6], [0.5, 0.5, 0.6, 0.7], "4", "8")
    assert "rises above green at **relu1**, falls back below it at **pool1**" in back
    assert "ends above it" in back and "2 of the 4 layers (relu1, fc)" in back
    first = similarity_story(layers, [0.1, 0.1, 0.1, 0.1], [0.5, 0.5, 0.6, 0.7], "4", "8")
    assert "from the first layer on" in first and "an 8" in first


# --- 5. Export: its defaults work for every kind, and it answers in the page's words ----------


def _render(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Render").click().run()
    _ok(at)


def test_export_defaults_render_every_kind():
    from explainer.app.export import TITLES

    at = _start("mnist_bn_cnn")  # the model whose epoch snapshots ship (the training kind)
    at.switch_page("explainer/app/export.py").run()
    kinds = at.selectbox(key="exp_kind").options
    assert len(kinds) == len(TITLES)
    for label in kinds:
        assert len(label) <= 16, label  # short enough for the picker at every size: never cut
        at.selectbox(key="exp_kind").set_value(label).run()
        kind = at.selectbox(key="exp_kind").value
        title = TITLES[kind].format(item="digit", items="digits")
        assert any(title in c.value for c in at.caption), (kind, [c.value for c in at.caption])
        assert at.number_input(key="exp_seconds").value is None  # the animation's own length
        _render(at)
        assert not at.warning, (kind, at.warning[0].value)
        done = at.session_state["export"]
        assert done["name"].endswith(f"_{kind}.gif") and done["data"][:6] == b"GIF89a"


def test_export_refusal_names_the_seconds_box_with_a_length_that_works():
    import re

    at = _start()
    at.switch_page("explainer/app/export.py").run()
    at.selectbox(key="exp_kind").set_value("Convolution").run()
    at.number_input(key="exp_seconds").set_value(1).run()
    _render(at)
    (said,) = [w.value for w in at.warning]
    assert "--" not in said and "seconds=" not in said and "seconds\\=" not in said, said
    found = re.search(r"set \*Seconds\* to (\d+) or more", said)
    assert found, said
    at.number_input(key="exp_seconds").set_value(int(found.group(1))).run()
    _render(at)  # the length it names is one the animator accepts
    assert not at.warning, at.warning[0].value
    assert at.session_state["export"]["name"].endswith("_convolution.gif")


def test_in_app_words_turns_each_animator_refusal_into_the_pages_words():
    from explainer.animate.length import as_flags, too_short
    from explainer.app.export import in_app_words
    from explainer.text import markdown_safe

    for message in (
        str(too_short("the forward pass", 200, 15, 4)),  # names seconds=
        str(too_short("the forward pass", 2000, 15, 100)),  # past the longest: names fps=
    ):
        for form in (message, as_flags(message), markdown_safe(message, 400)):
            said = in_app_words(form)
            assert "seconds=" not in said and "fps=" not in said and "--" not in said, said
            assert "*Seconds*" in said, said


def test_the_lesson_ends_inviting_another_drawing_on_an_empty_canvas():
    at = _start()
    at.switch_page("explainer/app/lesson.py").run()
    at.session_state["lesson_canvas"] = _canvas_state(load_sample("mnist").images[8].numpy())
    at.run()
    while not at.button(key="lesson_next").disabled:
        at.button(key="lesson_next").click().run()
    _ok(at)
    assert at.title[0].value.endswith("Your turn")
    at.button(key="lesson_again").click().run()
    _ok(at)
    assert at.session_state["lesson_at"] == 0
    assert _canvas_data(at)["initialDrawing"]["objects"] == []
    assert at.session_state["digit"].source == "your drawing"  # kept until a new one is drawn


def test_the_sidebar_shows_model_and_presenter_mode_before_the_uploader():
    at = _start()
    order = [
        getattr(e, "type", "") + ":" + str(getattr(getattr(e, "proto", None), "label", ""))
        for e in _elements(at.sidebar)
    ]
    where = {k: next(i for i, o in enumerate(order) if o.startswith(k)) for k in (
        "selectbox:Model", "toggle:Presenter mode", "file_uploader:Your checkpoint")}  # fmt: skip
    assert where["selectbox:Model"] < where["toggle:Presenter mode"]
    assert where["toggle:Presenter mode"] < where["file_uploader:Your checkpoint"]
    folded = [e for e in _elements(at.sidebar) if getattr(e, "type", "") == "expander"]
    assert any(
        getattr(c, "type", "") == "file_uploader" for f in folded for c in _elements(f)
    )  # folded away: learners never need it


@pytest.mark.parametrize(
    ("model", "before"),
    [("mnist_bn_cnn", "epoch 0"), ("mnist_fast_cnn", "random")],
)
def test_how_it_learned_shows_before_beside_after(model, before):
    """The epoch-0 snapshot where one was kept (models/snapshots/<name>_epoch00.pt), else a
    fresh random copy of the network, beside the trained one."""
    from explainer.analysis.snapshots import snapshot_paths

    kept = any("epoch00" in p.stem for p in snapshot_paths(model, final=False, strict=False))
    assert kept == (before == "epoch 0")  # the reference: what is on disk
    at = _start(model)
    at.switch_page("explainer/app/lesson.py").run()
    while not at.title[0].value.endswith("How it learned"):
        at.button(key="lesson_next").click().run()
    _ok(at)
    heads = [m.value for m in at.markdown if m.value.endswith("training**") or ")**" in m.value]
    assert heads == [f"**Before ({before})**", "**After training**"]

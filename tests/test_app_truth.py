"""The app says only what is true, on MNIST and on Fashion-MNIST, and its lesson mode fits a
15-minute class. Each claim a page makes is checked against the model, the data or the Trace
computed here independently (AppTest for pages, plain calls for the pieces they draw with)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("streamlit")
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest
from test_app import APP, _canvas_state

from explainer import style
from explainer.app import visuals, words
from explainer.app.lesson_steps import GLOSSARY, lesson_steps
from explainer.data import load_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir, save_checkpoint
from explainer.nets.inference import predict_logits
from explainer.tracing.capture import capture, capture_checkpoint


def _start(model: str, dataset: str = "mnist") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state["dataset"] = dataset
    at.session_state["model"] = model
    return at.run()


def _elements(node) -> list:
    out = []
    for child in getattr(node, "children", {}).values():
        out.append(child)
        out += _elements(child)
    return out


def _charts(at: AppTest) -> list[tuple[dict, list[dict]]]:
    """Every Vega-Lite chart on the page: its spec and its data rows."""
    found = []
    for e in _elements(at._tree):
        if getattr(e, "type", "") == "vega_lite_chart":
            rows = convert_arrow_bytes_to_pandas_df(e.proto.data.data).to_dict("records")
            found.append((json.loads(e.proto.spec), rows))
    return found


def _captions(at: AppTest) -> list[str]:
    return [i.caption for e in _elements(at._tree) if type(e).__name__ == "Image"
            for i in e.proto.imgs]  # fmt: skip


def _texts(at: AppTest) -> list[str]:
    out = []
    for kind in ("markdown", "caption", "subheader", "header", "title", "info", "success"):
        out += [str(e.value) for e in getattr(at, kind) if "<style" not in str(e.value)]
    out += [f"{m.label} {m.value}" for m in at.metric]
    for kind in ("number_input", "selectbox", "button", "slider"):
        out += [e.label for e in getattr(at, kind)]
    return out + _captions(at)


def _ok(at: AppTest) -> None:
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert not at.error, at.error[0].value if at.error else ""


# --- Mistakes: the legend says what the caption says; a correct cell is called correct ------


def test_divergence_colours_follow_the_series_not_the_alphabet():
    """True class 5, predicted 3: alphabetically "a correct 3" sorts first, and used to get the
    green meant for the correct 5."""
    series = {"a correct 5 (test digit #1)": [0.9, 0.8], "a correct 3 (test digit #2)": [0.5, 0.9]}
    spec = visuals.divergence_spec(["conv1", "fc"], series)
    scale = spec["encoding"]["color"]["scale"]
    colour = dict(zip(scale["domain"], scale["range"], strict=True))
    assert colour["a correct 5 (test digit #1)"] == style.CORRECT_COLOR  # green: the true class
    assert colour["a correct 3 (test digit #2)"] == style.WRONG_COLOR


def _mistakes_at(at: AppTest, t: int, p: int) -> AppTest:
    at.session_state["cm_chart"] = {"selection": {"cell": [{"ti": t, "pi": p}]}}
    return at.run()


def test_mistakes_page_legend_and_caption_agree_when_the_true_class_is_higher():
    at = _start("mnist_fast_cnn")
    at.switch_page("explainer/app/mistakes.py").run()
    ckpt = load_checkpoint(models_dir() / "mnist_fast_cnn.pt")
    sample = load_sample("mnist")
    preds = predict_logits(ckpt.model, sample.images).argmax(1).numpy()
    labels = sample.labels.numpy()
    pairs = sorted({(int(t), int(p)) for t, p in zip(labels, preds, strict=True) if t > p})
    assert pairs, "no mistake with true class > predicted class in the sample"
    t, p = pairs[0]
    _mistakes_at(at, t, p)
    _ok(at)
    spec, _ = next(c for c in _charts(at) if "similarity" in json.dumps(c[0]))
    scale = spec["encoding"]["color"]["scale"]
    colour = dict(zip(scale["domain"], scale["range"], strict=True))
    green = next(k for k, v in colour.items() if v == style.CORRECT_COLOR)
    red = next(k for k, v in colour.items() if v == style.WRONG_COLOR)
    assert green.startswith(f"a correct {t} ") and red.startswith(f"a correct {p} ")
    assert f"**{t}** (green)" in " ".join(c.value for c in at.caption)


def test_a_correct_cell_is_not_called_a_mistake():
    at = _start("mnist_fast_cnn")
    at.switch_page("explainer/app/mistakes.py").run()
    _mistakes_at(at, 3, 3)
    _ok(at)
    heading = at.subheader[0].value
    assert "read correctly as 3" in heading and "became" not in heading
    assert not [c for c in _captions(at) if "mistake" in c]
    assert any(c.startswith("read correctly as 3") for c in _captions(at))


# --- Training: the live model is scored only on what it never saw --------------------------


def test_live_training_without_data_scores_only_unseen_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path))  # an empty folder: no dataset
    at = _start("mnist_fast_cnn")
    at.switch_page("explainer/app/training.py").run()
    next(b for b in at.button if b.label == "Train now").click().run()
    _ok(at)
    msg = at.success[0].value
    held_out = re.search(r"on the other (\d+) bundled digits, which it never saw", msg)
    assert held_out, msg
    n = int(held_out.group(1))
    live = next(iter(at.session_state["live_models"].values()))
    sample = load_sample("mnist")
    unseen = slice(len(sample) - n, len(sample))
    pred = predict_logits(live.model, sample.images[unseen]).argmax(1)
    acc = float((pred == sample.labels[unseen]).float().mean())
    assert f"{acc:.1%} right on" in msg
    assert n == 100


# --- Grad-CAM reads the rectified maps of the last conv block ------------------------------


def test_grad_cam_uses_the_last_conv_block_after_its_activation(sample):
    from explainer.analysis.attribution import grad_cam, gradcam_layer

    ckpt = load_checkpoint(models_dir() / "mnist_bn_cnn.pt")
    model = ckpt.model.eval()
    assert gradcam_layer(model) == "block3.relu1"
    img = sample.images[0].numpy().astype(np.float32) / 255.0
    # the reference: hook the ReLU module by hand, weigh its maps by the mean gradients
    kept = {}
    handle = model.block3.relu1.register_forward_hook(lambda m, i, o: kept.update(a=o))
    try:
        x = torch.from_numpy(img)[None, None].requires_grad_(True)
        logits = model(x)
    finally:
        handle.remove()
    target = int(logits.argmax())
    (g,) = torch.autograd.grad(logits[0, target], kept["a"])
    ref = torch.relu((g.mean((2, 3), keepdim=True) * kept["a"]).sum(1))[0].detach().numpy()
    got = grad_cam(model, img)
    assert got.layer == "block3.relu1" and got.target == target
    np.testing.assert_allclose(got.raw, ref, rtol=1e-4, atol=1e-6)


def test_grad_cam_gives_the_predicted_class_strong_evidence(sample):
    """On the pre-ReLU maps the predicted class (p ~ 1) had the weakest map of all ten for
    most digits; on the rectified maps it has one of the strongest."""
    from explainer.analysis.attribution import grad_cam_all

    model = load_checkpoint(models_dir() / "mnist_bn_cnn.pt").model
    ranks = []
    for i in range(12):
        maps = grad_cam_all(model, sample.images[i].numpy() / 255.0)
        peaks = np.array([a.raw.max() for a in maps])
        ranks.append(int((peaks > peaks[maps[0].prediction]).sum()))
    assert np.median(ranks) <= 1, ranks  # (on block3.conv1 the median rank was 9: last)


def test_grad_cam_on_a_functional_relu_record():
    from zoo import build_zoo

    from explainer.analysis.attribution import grad_cam, gradcam_layer

    torch.manual_seed(0)
    model = build_zoo("examples").eval()  # F.relu(conv2(...)): a record, not a module
    layer = gradcam_layer(model)
    trace = capture(model, np.zeros((28, 28), np.float32))
    rec = trace.layer(layer)
    assert rec.kind == "relu" and trace.layer(rec.inputs[0]).kind == "conv"
    cam = grad_cam(model, np.random.default_rng(0).random((28, 28), dtype=np.float32))
    assert cam.layer == layer and cam.raw.shape == rec.output.shape[1:]


# --- Probabilities and ties ----------------------------------------------------------------


def test_probabilities_never_read_100_percent_and_ties_are_said():
    p = np.array([0.9999979] + [0.0000021 / 9] * 9, np.float32)
    spec = visuals.probability_chart(p, [str(i) for i in range(10)])
    assert spec["data"]["values"][0]["text"] == "> 99.9%"
    assert words.answer(p, [str(i) for i in range(10)]) == ("0", "> 99.9%")
    flat = np.full(10, 0.1, np.float32)
    assert words.answer(flat, [str(i) for i in range(10)]) == ("tie: 10 classes", "10.0% each")
    tops = [v["top"] for v in visuals.probability_chart(flat, list("0123456789"))["data"]["values"]]
    assert tops == ["prediction"] * 10  # every tied class drawn as the answer, not just "0"


def test_a_model_with_ten_tied_classes_is_not_said_to_predict_0(tmp_path):
    """A network whose last layer is all zeros scores every class the same: the draw page says
    it is a tie, not "0 ✗"."""
    from explainer.nets.architectures import build

    model = build("fast_cnn").eval()
    with torch.no_grad():
        model.classifier.fc.weight.zero_()
        model.classifier.fc.bias.zero_()
    data = save_checkpoint(tmp_path / "flat.pt", model).read_bytes()
    at = _start("mnist_fast_cnn")
    up = next(u for u in at.get("file_uploader") if u.label.startswith("Your checkpoint"))
    up.set_value(("flat.pt", data, "application/octet-stream"))
    at.run()
    at.radio(key="source").set_value("Pick a test digit").run()
    _ok(at)
    pred = next(m for m in at.metric if m.label == "Prediction")
    truth = next(m for m in at.metric if m.label == "True label")
    assert pred.value == "tie: 10 classes" and "10.0% each" in pred.delta
    assert truth.delta == "no single answer"


def test_confusion_shares_are_never_rounded_up_to_100():
    from explainer.analysis.report_figures import confusion_figure, share_text

    assert share_text(977, 980) == "99.7%"
    assert share_text(980, 980) == "100%" and share_text(0, 980) == ""
    assert share_text(9999, 10000) == "> 99.9%" and share_text(1, 2000) == "< 0.1%"
    cm = np.zeros((3, 3), np.int64)
    cm[0] = [977, 2, 1]
    cm[1, 1] = 50
    cm[2] = [0, 1, 99]
    ev = SimpleNamespace(class_names=["0", "1", "2"], confusion=cm, official=True,
                         labels=np.zeros(1130), accuracy=0.99,
                         checkpoint=SimpleNamespace(name="m"))  # fmt: skip
    fig = confusion_figure(ev)
    shown = [t.get_text() for t in fig.axes[1].texts]
    expected = [share_text(int(c), int(row.sum())) for row in cm for c in row]
    assert shown == expected
    assert shown[0] == "99.7%" and shown[4] == "100%" and shown[8] == "99.0%"


# --- Fashion-MNIST: items, not digits; every class name on the charts -----------------------

PAGES = ["draw", "mistakes", "compare", "filters", "training", "export", "lesson"]


@pytest.mark.parametrize("page", PAGES)
def test_fashion_pages_say_item_and_show_every_class_name(page, tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path))  # the bundled sample
    at = _start("fashion_mnist_bn_cnn", "fashion_mnist")
    at.switch_page(f"explainer/app/{page}.py").run()
    _ok(at)
    said = [t for t in _texts(at) if re.search(r"\bdigits?\b", t, re.I)]
    assert not said, said
    names = load_checkpoint(models_dir() / "fashion_mnist_bn_cnn.pt").class_names
    for spec, rows in _charts(at):
        enc = json.dumps(spec)
        for field in ("class", "predicted", "true"):
            if rows and field in rows[0] and f'"{field}"' in enc and rows[0][field] in names:
                assert {r[field] for r in rows} == set(names)
                assert '"labelOverlap": false' in enc
    hints = [i.value for i in at.info if "test set is not on this machine" in i.value]
    for h in hints:
        assert "FashionMNIST/raw/" in h and "MNIST/raw/`" not in h.replace("FashionMNIST", "")


def test_fashion_test_item_is_called_an_item():
    at = _start("fashion_mnist_bn_cnn", "fashion_mnist")
    assert at.session_state["digit"].source.startswith("test item #")


def test_data_hint_names_the_dataset_chosen():
    assert "`FashionMNIST/raw/`" in words.data_hint("fashion_mnist")
    assert "`MNIST/raw/`" in words.data_hint("mnist")
    assert "500 bundled test items" in words.data_hint("fashion_mnist")


# --- Inside the filters: mistakes ringed in a colour no class uses --------------------------


def test_embedding_marks_mistakes_in_a_colour_no_class_has():
    at = _start("mnist_fast_cnn")
    at.switch_page("explainer/app/filters.py").run()
    _ok(at)
    spec, _ = next(c for c in _charts(at) if "layer" in c[0] and "wrong" in json.dumps(c[0]))
    marks = [lay["mark"] for lay in spec["layer"] if "datum.wrong" in json.dumps(lay)]
    colours = {str(m.get(k)).lower() for m in marks for k in ("color", "stroke") if m.get(k)}
    assert colours and not colours & {c.lower() for c in style.CLASS_COLORS}


# --- Layer by layer: the framed cell shows and stays when the filter changes -----------------


def test_ring_shows_on_any_colour_and_keeps_the_cell():
    for fill in (0, 128, 255):
        rgb = np.full((50, 50, 3), fill, np.uint8)
        rgb[20:25, 20:25] = (200, 30, 30)
        out = visuals.ring(rgb, 20, 20, 5, 5, width=2)
        pad = 4
        cell = out[20 + pad : 25 + pad, 20 + pad : 25 + pad]
        assert (cell == (200, 30, 30)).all()  # the cell keeps its colour
        ring = np.concatenate([out[20 + pad - 4 : 20 + pad - 2, 20:30].reshape(-1, 3),
                               out[20 + pad - 2 : 20 + pad, 22:30].reshape(-1, 3)])  # fmt: skip
        assert (ring.max(1) == 0).any() and (ring.min(1) == 255).any()  # black and white


def test_changing_the_filter_keeps_the_chosen_cell():
    at = _start("mnist_fast_cnn")
    at.switch_page("explainer/app/layers.py").run()
    name = "block2.conv1"
    model = load_checkpoint(models_dir() / "mnist_fast_cnn.pt").model
    step = capture(model, np.zeros((28, 28), np.float32)).names().index(name)
    at.selectbox(key="layer_step").set_value(step).run()
    _ok(at)
    at.slider(key=f"cx_row_{name}").set_value(3).run()
    at.slider(key=f"cx_col_{name}").set_value(5).run()
    at.number_input(key=f"cx_ch_{name}").set_value(7).run()
    _ok(at)
    assert at.slider(key=f"cx_row_{name}").value == 3
    assert at.slider(key=f"cx_col_{name}").value == 5


# --- Lesson mode ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bn_trace():
    ckpt = load_checkpoint(models_dir() / "mnist_bn_cnn.pt")
    s = load_sample("mnist")
    return capture_checkpoint(ckpt, s.images[0].numpy() / 255.0, label=int(s.labels[0]))


def test_lesson_steps_fold_bn_activation_dropout_and_flatten(bn_trace):
    steps = lesson_steps(bn_trace)
    layer_steps = [s for s in steps if s.kind == "layer"]
    names = [r.name for s in layer_steps for r in s.records]
    # every record but the input's normalisation, once, in the order it ran
    assert names == [r.name for r in bn_trace.layers if r.kind != "normalize"]
    assert len(steps) <= 16 < len(bn_trace.layers)
    for s in layer_steps:
        kinds = [r.kind for r in s.records]
        if "conv" in kinds:
            assert kinds[:3] == ["conv", "bn", "relu"]
        assert kinds[0] not in ("bn", "relu", "dropout")  # never a step of its own
    assert all(s.records[0].kind != "flatten" or s.records[1].kind == "linear" for s in layer_steps)
    assert [s.kind for s in steps[-3:]] == ["answer", "learning", "end"]


def _sentences(text: str) -> list[str]:
    plain = re.sub(r"\*\*|\(.*?\)", "", text.replace("  \n", " "))
    return [x for x in re.split(r"(?<=[.!?:])\s+", plain) if x.strip()]


def test_lesson_reads_for_a_fourteen_year_old(bn_trace):
    """Short sentences, at most three new words a step, none of the jargon a class has not
    met (it stays in the glossary on hover), one picture idea a step."""
    steps = lesson_steps(bn_trace)
    jargon = ("logit", "batch norm", "padding", "stride", "kernel", "channel", "tensor")
    for s in steps:
        words_ = [len(x.split()) for x in _sentences(s.text)]
        assert max(words_) <= 20, (s.title, s.text)
        assert len(s.terms) <= 3 and set(s.terms) <= set(GLOSSARY)
        assert not any(j in (s.title + s.text).lower() for j in jargon), (s.title, s.text)
    convs = [s for s in steps if s.look == "conv"]
    assert len({s.title for s in convs}) == len(convs)  # never four identical titles
    assert [s.look for s in steps].count("pool") == 3
    assert "Your turn" in steps[-1].title and "another" in steps[-1].text


def test_lesson_words_fit_the_dataset(bn_trace):
    for word in ("digit", "item"):
        text = " ".join(s.title + " " + s.text for s in lesson_steps(bn_trace, word))
        assert word in text and not re.search(r"\ba (item|8)\b|\ban digit\b", text)
        assert ("digit" in text) == (word == "digit")


def test_lesson_numbers_come_from_the_trace(bn_trace):
    steps = lesson_steps(bn_trace)
    conv = next(s for s in steps if s.look == "conv")
    r0, r2 = conv.records[0], conv.records[2]
    assert f"**{r0.params['out_channels']} filters**" in conv.text
    neg = float((bn_trace.layer(r2.inputs[0]).output < 0).mean())
    assert f"({neg:.0%} of them did)" in conv.text
    pool = next(s for s in steps if s.look == "pool" and s.records[0].shape[-1] == 3)
    assert "7 × 7 map becomes 3 × 3" in pool.text and "left out" in pool.text
    answer = steps[-3]
    top = bn_trace.class_names[int(np.argmax(bn_trace.probs))]
    assert f"**{top}** {words.percent(float(bn_trace.probs.max()))}" in answer.text
    used = {t for s in steps for t in s.terms}
    assert {"pixel", "filter", "feature map", "pooling", "softmax", "epoch"} <= used


def test_the_filters_shown_fired_hardest_where_the_box_is(bn_trace):
    """Each conv step's patches: the block's strongest channels (by their peak), the peak's
    cell, and the input pixels that cell reads, against torch's gradient of that cell."""
    ckpt = load_checkpoint(models_dir() / "mnist_bn_cnn.pt")
    model = ckpt.model.eval()
    steps = [s for s in lesson_steps(bn_trace) if s.look == "conv"]
    for s in steps[:4]:
        out = s.records[-1].output
        peaks = out.reshape(out.shape[0], -1).max(axis=1)
        assert [p.channel for p in s.patches] == list(np.argsort(-peaks, kind="stable")[:4])
        for p in s.patches[:2]:
            assert out[p.channel, p.y, p.x] == peaks[p.channel] == p.value
            x = torch.tensor(bn_trace.image, dtype=torch.float32)[None, None].requires_grad_()
            seen = {}
            handle = dict(model.named_modules())[s.records[0].name].register_forward_hook(
                lambda _m, _i, o, seen=seen: seen.setdefault("o", o)
            )
            model(x)
            handle.remove()
            seen["o"][0, p.channel, p.y, p.x].backward()
            rows, cols = np.nonzero(x.grad[0, 0].numpy())
            top, left, bottom, right = p.box
            assert rows.size, "the cell reads no pixel"
            assert top <= rows.min() and rows.max() < bottom and left <= cols.min()
            assert cols.max() < right
    first = steps[0].patches[0]  # the first 3×3 convolution reads exactly a 3×3 window
    assert (first.box[2] - first.box[0], first.box[3] - first.box[1]) == (3, 3) or 0 in first.box


def test_lesson_page_walks_every_step_with_the_glossary_on_hover():
    at = _start("mnist_bn_cnn")
    at.switch_page("explainer/app/lesson.py").run()
    _ok(at)
    digit = at.session_state["digit"]
    ckpt = load_checkpoint(models_dir() / "mnist_bn_cnn.pt")
    steps = lesson_steps(capture_checkpoint(ckpt, digit.image))
    hovered = set()
    for i, step in enumerate(steps):
        assert at.title[0].value == f"{i + 1}. {step.title}"
        for m in at.markdown:
            if m.proto.help:
                for term in re.findall(r"\*\*(.+?)\*\*", m.value):
                    assert f"**{term}**: {GLOSSARY[term]}" in m.proto.help
                    hovered.add(term)
        nxt = next(b for b in at.button if b.label == "Next ▶")
        assert nxt.disabled == (i == len(steps) - 1)
        if i < len(steps) - 1:
            nxt.click().run()
            _ok(at)
    assert {"filter", "pooling", "softmax", "epoch"} <= hovered
    next(b for b in at.button if b.label == "◀ Previous").click().run()
    assert at.title[0].value.startswith(f"{len(steps) - 1}. ")


def test_a_drawing_on_the_lesson_canvas_is_the_digit_explained():
    at = _start("mnist_fast_cnn")
    at.switch_page("explainer/app/lesson.py").run()
    img = load_sample("mnist").images[8].numpy()
    at.session_state["lesson_canvas"] = _canvas_state(img)
    at.run()
    _ok(at)
    digit = at.session_state["digit"]
    assert digit.source == "your drawing"
    from explainer.reading.preprocess import preprocess

    big = np.kron(img, np.ones((10, 10), np.uint8))
    expected = preprocess(np.dstack([big, big, big, np.full_like(big, 255)])).image
    np.testing.assert_allclose(digit.image, expected, atol=1e-6)

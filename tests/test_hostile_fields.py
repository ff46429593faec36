"""Files whose fields have the right type at the top but not inside, and models with other
than ten classes.

Every bad file here is made from a good one: a real trace or checkpoint is saved, then one
field is damaged at a time from a table of (field, bad value). Each must be refused when loaded
with one line naming the field (a :class:`TraceError` / :class:`CheckpointError`), never a
traceback from deep inside a picture."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from explainer.errors import ExplainerError
from explainer.nets.architectures import build
from explainer.nets.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from explainer.nets.user_code import check_plain
from explainer.tracing.capture import capture
from explainer.tracing.trace import Trace, TraceError

# --- traces -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_trace(tmp_path_factory, sample):
    torch.manual_seed(0)
    model = build("fast_cnn").eval()
    trace = capture(model, sample.floats()[3, 0], label=int(sample.labels[3]))
    return trace.save(tmp_path_factory.mktemp("good") / "good.npz")


def _index(header: dict, kind: str, nth: int = 0) -> int:
    return [i for i, r in enumerate(header["layers"]) if r["kind"] == kind][nth]


def _params(kind: str, key: str, value, nth: int = 0):
    def edit(header, arrays):
        header["layers"][_index(header, kind, nth)]["params"][key] = value

    return edit


def _head(key: str, value):
    def edit(header, arrays):
        header[key] = value

    return edit


def _array(name, make):
    """Replace one array: ``name`` is a key or a function of the header giving one."""

    def edit(header, arrays):
        key = name(header) if callable(name) else name
        arrays[key] = make(arrays[key])

    return edit


def _deep(n: int):
    value: list = []
    for _ in range(n):
        value = [value]
    return value


# (what is damaged, the field the refusal must name, the damage)
TRACE_DAMAGE = [
    ("label inf", "label", _head("label", math.inf)),
    ("label text", "label", _head("label", "7")),
    ("label fraction", "label", _head("label", 2.5)),
    ("version inf", "version", _head("version", math.inf)),
    ("version text", "version", _head("version", "2")),
    ("temperature inf", "temperature", _head("temperature", math.inf)),
    ("kernel int", "kernel_size", _params("conv", "kernel_size", 5)),
    ("kernel zero", "kernel_size", _params("conv", "kernel_size", [0, 0])),
    ("pool kernel int", "kernel_size", _params("pool", "kernel_size", 2)),
    ("stride text", "stride", _params("conv", "stride", "2")),
    ("stride zero", "stride", _params("conv", "stride", [0, 0])),
    ("pool stride zero", "stride", _params("pool", "stride", [0, 0])),
    ("dilation negative", "dilation", _params("conv", "dilation", [-1, -1])),
    ("groups zero", "groups", _params("conv", "groups", 0)),
    ("groups text", "groups", _params("conv", "groups", "1")),
    ("groups not dividing", "in_channels", _params("conv", "groups", 3, nth=1)),
    ("padding 6000", "padding", _params("conv", "padding", [6000, 6000])),
    ("padding not matching output", "output", _params("conv", "padding", [4, 4])),
    ("bn eps text", "eps", _params("bn", "eps", "1e-5")),
    ("bn eps negative", "eps", _params("bn", "eps", -1.0)),
    ("bn eps inf", "eps", _params("bn", "eps", math.inf)),
    ("in channels", "weight", _params("conv", "in_channels", 8, nth=1)),
    (
        "weight channels",
        "weight",
        _array(lambda h: f"w{_index(h, 'conv', 1)}", lambda w: w[:, :8].copy()),
    ),
    (
        "linear weight",
        "weight",
        _array(lambda h: f"w{_index(h, 'linear')}", lambda w: w[:, :100].copy()),
    ),
    ("image 1024", "image", _array("image", lambda a: np.zeros((1024, 1024), np.float32))),
    (
        "map 4000",
        "output",
        _array(lambda h: f"out{_index(h, 'relu')}", lambda a: np.zeros((1, 4000, 4000), np.uint8)),
    ),
    ("meta nested 40", "header", _head("meta", {"x": _deep(40)})),
]


def _save_damaged(good, path, edit=None, text=None):
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["header"]))
    if edit:
        edit(header, arrays)
    arrays["header"] = np.array(text if text is not None else json.dumps(header))
    np.savez(path, **arrays)
    return path


def _refused(load, path, field: str, error=ExplainerError) -> str:
    with pytest.raises(error) as info:
        load(path)
    msg = str(info.value)
    assert "\n" not in msg and field in msg, msg
    return msg


def test_the_undamaged_copy_loads(good_trace, tmp_path):
    """The generator itself changes nothing: a copy made without damage loads the same."""
    trace = Trace.load(_save_damaged(good_trace, tmp_path / "copy.npz"))
    np.testing.assert_array_equal(trace.logits, Trace.load(good_trace).logits)


@pytest.mark.parametrize(("field", "edit"), [d[1:] for d in TRACE_DAMAGE],
                         ids=[d[0] for d in TRACE_DAMAGE])  # fmt: skip
def test_a_trace_field_damaged_inside_is_refused_naming_it(good_trace, tmp_path, field, edit):
    _refused(Trace.load, _save_damaged(good_trace, tmp_path / "bad.npz", edit), field, TraceError)


@pytest.mark.parametrize("depth", [100, 5_000, 100_000])
def test_a_header_nested_deep_is_refused_in_one_line(good_trace, tmp_path, depth):
    with np.load(good_trace) as z:
        text = str(z["header"])
    deep = text.replace('"meta": {}', '"meta": {"x": ' + "[" * depth + "]" * depth + "}", 1)
    assert deep != text
    path = _save_damaged(good_trace, tmp_path / "deep.npz", text=deep)
    assert "nests" in _refused(Trace.load, path, "header", TraceError)


# --- checkpoints ---------------------------------------------------------------------------


CHECKPOINT_DAMAGE = [
    ("version inf", "version", {"version": math.inf}),
    ("epoch inf", "epoch", {"epoch": math.inf}),
    ("history without epoch", "history", {"history": [{"train_loss": 0.3}]}),
    ("history epoch None", "history", {"history": [{"epoch": None}]}),
    ("history value None", "history", {"history": [{"epoch": 1, "val_loss": None}]}),
    ("history value text", "history", {"history": [{"epoch": 1, "val_loss": "0.3"}]}),
    ("history epoch fraction", "history", {"history": [{"epoch": 1.5}]}),
    ("metrics text", "metrics", {"metrics": {"test_accuracy": "99%"}}),
    ("metrics list of text", "metrics", {"metrics": {"per_class_accuracy": ["a"]}}),
    ("metrics nested", "metrics", {"metrics": {"test_accuracy": {"value": 0.9}}}),
    ("arch_kwargs nested", "arch_kwargs", {"arch_kwargs": {"w": _deep(200)}}),
    ("config nested", "config", {"config": {"w": _deep(200)}}),
    ("config lr text", "config", {"config": {"lr": "fast"}}),
    ("config epochs None", "config", {"config": {"epochs": None}}),
    ("train_seconds inf", "train_seconds", {"train_seconds": math.inf}),
    ("train_seconds nan", "train_seconds", {"train_seconds": math.nan}),
    ("extra field nested", "notes", {"notes": _deep(200)}),
    ("normalization std text", "normalization", {"normalization": {"mean": 0.1, "std": "1"}}),
]


@pytest.mark.parametrize(("field", "change"), [d[1:] for d in CHECKPOINT_DAMAGE],
                         ids=[d[0] for d in CHECKPOINT_DAMAGE])  # fmt: skip
def test_a_checkpoint_field_damaged_inside_is_refused_naming_it(
    good_payload, tmp_path, field, change
):
    path = tmp_path / "bad.pt"
    torch.save({**good_payload, **change}, path)
    _refused(load_checkpoint, path, field, CheckpointError)


def test_weights_whose_channels_do_not_match_are_refused_naming_the_tensor(good_payload, tmp_path):
    state = dict(good_payload["state_dict"])
    name = "block2.conv1.weight"
    state[name] = state[name][:, :8].clone()
    path = tmp_path / "bad.pt"
    torch.save({**good_payload, "state_dict": state}, path)
    _refused(load_checkpoint, path, name, CheckpointError)


def test_the_undamaged_checkpoint_loads(good_payload, tmp_path):
    path = tmp_path / "copy.pt"
    torch.save(dict(good_payload), path)
    assert load_checkpoint(path).history == good_payload["history"]


@pytest.mark.parametrize("depth", [33, 200, 100_000])
def test_constructor_arguments_nested_deep_are_refused_in_one_line(depth):
    """What a command line (--model-kwargs) or a checkpoint gives: refused at 33 levels, even
    100,000 deep (no RecursionError); 32 levels are still plain settings."""
    check_plain({"w": _deep(30)}, "model_kwargs")  # 32 levels with the dict
    with pytest.raises(ExplainerError, match=r"model_kwargs.*nests") as info:
        check_plain({"w": _deep(depth)}, "model_kwargs")
    assert "\n" not in str(info.value)


# --- models with other than ten classes ------------------------------------------------------

SUBSET_NET = '''
from torch import nn


class SubsetNet(nn.Module):
    """A tiny CNN with any number of classes."""

    def __init__(self, classes: int = 3):
        super().__init__()
        self.model_kwargs = {"classes": classes}
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(4)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * 49, classes)

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.relu(self.conv(x)))))
'''
CLASSES = (3, 1000)


@pytest.fixture(scope="module")
def subset_models(tmp_path_factory):
    """``{k: (checkpoint path, code spec)}`` for a model with ``k`` outputs."""
    from explainer.nets.user_code import import_class

    folder = tmp_path_factory.mktemp("subset")
    (folder / "subset_net.py").write_text(SUBSET_NET)
    spec = f"{folder / 'subset_net.py'}:SubsetNet"
    made = {}
    for k in CLASSES:
        torch.manual_seed(k)
        model = import_class(spec)(k).eval()
        names = [f"kind {i}" for i in range(k)]
        made[k] = (save_checkpoint(folder / f"subset{k}.pt", model, class_names=names), spec)
    return made


def _subset(subset_models, k):
    path, spec = subset_models[k]
    return load_checkpoint(path, code=spec)


@pytest.mark.parametrize("k", CLASSES)
def test_a_model_of_k_classes_is_captured_with_its_own_class_names(subset_models, sample, k):
    ckpt = _subset(subset_models, k)
    image = sample.floats()[0, 0]
    trace = capture(ckpt.model, image, class_names=ckpt.class_names)
    with torch.no_grad():
        want = ckpt.model(image[None, None]).numpy()[0]
    np.testing.assert_allclose(trace.logits, want, rtol=1e-5, atol=1e-6)
    assert trace.class_names == [f"kind {i}" for i in range(k)]
    assert trace.predicted_name == f"kind {int(want.argmax())}"


def test_a_label_beyond_the_models_classes_is_refused_by_capture(subset_models, sample):
    ckpt = _subset(subset_models, 3)
    with pytest.raises(ExplainerError, match="3 outputs") as info:
        capture(ckpt.model, sample.floats()[0, 0], label=7)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("step", ["capture", "evaluate"])
def test_class_names_that_do_not_match_the_outputs_are_refused(subset_models, tmp_path, sample,
                                                              step):  # fmt: skip
    """A 1000-output model saved without class names gets the dataset's ten: refused in one
    line instead of pictures that index past the names."""
    from explainer.analysis.evaluate import evaluate
    from explainer.tracing.capture import capture_checkpoint

    model = _subset(subset_models, 1000).model
    path, spec = save_checkpoint(tmp_path / "unnamed.pt", model), subset_models[1000][1]
    ckpt = load_checkpoint(path, code=spec)
    assert len(ckpt.class_names) == 10
    with pytest.raises(ExplainerError, match="1000 outputs") as info:
        if step == "capture":
            capture_checkpoint(ckpt, sample.floats()[0, 0])
        else:
            evaluate(ckpt, sample_only=True)
    assert "\n" not in str(info.value)


def test_evaluate_refuses_a_model_with_fewer_outputs_than_the_datas_labels(subset_models):
    from explainer.analysis.evaluate import evaluate

    with pytest.raises(ExplainerError, match=r"3 outputs.*labels 0 to 9") as info:
        evaluate(_subset(subset_models, 3), sample_only=True)
    assert "\n" not in str(info.value)


def test_evaluate_runs_a_model_with_more_outputs_than_the_data(subset_models, sample):
    from explainer.analysis.evaluate import evaluate, mistake_report

    ckpt = _subset(subset_models, 1000)
    ev = evaluate(ckpt, sample_only=True)
    with torch.no_grad():
        pred = ckpt.model(sample.floats()).argmax(1).numpy()
    assert ev.accuracy == pytest.approx(float((pred == sample.labels.numpy()).mean()))
    report = mistake_report(ev, limit=8)
    assert report.errors == int((pred != sample.labels.numpy()).sum())


@pytest.mark.parametrize("k", CLASSES)
@pytest.mark.parametrize("kind", ["forward", "dataflow", "convolution"])
def test_every_trace_render_kind_draws_a_model_of_k_classes(subset_models, sample, kind, k):
    from explainer.animate import CountingWriter, render_animation

    ckpt = _subset(subset_models, k)
    trace = capture(ckpt.model, sample.floats()[0, 0], class_names=ckpt.class_names)
    counter = CountingWriter()
    render_animation(kind, trace, "x.gif", fps=2, size=(800, 450), writer=counter)
    assert counter.frames > 1 and counter.shape == (450, 800, 3)


@pytest.mark.parametrize("k", CLASSES)
def test_the_dataflow_softmax_shows_every_class_or_the_most_probable_twenty(
    subset_models, sample, k
):
    from explainer.animate.dataflow_layout import blocks_of

    ckpt = _subset(subset_models, k)
    trace = capture(ckpt.model, sample.floats()[0, 0], class_names=ckpt.class_names)
    with torch.no_grad():
        probs = torch.softmax(ckpt.model(sample.floats()[:1]), 1).numpy()[0]
    rows = blocks_of(trace)[-1].values
    want = probs if k <= 20 else np.sort(probs)[::-1][:20]
    np.testing.assert_allclose(rows, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["training", "mistakes"])
def test_the_report_render_kinds_draw_a_model_of_many_classes(subset_models, sample, kind):
    from explainer.analysis.evaluate import evaluate, mistake_report
    from explainer.analysis.snapshots import training_evolution
    from explainer.animate import build_animation

    ckpt = _subset(subset_models, 1000)
    image, label = sample.floats()[0, 0], int(sample.labels[0])
    trace = capture(ckpt.model, image, label=label, class_names=ckpt.class_names)
    if kind == "training":
        early = _subset(subset_models, 1000)
        ckpt.epoch = 1
        some = {"images": sample.images[:40], "labels": sample.labels[:40]}
        evolution = training_evolution([early, ckpt], image.numpy(), label=label, **some)
        reel = build_animation(kind, trace, evolution=evolution, fps=2, seconds=2, size=(800, 450))
    else:
        report = mistake_report(evaluate(ckpt, sample_only=True), limit=4)
        reel = build_animation(kind, None, report=report, fps=2, seconds=6, size=(800, 450))
    assert reel.n_frames > 1


APP_PAGES = ["draw", "layers", "filters", "lesson", "mistakes", "compare", "training", "export"]


def test_the_app_shows_every_page_of_a_model_with_many_classes(subset_models, monkeypatch):
    from test_app import APP, _page_ok

    path, spec = subset_models[1000]
    monkeypatch.setenv("EXPLAINER_APP_MODEL", str(path))
    monkeypatch.setenv("EXPLAINER_APP_CODE", spec)
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert at.selectbox(key="model").value == path.stem
    for page in APP_PAGES:
        at.switch_page(f"explainer/app/{page}.py").run()
        _page_ok(at)


def test_the_app_refuses_a_model_with_fewer_outputs_than_classes_in_one_line(
    subset_models, monkeypatch
):
    from test_app import APP

    path, spec = subset_models[3]
    monkeypatch.setenv("EXPLAINER_APP_MODEL", str(path))
    monkeypatch.setenv("EXPLAINER_APP_CODE", spec)
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception
    assert path.stem not in at.selectbox(key="model").options
    said = [e.value for e in at.error if "3 outputs" in e.value]
    assert said and "\n" not in said[0], [e.value for e in at.error]
    for page in ("layers", "mistakes"):  # the shipped models still work
        at.switch_page(f"explainer/app/{page}.py").run()
        assert not at.exception

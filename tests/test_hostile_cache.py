"""Forged or damaged entries of the results cache: the file is a valid ``.npz`` written for the
right key, but one array or one plain value is wrong (text where a number is, NaN, a negative
fraction, the wrong shape, a report of other predictions). Each is ignored and recomputed: the
result equals the function run directly, never a crash and never a wrong accuracy."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from explainer.analysis import cache, results
from explainer.analysis.embedding_map import embedding
from explainer.analysis.evaluate import evaluate
from explainer.analysis.top_digits import top_activating
from explainer.data import load_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    """A copy of mnist_fast_cnn scored on the bundled 500 digits (no dataset on disk)."""
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))
    src = models_dir() / "mnist_fast_cnn.pt"
    dst = tmp_path / "mnist_fast_cnn.pt"
    shutil.copy(src, dst)
    return load_checkpoint(dst)


def _forge(path, edit) -> None:
    """Rewrite the cache file at ``path`` with ``edit(arrays, meta)`` applied, key kept."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays[cache.META_FIELD].tobytes().decode())
    edit(arrays, meta)
    arrays[cache.META_FIELD] = np.frombuffer(json.dumps(meta).encode(), np.uint8).copy()
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def _set_array(name, make):
    def edit(arrays, meta):
        arrays[name] = make(arrays[name])

    return edit


def _set_meta(*path_and_value):
    *path, value = path_and_value

    def edit(arrays, meta):
        node = meta
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value

    return edit


def _with(a, index, value):
    a = a.astype(np.float32) if a.dtype.kind == "f" else a.copy()
    a[index] = value
    return a


EVALUATION_FORGERIES = [
    ("logits NaN", _set_array("logits", lambda z: _with(z, (0, 0), np.nan))),
    ("logits inf", _set_array("logits", lambda z: _with(z, (3, 1), -np.inf))),
    ("logits rows", _set_array("logits", lambda z: z[:-1])),
    ("logits one class", _set_array("logits", lambda z: z[:, :1])),
    ("logits flat", _set_array("logits", lambda z: z.ravel())),
    ("logits integers", _set_array("logits", lambda z: z.astype(np.int64))),
    ("loss text", _set_meta("loss", "0.3")),
    ("loss NaN", _set_meta("loss", math.nan)),
    ("loss negative", _set_meta("loss", -1.0)),
    ("official text", _set_meta("official", "yes")),
    ("report a list", _set_meta("report", [1, 2])),
    ("report class missing", lambda a, m: m["report"].pop("3")),
    ("precision text", _set_meta("report", "7", "precision", "high")),
    ("recall negative", _set_meta("report", "2", "recall", -0.5)),
    ("f1 above one", _set_meta("report", "2", "f1-score", 3.0)),
    ("support wrong", _set_meta("report", "1", "support", 0)),
    ("accuracy zero", _set_meta("report", "accuracy", 0.0)),
    ("accuracy text", _set_meta("report", "accuracy", "99%")),
    ("average missing", lambda a, m: m["report"].pop("macro avg")),
]


def _one(root, ckpt, stem):
    (path,) = (root / ckpt.sha256).glob(f"{stem}*.npz")
    return path


@pytest.mark.parametrize("edit", [f[1] for f in EVALUATION_FORGERIES],
                         ids=[f[0] for f in EVALUATION_FORGERIES])  # fmt: skip
def test_a_forged_evaluation_entry_is_recomputed(ckpt, tmp_path, edit):
    root = tmp_path / "cache"
    results.evaluation(ckpt, cache=cache.ResultCache(root, reports=None))
    _forge(_one(root, ckpt, "evaluate"), edit)
    store = cache.ResultCache(root, reports=None)
    got = results.evaluation(ckpt, cache=store)
    assert store.computed == 1 and store.hits == 0
    ref = evaluate(ckpt)
    np.testing.assert_allclose(got.probs, ref.probs, atol=1e-6)
    assert got.accuracy == ref.accuracy and got.report == ref.report
    assert got.loss == pytest.approx(ref.loss)
    again = cache.ResultCache(root, reports=None)  # the forged file was replaced
    results.evaluation(ckpt, cache=again)
    assert again.hits == 1 and again.computed == 0


def test_the_unforged_copy_is_read(ckpt, tmp_path):
    """The forger itself changes nothing: an entry rewritten without an edit is a hit."""
    root = tmp_path / "cache"
    results.evaluation(ckpt, cache=cache.ResultCache(root, reports=None))
    _forge(_one(root, ckpt, "evaluate"), lambda a, m: None)
    store = cache.ResultCache(root, reports=None)
    results.evaluation(ckpt, cache=store)
    assert store.hits == 1 and store.computed == 0


@pytest.fixture
def digits():
    s = load_sample()
    return s.images.numpy(), s.labels.numpy()


TOP_FORGERIES = [
    ("values NaN", _set_array("values", lambda v: _with(v, (0, 0), np.nan))),
    ("indices negative", _set_array("indices", lambda i: _with(i, (0, 0), -1))),
    ("indices past the digits", _set_array("indices", lambda i: _with(i, (0, 0), 10**6))),
    ("boxes outside", _set_array("boxes", lambda b: _with(b, (0, 0, 2), 400))),
    ("boxes empty", _set_array("boxes", lambda b: _with(b, (0, 0, 2), b[0, 0, 0]))),
    ("indices floats", _set_array("indices", lambda i: i.astype(np.float32))),
    ("values short", _set_array("values", lambda v: v[:, :-1])),
    ("positions floats", _set_array("positions", lambda p: p.astype(np.float64))),
    ("channels short", _set_array("channels", lambda c: c[:-1])),
    ("patch size text", _set_meta("patch_size", "5")),
    ("patch size zero", _set_meta("patch_size", 0)),
    ("patch size huge", _set_meta("patch_size", 10**9)),
    ("layer a number", _set_meta("layer", 3)),
]


def _conv(ckpt) -> str:
    return next(n for n, m in ckpt.model.named_modules() if isinstance(m, torch.nn.Conv2d))


@pytest.mark.parametrize("edit", [f[1] for f in TOP_FORGERIES], ids=[f[0] for f in TOP_FORGERIES])
def test_a_forged_top_digits_entry_is_recomputed(ckpt, tmp_path, digits, edit):
    images, labels = digits
    root, layer = tmp_path / "cache", _conv(ckpt)
    results.top_activating(ckpt, images, layer, k=4, labels=labels, cache=cache.ResultCache(root))
    _forge(_one(root, ckpt, "top_activating"), edit)
    store = cache.ResultCache(root)
    got = results.top_activating(ckpt, images, layer, k=4, labels=labels, cache=store)
    assert store.computed == 1
    ref = top_activating(ckpt.model, images, layer, k=4, labels=labels)
    for f in ("indices", "values", "positions", "boxes", "images", "labels", "channels"):
        np.testing.assert_allclose(getattr(got, f), getattr(ref, f), atol=1e-6, err_msg=f)
    assert (got.layer, got.patch_size) == (ref.layer, ref.patch_size)


EMBEDDING_FORGERIES = [
    ("points NaN", _set_array("points", lambda p: _with(p, (0, 0), np.nan))),
    ("points three columns", _set_array("points", lambda p: np.hstack([p, p[:, :1]]))),
    ("labels floats", _set_array("labels", lambda y: y.astype(np.float64))),
    ("predictions short", _set_array("predictions", lambda y: y[:-1])),
    ("indices past the digits", _set_array("indices", lambda i: _with(i, 0, 10**6))),
    ("points rows", _set_array("points", lambda p: p[:-1])),
    ("explained NaN", _set_array("explained", lambda e: _with(e, 0, np.nan))),
    ("layer a list", _set_meta("layer", ["x"])),
    ("method other", _set_meta("method", "tsne")),
]


@pytest.mark.parametrize("edit", [f[1] for f in EMBEDDING_FORGERIES],
                         ids=[f[0] for f in EMBEDDING_FORGERIES])  # fmt: skip
def test_a_forged_embedding_entry_is_recomputed(ckpt, tmp_path, digits, edit):
    images, labels = digits
    root = tmp_path / "cache"
    results.embedding(ckpt, images, labels, "pca", 200, cache=cache.ResultCache(root))
    _forge(_one(root, ckpt, "embedding"), edit)
    store = cache.ResultCache(root)
    got = results.embedding(ckpt, images, labels, "pca", 200, cache=store)
    assert store.computed == 1
    ref = embedding(ckpt.model, images, labels, method="pca", n=200)
    for f in ("points", "labels", "predictions", "indices", "explained"):
        np.testing.assert_allclose(getattr(got, f), getattr(ref, f), atol=1e-5, err_msg=f)
    assert (got.layer, got.method) == (ref.layer, ref.method)

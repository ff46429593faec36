"""Shipped reports (models/reports/<sha256>/, written by `make reports`): read instead of
computing, only when their key matches (checkpoint sha256, digits, function, parameters), never
when damaged, valid across library edits that do not touch their content, and in the wheel.

The references are independent of the cache: the model run directly on the test digits, a
copy of the checkpoint, the pyproject's package-data patterns matched with glob.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch

from explainer.analysis import cache, results
from explainer.app.warmup import filter_page_layers
from explainer.data import find_data_dir, load_test_or_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir, shipped_checkpoints

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def official():
    if find_data_dir("mnist") is None:
        pytest.skip("the official MNIST test set is not on disk (EXPLAINER_DATA_DIR)")


def _shipped(name: str):
    path = models_dir() / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"{path} has not been trained yet (make models)")
    ckpt = load_checkpoint(path)
    if not (cache.reports_dir() / ckpt.sha256).is_dir():
        pytest.skip(f"no shipped reports for {name} (make reports)")
    return ckpt


def _no_compute(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("computed although a shipped report exists")

    monkeypatch.setattr("explainer.analysis.evaluate.evaluate", fail)
    monkeypatch.setattr("explainer.analysis.top_digits.top_activating", fail)
    monkeypatch.setattr("explainer.analysis.embedding_map.embedding", fail)


def _direct_predictions(ckpt, index: np.ndarray) -> np.ndarray:
    split, _ = load_test_or_sample(ckpt.dataset)
    x = split.subset(index).floats()  # (40, 1, 28, 28) in [0, 1]
    with torch.no_grad():
        return ckpt.model.eval()(x).argmax(1).numpy()


def test_every_shipped_model_has_its_reports(official):
    for path in shipped_checkpoints():
        sha = load_checkpoint(path).sha256
        assert list((cache.reports_dir() / sha).glob("evaluate.*.npz")), (
            f"{path.stem}: make reports"
        )


def test_a_shipped_report_is_read_without_computing(official, monkeypatch, tmp_path):
    ckpt = _shipped("mnist_fast_cnn")
    _no_compute(monkeypatch)
    store = cache.ResultCache(tmp_path / "cache")
    ev = results.evaluation(ckpt, cache=store)
    assert store.report_hits == 1 and store.computed == 0 and ev.official
    assert len(ev.labels) == 10_000
    pick = np.random.default_rng(0).choice(len(ev.labels), 40, replace=False)
    np.testing.assert_array_equal(ev.predicted[pick], _direct_predictions(ckpt, pick))
    images, labels = load_test_or_sample("mnist")[0].images.numpy(), ev.labels
    layer = filter_page_layers(ckpt)[0]
    top = results.top_activating(ckpt, images, layer, k=6, labels=labels, cache=store)
    assert store.report_hits == 2 and store.computed == 0
    assert top.indices.shape[1] == 6
    np.testing.assert_array_equal(top.labels, labels[top.indices])
    np.testing.assert_allclose(top.images[0, 0], images[top.indices[0, 0]] / 255.0, atol=1e-6)
    assert not (tmp_path / "cache").exists()  # nothing copied into the user's cache


def test_shipped_reports_match_a_fresh_computation(official, tmp_path):
    """A change that alters what a function computes must bump its version (``evaluate.v2``):
    a report that no longer matches the code goes red here instead of being shown."""
    ckpt = _shipped("mnist_linear")
    shipped = results.evaluation(ckpt, cache=cache.ResultCache(tmp_path / "a"))
    fresh_store = cache.ResultCache(tmp_path / "b", reports=None)
    fresh = results.evaluation(ckpt, cache=fresh_store)
    assert fresh_store.computed == 1
    np.testing.assert_allclose(shipped.logits, fresh.logits, rtol=0, atol=1e-4)
    assert shipped.report.keys() == fresh.report.keys()
    for name, value in fresh.report.items():  # per class: precision, recall, f1, support
        assert shipped.report[name] == pytest.approx(value), name
    assert shipped.loss == pytest.approx(fresh.loss, abs=1e-5)


@pytest.mark.slow
def test_shipped_filter_reports_match_a_fresh_computation(official, tmp_path):
    ckpt = _shipped("mnist_fast_cnn")
    split, _ = load_test_or_sample("mnist")
    images, labels = split.images.numpy(), split.labels.numpy()
    stores = cache.ResultCache(tmp_path / "a"), cache.ResultCache(tmp_path / "b", reports=None)
    layer = filter_page_layers(ckpt)[0]
    a, b = (
        results.top_activating(ckpt, images, layer, k=6, labels=labels, cache=s) for s in stores
    )
    assert stores[0].report_hits == 1 and stores[1].computed == 1
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(a.values, b.values, rtol=1e-4)


def test_every_filter_page_result_is_shipped(official, monkeypatch, tmp_path):
    """Inside the filters opens on any shipped model without computing: every conv layer's
    top digits and both maps are read from the reports (the pictures from the test set)."""
    from explainer.app.warmup import EMBED_MAX, METHODS, TOP_K, eval_arrays

    _no_compute(monkeypatch)
    for path in shipped_checkpoints():
        ckpt = load_checkpoint(path)
        if find_data_dir(ckpt.dataset) is None:
            continue
        store = cache.ResultCache(tmp_path / "cache")
        images, labels = eval_arrays(ckpt.dataset)
        for layer in filter_page_layers(ckpt):
            top = results.top_activating(ckpt, images, layer, k=TOP_K, labels=labels, cache=store)
            np.testing.assert_array_equal(top.labels, labels[top.indices])
            np.testing.assert_array_equal(top.images[:, 0] * 255, images[top.indices[:, 0]])
        for method in METHODS:
            emb = results.embedding(ckpt, images, labels, method, EMBED_MAX, cache=store)
            assert emb.points.shape == (EMBED_MAX, 2)
        assert store.computed == 0, path.stem
        assert not (tmp_path / "cache").exists()


def test_a_shipped_map_matches_a_fresh_computation(official, tmp_path):
    ckpt = _shipped("mnist_mlp")
    split, _ = load_test_or_sample("mnist")
    images, labels = split.images.numpy(), split.labels.numpy()
    stores = cache.ResultCache(tmp_path / "a"), cache.ResultCache(tmp_path / "b", reports=None)
    a, b = (results.embedding(ckpt, images, labels, "pca", 2000, cache=s) for s in stores)
    assert stores[0].report_hits == 1 and stores[1].computed == 1
    np.testing.assert_allclose(a.points, b.points, atol=1e-4)
    np.testing.assert_array_equal(a.predictions, b.predictions)
    np.testing.assert_array_equal(a.predictions, _direct_predictions(ckpt, np.arange(2000)))


def _copy_report(ckpt, tmp_path: Path) -> tuple[Path, Path]:
    """A reports folder in ``tmp_path`` holding a copy of ``ckpt``'s evaluation report; the
    folder and the copy."""
    (src,) = (cache.reports_dir() / ckpt.sha256).glob("evaluate.*.npz")
    reports = tmp_path / "reports"
    (reports / ckpt.sha256).mkdir(parents=True)
    return reports, Path(shutil.copy(src, reports / ckpt.sha256 / src.name))


def test_a_report_of_another_checkpoint_is_ignored_and_recomputed(official, tmp_path):
    ckpt = _shipped("mnist_fast_cnn")
    reports, report = _copy_report(ckpt, tmp_path)
    other = load_checkpoint(models_dir() / "mnist_linear.pt")  # the same test digits
    store = cache.ResultCache(tmp_path / "cache", reports=reports)
    split, _ = load_test_or_sample("mnist")
    key = cache.CacheKey(other.sha256, cache.data_key("mnist", split.images, split.labels),
                         "evaluate.v2")  # fmt: skip
    where = store.report_path(key)
    where.parent.mkdir(parents=True)
    report.rename(where)  # fast_cnn's logits where mnist_linear's report would be
    ev = results.evaluation(other, cache=store)
    assert store.report_hits == 0 and store.computed == 1
    pick = np.arange(0, 10_000, 250)
    np.testing.assert_array_equal(ev.predicted[pick], _direct_predictions(other, pick))


def test_a_changed_checkpoint_does_not_read_the_old_report(official, tmp_path):
    ckpt = _shipped("mnist_fast_cnn")
    raw = torch.load(ckpt.path, map_location="cpu", weights_only=False)
    first = next(k for k, v in raw["state_dict"].items() if v.is_floating_point())
    raw["state_dict"][first] = raw["state_dict"][first] + 0.5  # a retrained model, in effect
    changed = tmp_path / "mnist_fast_cnn.pt"
    torch.save(raw, changed)
    retrained = load_checkpoint(changed)
    assert retrained.sha256 != ckpt.sha256
    store = cache.ResultCache(tmp_path / "cache")
    ev = results.evaluation(retrained, cache=store)
    assert store.report_hits == 0 and store.computed == 1
    pick = np.arange(0, 10_000, 250)
    np.testing.assert_array_equal(ev.predicted[pick], _direct_predictions(retrained, pick))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "key"])
def test_a_damaged_report_is_ignored(official, tmp_path, damage):
    ckpt = _shipped("mnist_linear")
    reports, report = _copy_report(ckpt, tmp_path)
    data = report.read_bytes()
    if damage == "truncate":
        report.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        report.write_bytes(b"PK\x03\x04" + bytes(200))
    else:  # a well-formed file whose logits have the wrong shape
        arrays = dict(np.load(report, allow_pickle=False))
        arrays["logits"] = arrays["logits"][:10]
        np.savez(report, **arrays)
    before = report.read_bytes()
    store = cache.ResultCache(tmp_path / "cache", reports=reports)
    ev = results.evaluation(ckpt, cache=store)
    assert store.report_hits == 0 and store.computed == 1 and len(ev.labels) == 10_000
    pick = np.arange(0, 10_000, 250)
    np.testing.assert_array_equal(ev.predicted[pick], _direct_predictions(ckpt, pick))
    assert report.read_bytes() == before  # the shipped folder is never written


def test_reports_are_not_used_without_the_official_test_set(tmp_path, monkeypatch):
    ckpt = _shipped("mnist_linear")
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))
    store = cache.ResultCache(tmp_path / "cache")
    ev = results.evaluation(ckpt, cache=store)
    assert store.report_hits == 0 and store.computed == 1
    assert not ev.official and len(ev.labels) == 500


def test_written_reports_survive_a_library_edit(tmp_path, monkeypatch):
    """``make reports``'s writer stores report keys: read back by a cache of another code
    version, while the user's own cache of that version misses."""
    key = cache.CacheKey("f" * 64, "mnist:2:a:b", "demo.v1", {"k": 1})
    arrays = {"x": np.arange(4, dtype=np.float32)}
    writer = cache.ResultCache(tmp_path / "reports", writes_reports=True)
    writer.get_or_compute(key, lambda: (arrays, {"n": 4}))
    assert writer.computed == 1 and (tmp_path / "reports" / key.checkpoint).is_dir()
    monkeypatch.setenv("EXPLAINER_CACHE_CODE", "an-edited-library")
    cache.code_version.cache_clear()
    try:
        edited = cache.CacheKey("f" * 64, "mnist:2:a:b", "demo.v1", {"k": 1})
        assert edited.code != key.code
        reader = cache.ResultCache(tmp_path / "cache", reports=tmp_path / "reports")
        got, meta = reader.get_or_compute(edited, lambda: pytest.fail("recomputed"))
        np.testing.assert_array_equal(got["x"], arrays["x"])
        assert meta == {"n": 4} and reader.report_hits == 1
        bumped = cache.CacheKey("f" * 64, "mnist:2:a:b", "demo.v2", {"k": 1})
        reader.get_or_compute(bumped, lambda: ({"x": np.zeros(1)}, {}))
        assert reader.computed == 1  # a bumped function version misses the old report
    finally:
        monkeypatch.delenv("EXPLAINER_CACHE_CODE")
        cache.code_version.cache_clear()


def test_the_wheel_carries_the_reports():
    """Every report file matches a package-data pattern of ``explainer.models`` (setuptools
    globs them relative to the package folder, models/)."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert conf["package-dir"]["explainer.models"] == "models"
    patterns = conf["package-data"]["explainer.models"]
    files = {p for p in (ROOT / "models" / "reports").rglob("*") if p.is_file()}
    if not files:
        pytest.skip("no reports yet (make reports)")
    carried = {p for pat in patterns for p in (ROOT / "models").glob(pat)}
    assert files <= carried


# --- `explainer render` reads the reports, and the disk cache for your own model ---------------


def _render(kind: str, checkpoint: str, out: Path, *extra: str) -> int:
    from explainer.cli import main

    argv = ["render", kind, "--checkpoint", checkpoint, "--out", str(out), "--size", "320x180"]
    return main([*argv, "--seconds", "3", *extra])


@pytest.mark.parametrize(
    ("kind", "name"), [("mistakes", "mnist_fast_cnn"), ("training", "mnist_bn_cnn")]
)
def test_a_render_of_a_shipped_model_reads_its_reports(official, monkeypatch, tmp_path, kind, name):
    _shipped(name)
    monkeypatch.setenv("EXPLAINER_CACHE_DIR", str(tmp_path / "cache"))
    _no_compute(monkeypatch)
    monkeypatch.setattr("explainer.nets.inference.predict_logits", _fail)
    assert _render(kind, name, tmp_path / f"{kind}.png") == 0
    assert (tmp_path / f"{kind}.png").stat().st_size > 0
    assert not (tmp_path / "cache").exists()


def _fail(*args, **kwargs):
    raise AssertionError("the test set was scored although a report exists")


def test_your_own_models_second_render_reuses_the_disk_cache(official, monkeypatch, tmp_path):
    ckpt = _shipped("mnist_fast_cnn")
    raw = torch.load(ckpt.path, map_location="cpu", weights_only=False)
    first = next(k for k, v in raw["state_dict"].items() if v.is_floating_point())
    raw["state_dict"][first] = raw["state_dict"][first] + 1e-6
    own = tmp_path / "my_net.pt"
    torch.save(raw, own)
    monkeypatch.setenv("EXPLAINER_CACHE_DIR", str(tmp_path / "cache"))
    assert _render("mistakes", str(own), tmp_path / "first.png") == 0
    assert list((tmp_path / "cache").rglob("evaluate.*.npz"))  # computed, and kept
    _no_compute(monkeypatch)
    assert _render("mistakes", str(own), tmp_path / "second.png") == 0
    assert (tmp_path / "first.png").read_bytes() == (tmp_path / "second.png").read_bytes()

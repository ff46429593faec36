"""explainer.analysis.cache: slow results kept on disk by checkpoint hash, never trusted blindly.

Every cached result is compared with the library function run directly (the reference); the
models are copies of mnist_fast_cnn in a temporary folder, scored on the bundled sample.
"""

from __future__ import annotations

import importlib.util
import pickle
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

from explainer.analysis import cache, results
from explainer.analysis.embedding_map import embedding
from explainer.analysis.evaluate import evaluate
from explainer.analysis.top_digits import top_activating
from explainer.data import load_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    """A copy of mnist_fast_cnn; no dataset on disk, so the bundled 500 digits are used."""
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))
    src = models_dir() / "mnist_fast_cnn.pt"
    if not src.exists():
        pytest.skip(f"{src} has not been trained yet (make models)")
    dst = tmp_path / "mnist_fast_cnn.pt"
    shutil.copy(src, dst)
    return load_checkpoint(dst)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "cache"


def _same_evaluation(got, ref) -> None:
    np.testing.assert_allclose(got.probs, ref.probs, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.predicted, ref.predicted)
    np.testing.assert_array_equal(got.labels, ref.labels)
    np.testing.assert_array_equal(got.confusion, confusion_matrix(ref.labels, ref.predicted))
    assert got.loss == pytest.approx(ref.loss, abs=1e-7)
    assert got.report == ref.report
    assert got.accuracy == ref.accuracy
    assert got.official == ref.official


def test_round_trip_through_the_disk(root):
    calls = []
    key = cache.CacheKey("abc123", "mnist:3:x:y", "demo.v1", {"layer": "conv1", "k": 2})
    arrays = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([1, -2], np.int64)}

    def compute():
        calls.append(1)
        return arrays, {"name": "conv1", "scores": [0.5, 0.25]}

    first = cache.ResultCache(root).get_or_compute(key, compute)
    again = cache.ResultCache(root)  # a new process's cache: only the file is shared
    second = again.get_or_compute(key, compute)
    assert len(calls) == 1 and again.hits == 1 and again.computed == 0
    for got in (first, second):
        assert set(got[0]) == {"a", "b"}
        for name, want in arrays.items():
            np.testing.assert_array_equal(got[0][name], want)
            assert got[0][name].dtype == want.dtype
        assert got[1] == {"name": "conv1", "scores": [0.5, 0.25]}
    assert (root / "abc123").is_dir() and len(list((root / "abc123").glob("*.npz"))) == 1
    other = cache.CacheKey("abc123", "mnist:3:x:y", "demo.v1", {"layer": "conv2", "k": 2})
    again.get_or_compute(other, compute)
    assert len(calls) == 2  # other parameters: another result
    edited = cache.CacheKey("abc123", "mnist:3:x:y", "demo.v1", {"layer": "conv1", "k": 2}, "x")
    again.get_or_compute(edited, compute)
    assert len(calls) == 3 and key.code == cache.code_version() != "x"  # other library code
    names = sorted(p.name for p in (root / "abc123").glob("*.npz"))
    assert names == sorted([again.path(other).name, again.path(edited).name])  # replaced


def test_evaluation_is_read_back_equal_to_a_fresh_one(ckpt, root):
    ref = evaluate(ckpt)
    first = cache.ResultCache(root)
    _same_evaluation(results.evaluation(ckpt, cache=first), ref)
    assert first.computed == 1
    second = cache.ResultCache(root)
    got = results.evaluation(ckpt, cache=second)
    assert second.computed == 0 and second.hits == 1
    _same_evaluation(got, ref)
    assert got.checkpoint is ckpt and len(got.split.labels) == 500
    assert list((root / ckpt.sha256).glob("evaluate*.npz"))


def test_a_changed_checkpoint_misses(ckpt, root, tmp_path):
    store = cache.ResultCache(root)
    old = results.evaluation(ckpt, cache=store)
    old_sha = ckpt.sha256
    payload = torch.load(ckpt.path, map_location="cpu", weights_only=True)
    name = next(k for k, v in payload["state_dict"].items() if v.dim() == 4)
    payload["state_dict"][name] = -payload["state_dict"][name]  # same shape, other model
    torch.save(payload, ckpt.path)  # the same file, rewritten: a new hash
    changed = load_checkpoint(ckpt.path)
    assert changed.sha256 != old_sha
    got = results.evaluation(changed, cache=store)
    assert store.computed == 2
    _same_evaluation(got, evaluate(changed))
    assert not np.allclose(got.probs, old.probs)
    copy = tmp_path / "elsewhere.pt"  # the same bytes under another name: the same result
    shutil.copy(ckpt.path, copy)
    results.evaluation(load_checkpoint(copy), cache=store)
    assert store.computed == 2 and store.hits == 1


def _corrupt(path, how: str, other) -> None:
    if how == "garbage":
        path.write_bytes(b"\x00not a zip at all" * 100)
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "bitflip":  # a flipped byte inside the probabilities: the zip's CRC catches it
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0xFF
        path.write_bytes(bytes(data))
    elif how == "pickle":  # an object array: numpy would unpickle it
        with open(path, "wb") as fh:
            np.savez(fh, probs=np.array([{"x": 1}, None], dtype=object))
    elif how == "other_key":  # a valid file of another result, put in this one's place
        shutil.copy(other, path)
    elif how == "wrong_shape":  # the right key, but logits of the wrong size
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
        assert "logits.npy" in names
        arrays = dict(np.load(path, allow_pickle=False))
        arrays["logits"] = arrays["logits"][:10]
        with open(path, "wb") as fh:
            np.savez(fh, **arrays)


@pytest.mark.parametrize(
    "how", ["garbage", "truncated", "empty", "bitflip", "pickle", "other_key", "wrong_shape"]
)
def test_a_damaged_file_is_ignored_and_recomputed(ckpt, root, how, monkeypatch):
    store = cache.ResultCache(root)
    ref = results.evaluation(ckpt, cache=store)
    images, labels = load_sample().images.numpy(), load_sample().labels.numpy()
    results.embedding(ckpt, images, labels, "pca", 50, cache=store)
    (path,) = (root / ckpt.sha256).glob("evaluate*.npz")
    (other,) = (root / ckpt.sha256).glob("embedding*.npz")
    _corrupt(path, how, other)

    def refuse(*args, **kwargs):
        raise AssertionError("the cache unpickled a file")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    got = results.evaluation(ckpt, cache=store)  # no exception, a fresh result
    assert store.computed == 3
    _same_evaluation(got, ref)
    fresh = cache.ResultCache(root)  # and the file was replaced by a good one
    _same_evaluation(results.evaluation(ckpt, cache=fresh), ref)
    assert fresh.hits == 1 and fresh.computed == 0


def test_an_unwritable_cache_folder_still_gives_results(ckpt, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = cache.ResultCache(blocker / "results")
    ref = evaluate(ckpt)
    _same_evaluation(results.evaluation(ckpt, cache=store), ref)
    _same_evaluation(results.evaluation(ckpt, cache=store), ref)
    assert store.computed == 2 and blocker.read_text() == "not a folder"


def test_a_model_without_a_file_is_computed_and_not_stored(ckpt, root):
    ckpt.path = None
    store = cache.ResultCache(root)
    _same_evaluation(results.evaluation(ckpt, cache=store), evaluate(ckpt))
    assert store.computed == 0 and not root.exists()


def test_top_digits_and_embedding_read_back_equal(ckpt, root):
    s = load_sample()
    images, labels = s.images.numpy(), s.labels.numpy()
    layer = next(n for n, m in ckpt.model.named_modules() if isinstance(m, torch.nn.Conv2d))
    ref_top = top_activating(ckpt.model, images, layer, k=4, labels=labels)
    ref_emb = embedding(ckpt.model, images, labels, method="pca", n=200)
    results.top_activating(ckpt, images, layer, k=4, labels=labels, cache=cache.ResultCache(root))
    results.embedding(ckpt, images, labels, "pca", 200, cache=cache.ResultCache(root))
    store = cache.ResultCache(root)
    top = results.top_activating(ckpt, images, layer, k=4, labels=labels, cache=store)
    emb = results.embedding(ckpt, images, labels, "pca", 200, cache=store)
    assert store.hits == 2 and store.computed == 0
    for f in ("channels", "indices", "values", "positions", "boxes", "images", "labels"):
        np.testing.assert_array_equal(getattr(top, f), getattr(ref_top, f))
    assert (top.layer, top.patch_size) == (ref_top.layer, ref_top.patch_size)
    for f in ("points", "labels", "predictions", "indices", "explained"):
        np.testing.assert_allclose(getattr(emb, f), getattr(ref_emb, f), atol=1e-5)
    assert (emb.layer, emb.method) == (ref_emb.layer, ref_emb.method)
    other = results.embedding(ckpt, images[:300], labels[:300], "pca", 200, cache=store)
    assert store.computed == 1 and len(other.indices) == 200  # other digits: another key


def test_the_cache_folder_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLAINER_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
    assert cache.default_cache().root == tmp_path / "mine"
    monkeypatch.delenv("EXPLAINER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "mnist-explainer" / "results"


def test_the_data_key_depends_on_the_digits_not_the_label_type():
    s = load_sample()
    images, labels = s.images.numpy(), s.labels.numpy()
    key = cache.data_key("mnist", images, labels)
    assert key == cache.data_key("mnist", images.copy(), labels.astype(np.uint8))
    changed = images.copy()
    changed[0, 0, 0] ^= 1
    assert cache.data_key("mnist", changed, labels) != key
    assert cache.data_key("mnist", images, np.roll(labels, 1)) != key


def test_training_evolution_reads_the_predictions_from_the_cache(ckpt, root):
    from explainer.analysis.snapshots import training_evolution

    store = cache.ResultCache(root)
    image = load_sample().images[3].numpy()
    ref = training_evolution([ckpt, ckpt], image)
    got = training_evolution(
        [ckpt, ckpt], image, predict=lambda ck: results.evaluation(ck, cache=store).predicted
    )
    assert store.computed == 1 and store.hits == 1  # evaluated once, then read back
    for a, b in zip(got.views, ref.views, strict=True):
        np.testing.assert_array_equal(a.confusion, b.confusion)
        assert a.accuracy == b.accuracy
    assert got.test_set == ref.test_set


def test_the_code_version_follows_the_source_unless_pinned(monkeypatch):
    real = cache.code_version()
    assert len(real) == 12 and cache.CacheKey("a", "b", "c").code == real
    monkeypatch.setenv("EXPLAINER_CACHE_CODE", "bench-1")
    cache.code_version.cache_clear()
    try:
        assert cache.code_version() == "bench-1"
    finally:
        monkeypatch.delenv("EXPLAINER_CACHE_CODE")
        cache.code_version.cache_clear()
    assert cache.code_version() == real


# --- the code version and the per-object memo --------------------------------------------------


def _copied_code_version(tree, monkeypatch) -> str:
    """:func:`cache.code_version` as computed by a copy of cache.py inside ``tree``, a copy of
    the package (the hash covers the package the copy sits in)."""
    spec = importlib.util.spec_from_file_location("copied_cache", tree / "analysis" / "cache.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "copied_cache", module)
    spec.loader.exec_module(module)
    return module.code_version()


@pytest.fixture
def package_copy(tmp_path, monkeypatch):
    """The library's ``.py`` files copied into ``tmp_path/explainer``."""
    monkeypatch.delenv("EXPLAINER_CACHE_CODE", raising=False)
    src = Path(cache.__file__).resolve().parents[1]
    tree = tmp_path / "explainer"
    for path in src.rglob("*.py"):
        dst = tree / path.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dst)
    return tree


@pytest.mark.parametrize(
    "edited", ["tracing/recompute.py", "nets/checkpoints.py", "data.py", "analysis/cache.py"]
)
def test_an_edit_anywhere_in_the_library_changes_the_code_version(
    package_copy, monkeypatch, edited
):
    before = _copied_code_version(package_copy, monkeypatch)
    assert before == _copied_code_version(package_copy, monkeypatch)  # stable while unedited
    with open(package_copy / edited, "a") as fh:
        fh.write("\n# edited\n")
    assert _copied_code_version(package_copy, monkeypatch) != before


def test_an_edit_in_a_view_keeps_the_code_version(package_copy, monkeypatch):
    before = _copied_code_version(package_copy, monkeypatch)
    with open(package_copy / "app" / "common.py", "a") as fh:
        fh.write("\n# edited\n")
    assert _copied_code_version(package_copy, monkeypatch) == before


def _use_code(monkeypatch, version: str) -> None:
    monkeypatch.setenv("EXPLAINER_CACHE_CODE", version)
    cache.code_version.cache_clear()


def test_a_result_of_other_code_is_never_read(ckpt, root, monkeypatch):
    """Stored by one version of the code, then asked for by another: computed again, and what
    comes back is the new code's result, not the stored one."""
    versions = {"v1": np.array([1.0]), "v2": np.array([2.0])}
    try:
        for version in ("v1", "v2", "v1"):
            _use_code(monkeypatch, version)
            store = cache.ResultCache(root)
            compute = lambda v=version: ({"x": versions[v]}, {})  # noqa: E731
            got, _ = cache.cached(ckpt, "d", "demo.v1", {}, compute, cache=store)
            assert store.computed == 1 and store.hits == 0, version
            np.testing.assert_array_equal(got["x"], versions[version])
        again = cache.ResultCache(root)
        stale = {"x": np.array([9.0])}
        got, _ = cache.cached(ckpt, "d", "demo.v1", {}, lambda: (stale, {}), cache=again)
        assert again.hits == 1 and got["x"][0] == 1.0  # the same code reads its own result
    finally:
        monkeypatch.delenv("EXPLAINER_CACHE_CODE")
        cache.code_version.cache_clear()


def _frozen_digits(seed: int, kind: str):
    images = np.random.default_rng(seed).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    if kind == "tensor":
        return torch.from_numpy(images)
    images.setflags(write=False)
    return images


def _plain_copy(images):
    """The same values in a new writable object, never seen by the memo before."""
    return images.clone() if isinstance(images, torch.Tensor) else np.array(images)


def test_a_new_object_at_a_freed_objects_address_gets_its_own_key():
    """Python reuses a freed object's address (its ``id``) for later objects, but when is up to
    the allocator: the test puts the freed object's memo entry at the new object's address,
    which is what reuse leaves behind, so it runs every time (only frozen arrays are
    remembered; tensors are hashed every time)."""
    kind = "array"
    first = _frozen_digits(0, kind)
    old_key = cache.data_key("mnist", first)
    entry = cache._fingerprints[id(first)]
    del first
    __import__("gc").collect()
    assert entry[0]() is None  # the memo holds no strong reference: the object is gone
    other = _frozen_digits(1, kind)
    with cache._fp_lock:
        cache._fingerprints[id(other)] = entry  # the freed object's entry, at other's address
    key = cache.data_key("mnist", other)
    assert key != old_key and key == cache.data_key("mnist", _plain_copy(other))


@pytest.mark.parametrize("kind", ["array", "tensor", "read-only view"])
def test_digits_changed_in_place_get_a_new_key(kind):
    images = np.random.default_rng(0).integers(0, 256, (40, 28, 28), dtype=np.uint8)
    data = torch.from_numpy(images) if kind == "tensor" else images
    seen = images[:]
    if kind == "read-only view":  # read-only, yet its writable base can still change
        seen.setflags(write=False)
        data = seen
    key = cache.data_key("mnist", data)
    assert cache.data_key("mnist", data) == key
    images[3, 14, 14] ^= 0xFF  # the same object (or its base), one pixel changed
    assert cache.data_key("mnist", data) != key
    assert cache.data_key("mnist", data) == cache.data_key("mnist", _plain_copy(data))

"""The app's and the renders' slow results, through the cache: drop-in replacements that read a
shipped report or the disk cache (:mod:`explainer.analysis.cache`) before computing.

- :func:`evaluation`: :func:`explainer.analysis.evaluate.evaluate` on the default test set;
- :func:`top_activating`: :func:`explainer.analysis.top_digits.top_activating`;
- :func:`embedding`: the map of :func:`explainer.analysis.embedding_map.embedding`
  (an :class:`EmbeddingMap`: its points, without the feature vectors).

Each checks what it reads (every array's type, shape and finite values, every plain value's
type and range, an evaluation's report against its own predictions): a stored result that
fails is a :class:`~explainer.analysis.cache.CacheMiss`, recomputed and replaced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from explainer.analysis.cache import (
    Arrays,
    ResultCache,
    array_field,
    cached,
    data_key,
    need,
    number_field,
)

if TYPE_CHECKING:
    from explainer.analysis.evaluate import Evaluation
    from explainer.analysis.top_digits import TopActivations
    from explainer.nets.checkpoints import Checkpoint

__all__ = ["EmbeddingMap", "embedding", "evaluation", "top_activating"]

# digits per batch of an evaluation: 250 holds a third of the memory 1,000 do (~100 MB instead
# of ~300 MB through mnist_bn_cnn) in the same time; the app's server runs many of them
EVAL_BATCH = 250


def _confusion(labels: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(labels * k + pred, minlength=k * k).reshape(k, k).astype(np.int64)


def evaluation(
    ckpt: Checkpoint,
    *,
    data_dir: str | os.PathLike | None = None,
    cache: ResultCache | None = None,
) -> Evaluation:
    """:func:`~explainer.analysis.evaluate.evaluate` of ``ckpt`` on its default test set
    (official when on disk, in ``data_dir`` or the default place, else the bundled sample),
    its logits ``(N, K)``, loss and report read from the shipped report or the cache when
    this checkpoint file was evaluated on these digits before."""
    from explainer.analysis.evaluate import Evaluation, evaluate
    from explainer.data import load_test_or_sample
    from explainer.nets.calibration import temperature_of

    split, official = load_test_or_sample(ckpt.dataset, data_dir)
    y = split.labels.numpy() if isinstance(split.labels, torch.Tensor) else split.labels
    made: list[Evaluation] = []

    def compute():
        ev = evaluate(ckpt, data_dir=data_dir, batch_size=EVAL_BATCH)
        made.append(ev)
        meta = {"loss": float(ev.loss), "report": ev.report, "official": bool(ev.official)}
        return {"logits": ev.logits.astype(np.float32)}, meta

    def check(arrays: Arrays, meta: dict) -> None:
        z = array_field(arrays, "logits", "f", (len(y), None))
        need(z.dtype == np.float32 and z.shape[1] > int(y.max(initial=0)), "logits classes")
        number_field(meta, "loss", 0.0)
        need(meta.get("official") in (True, False), "official: not true or false")
        _check_report(meta.get("report"), z, np.asarray(y, dtype=np.int64), ckpt)

    data = data_key(ckpt.dataset, split.images, split.labels)
    arrays, meta = cached(ckpt, data, "evaluate.v2", {}, compute, check, cache)
    if made:
        return made[0]
    logits = arrays["logits"]
    pred = logits.argmax(1)
    cm = _confusion(np.asarray(y, dtype=np.int64), pred, logits.shape[1])
    return Evaluation(
        checkpoint=ckpt, split=split, official=official, logits=logits,
        temperature=temperature_of(ckpt.raw or {}), labels=np.asarray(y),
        predicted=pred, loss=float(meta["loss"]), confusion=cm, report=meta["report"],
    )  # fmt: skip


_REPORT_FIELDS = ("precision", "recall", "f1-score")


def _check_report(report: Any, logits: np.ndarray, y: np.ndarray, ckpt: Checkpoint) -> None:
    """A stored per-class report that is the one of these ``(N, K)`` logits: a dict of finite
    fractions for every class and the averages, the same accuracy and supports as their
    predictions against ``y`` (a forged or stale report would show a wrong accuracy)."""
    need(isinstance(report, dict), "report: not a dict")
    pred = logits.argmax(1)
    names = ckpt.class_names or [str(i) for i in range(logits.shape[1])]
    support = np.bincount(y, minlength=len(names))
    for i, name in enumerate(names):
        row = report.get(name)
        need(isinstance(row, dict), f"report: no row for class {name[:20]!r}")
        for f in _REPORT_FIELDS:
            number_field(row, f, 0.0, 1.0)
        need(number_field(row, "support", 0) == support[i], f"report: support of {name[:20]!r}")
    for avg in ("macro avg", "weighted avg"):
        need(isinstance(report.get(avg), dict), f"report: no {avg}")
        for f in _REPORT_FIELDS:
            number_field(report[avg], f, 0.0, 1.0)
    if len(y) and "accuracy" in report:
        acc = number_field(report, "accuracy", 0.0, 1.0)
        need(abs(acc - float((pred == y).mean())) < 1e-6, "report: accuracy of other predictions")


# --- insights --------------------------------------------------------------------------------

_TOP_FIELDS = ("channels", "indices", "values", "positions", "boxes")


def _gather(images: np.ndarray | torch.Tensor, indices: np.ndarray) -> np.ndarray:
    """The float ``(C, k, H, W)`` images at ``indices`` ``(C, k)``: what
    :func:`~explainer.analysis.top_digits.top_activating` returns as ``images``, rebuilt from
    the digits themselves (a stored result keeps only their positions)."""
    from explainer.analysis.insights import image_batch

    flat = indices.ravel().astype(np.int64)
    is_tensor = isinstance(images, torch.Tensor)
    picked = images[torch.from_numpy(flat)] if is_tensor else np.asarray(images)[flat]
    x = image_batch(picked)[:, 0].numpy()
    return x.reshape(*indices.shape, *x.shape[-2:])


def top_activating(
    ckpt: Checkpoint,
    images: np.ndarray | torch.Tensor,
    layer: str,
    *,
    k: int = 9,
    labels: np.ndarray | None = None,
    cache: ResultCache | None = None,
) -> TopActivations:
    """:func:`~explainer.analysis.top_digits.top_activating` of ``ckpt.model`` (all channels,
    at most 64), through the cache. What is stored is small (a few kB a layer): the
    channels, the ``(C, k)`` positions of the top digits among ``images``, their peak values,
    peak positions and boxes; the digits' pictures and labels are taken from ``images`` and
    ``labels`` again when read."""
    from explainer.analysis.top_digits import TopActivations
    from explainer.analysis.top_digits import top_activating as compute_top

    made: list[TopActivations] = []
    h, w = np.shape(images)[-2:]

    def compute():
        top = compute_top(ckpt.model, images, layer, k=k, labels=labels)
        made.append(top)
        arrays = {
            "channels": top.channels.astype(np.int32),
            "indices": top.indices.astype(np.int32),
            "values": top.values.astype(np.float32),
            "positions": top.positions.astype(np.int16),
            "boxes": top.boxes.astype(np.int16),
        }
        return arrays, {"layer": top.layer, "patch_size": int(top.patch_size)}

    def check(arrays: Arrays, meta: dict) -> None:
        c, kk = array_field(arrays, "indices", "i", (None, None)).shape
        need(0 < kk <= k, "indices: not k per channel")
        array_field(arrays, "channels", "i", (c,))
        array_field(arrays, "values", "f", (c, kk))
        array_field(arrays, "positions", "i", (c, kk, 2))
        boxes = array_field(arrays, "boxes", "i", (c, kk, 4))
        ok = (boxes[..., :2] >= 0).all() and (boxes[..., 2:] > boxes[..., :2]).all()
        need(bool(ok and (boxes[..., 2] <= h).all() and (boxes[..., 3] <= w).all()), "boxes")
        idx = arrays["indices"]
        need(idx.size == 0 or 0 <= int(idx.min()) <= int(idx.max()) < len(images), "indices")
        need(meta.get("layer") == layer, "top layer")
        need(isinstance(meta.get("patch_size"), int), "patch_size: not a whole number")
        number_field(meta, "patch_size", 1, max(h, w))

    data = data_key(ckpt.dataset, images, labels)
    params = {"layer": layer, "k": int(k), "labels": labels is not None}
    arrays, meta = cached(ckpt, data, "top_activating.v2", params, compute, check, cache)
    if made:
        return made[0]
    idx = arrays["indices"].astype(np.int64)
    return TopActivations(
        layer=meta["layer"],
        channels=arrays["channels"].astype(np.int64),
        indices=idx,
        values=arrays["values"],
        positions=arrays["positions"].astype(np.int64),
        boxes=arrays["boxes"].astype(np.int64),
        images=_gather(images, idx),
        labels=None if labels is None else np.asarray(labels)[idx],
        patch_size=int(meta["patch_size"]),
    )


@dataclass
class EmbeddingMap:
    """What an embedding map draws (:class:`~explainer.analysis.embedding_map.Embedding`
    without the ``(N, D)`` feature vectors, which can take megabytes): ``points`` ``(N, 2)``;
    ``labels``, ``predictions``, ``indices`` (into the images given) ``(N,)``; ``explained``:
    PCA's explained variance ratio of the two axes (empty for t-SNE); ``layer``: where the
    vectors came from; ``method``: "pca" or "tsne"."""

    points: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    indices: np.ndarray
    explained: np.ndarray
    layer: str
    method: str

    @property
    def wrong(self) -> np.ndarray:
        """``(N,)`` bool: misclassified digits."""
        return self.labels != self.predictions


_EMB_FIELDS = ("points", "labels", "predictions", "indices", "explained")


def embedding(
    ckpt: Checkpoint,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    method: str = "pca",
    n: int = 1000,
    *,
    cache: ResultCache | None = None,
) -> EmbeddingMap:
    """The map of :func:`explainer.analysis.embedding_map.embedding` of ``ckpt.model``
    (default layer and seed) through the cache: a few kB stored, the feature vectors
    dropped."""
    from explainer.analysis.embedding_map import embedding as compute_embedding

    def compute():
        emb = compute_embedding(ckpt.model, images, labels, method=method, n=n)
        arrays = {f: np.asarray(getattr(emb, f)) for f in _EMB_FIELDS}
        arrays["points"] = arrays["points"].astype(np.float32)
        return arrays, {"layer": emb.layer, "method": emb.method}

    def check(arrays: Arrays, meta: dict) -> None:
        m = min(n, len(images))
        idx = array_field(arrays, "indices", "i", (m,))
        need(idx.size == 0 or 0 <= int(idx.min()) <= int(idx.max()) < len(images), "indices")
        array_field(arrays, "points", "f", (m, 2))
        for name in ("labels", "predictions"):
            array_field(arrays, name, "i", (m,))
        array_field(arrays, "explained", "f", (None,))
        need(isinstance(meta.get("layer"), str), "layer: not a name")
        need(meta.get("method") == method, "embedding method")

    data = data_key(ckpt.dataset, images, labels)
    params = {"method": method, "n": int(n)}
    arrays, meta = cached(ckpt, data, "embedding.v2", params, compute, check, cache)
    return EmbeddingMap(
        layer=meta["layer"], method=meta["method"], **{f: arrays[f] for f in _EMB_FIELDS}
    )

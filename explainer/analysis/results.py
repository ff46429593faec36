"""The app's and the renders' slow results, through the cache: drop-in replacements that read a
shipped report or the disk cache (:mod:`explainer.analysis.cache`) before computing.

- :func:`evaluation`: :func:`explainer.analysis.evaluate.evaluate` on the default test set;
- :func:`top_activating`: :func:`explainer.analysis.top_digits.top_activating`;
- :func:`embedding`: :func:`explainer.analysis.embedding_map.embedding`.

Each checks what it reads (every array's type, shape and finite values, every plain value's
type and range, an evaluation's report against its own predictions): a stored result that
fails is a :class:`~explainer.analysis.cache.CacheMiss`, recomputed and replaced.
"""

from __future__ import annotations

import os
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
    from explainer.analysis.embedding_map import Embedding
    from explainer.analysis.evaluate import Evaluation
    from explainer.analysis.top_digits import TopActivations
    from explainer.nets.checkpoints import Checkpoint

__all__ = ["embedding", "evaluation", "top_activating"]


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
        ev = evaluate(ckpt, data_dir=data_dir)
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

_TOP_FIELDS = ("channels", "indices", "values", "positions", "boxes", "images")


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
    at most 64),
    through the cache."""
    from explainer.analysis.top_digits import TopActivations
    from explainer.analysis.top_digits import top_activating as compute_top

    made: list[TopActivations] = []

    def compute():
        top = compute_top(ckpt.model, images, layer, k=k, labels=labels)
        made.append(top)
        arrays = {f: np.asarray(getattr(top, f)) for f in _TOP_FIELDS}
        if top.labels is not None:
            arrays["labels"] = np.asarray(top.labels)
        return arrays, {"layer": top.layer, "patch_size": int(top.patch_size)}

    def check(arrays: Arrays, meta: dict) -> None:
        c, kk = array_field(arrays, "indices", "i", (None, None)).shape
        need(0 < kk <= k, "indices: not k per channel")
        array_field(arrays, "channels", "i", (c,))
        array_field(arrays, "values", "f", (c, kk))
        array_field(arrays, "positions", "i", (c, kk, 2))
        boxes = array_field(arrays, "boxes", "i", (c, kk, 4))
        h, w = np.shape(images)[-2:]
        array_field(arrays, "images", "f", (c, kk, h, w))
        ok = (boxes[..., :2] >= 0).all() and (boxes[..., 2:] > boxes[..., :2]).all()
        need(bool(ok and (boxes[..., 2] <= h).all() and (boxes[..., 3] <= w).all()), "boxes")
        idx = arrays["indices"]
        need(idx.size == 0 or 0 <= int(idx.min()) <= int(idx.max()) < len(images), "indices")
        if labels is not None:
            array_field(arrays, "labels", "i", (c, kk))
        need(meta.get("layer") == layer, "top layer")
        need(isinstance(meta.get("patch_size"), int), "patch_size: not a whole number")
        number_field(meta, "patch_size", 1, max(h, w))

    data = data_key(ckpt.dataset, images, labels)
    params = {"layer": layer, "k": int(k), "labels": labels is not None}
    arrays, meta = cached(ckpt, data, "top_activating.v1", params, compute, check, cache)
    if made:
        return made[0]
    return TopActivations(
        layer=meta["layer"],
        labels=arrays.get("labels"),
        patch_size=int(meta["patch_size"]),
        **{f: arrays[f] for f in _TOP_FIELDS},
    )


_EMB_FIELDS = ("points", "labels", "predictions", "indices", "features", "explained")


def embedding(
    ckpt: Checkpoint,
    images: np.ndarray | torch.Tensor,
    labels: np.ndarray,
    method: str = "pca",
    n: int = 1000,
    *,
    cache: ResultCache | None = None,
) -> Embedding:
    """:func:`explainer.analysis.embedding_map.embedding` of ``ckpt.model`` (default layer and
    seed), through
    the cache."""
    from explainer.analysis.embedding_map import Embedding
    from explainer.analysis.embedding_map import embedding as compute_embedding

    made: list[Embedding] = []

    def compute():
        emb = compute_embedding(ckpt.model, images, labels, method=method, n=n)
        made.append(emb)
        arrays = {f: np.asarray(getattr(emb, f)) for f in _EMB_FIELDS}
        return arrays, {"layer": emb.layer, "method": emb.method}

    def check(arrays: Arrays, meta: dict) -> None:
        m = min(n, len(images))
        idx = array_field(arrays, "indices", "i", (m,))
        need(idx.size == 0 or 0 <= int(idx.min()) <= int(idx.max()) < len(images), "indices")
        array_field(arrays, "points", "f", (m, 2))
        for name in ("labels", "predictions"):
            array_field(arrays, name, "i", (m,))
        array_field(arrays, "features", "f", (m, None))
        array_field(arrays, "explained", "f", (None,))
        need(isinstance(meta.get("layer"), str), "layer: not a name")
        need(meta.get("method") == method, "embedding method")

    data = data_key(ckpt.dataset, images, labels)
    params = {"method": method, "n": int(n)}
    arrays, meta = cached(ckpt, data, "embedding.v1", params, compute, check, cache)
    if made:
        return made[0]
    return Embedding(
        layer=meta["layer"], method=meta["method"], **{f: arrays[f] for f in _EMB_FIELDS}
    )

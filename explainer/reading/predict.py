"""Predict digits in real pictures: :class:`Predictor` wraps a checkpoint and :mod:`preprocess`.

>>> p = Predictor("mnist_bn_cnn")
>>> p.predict("photo.jpg").label                    # doctest: +SKIP
7
>>> rows = p.predict_many(["a.png", "folder/"])     # doctest: +SKIP

:meth:`Predictor.predict_many` never stops at a bad file: its row carries the error message and
the batch goes on. Rows are :class:`PredictionRow`, whose ``as_dict()`` has exactly the columns
of :data:`CSV_COLUMNS`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from explainer.errors import ExplainerError
from explainer.io import require_file
from explainer.nets.calibration import confidence_text, softmax_t, temperature_of
from explainer.nets.checkpoints import (
    Checkpoint,
    checkpoint_of,
    load_checkpoint,
    resolve_checkpoint,
)
from explainer.nets.not_a_digit import REASON, Detector, detector_for
from explainer.nets.ood import OodRule, energy
from explainer.reading.geometry import BOX, ink_bbox, stroke_width
from explainer.reading.images import ImageLike
from explainer.reading.preprocess import Preprocessed, preprocess
from explainer.text import clip_text
from explainer.tracing.trace import Trace
from explainer.tracing.verdict import VERDICT, verdict_text  # noqa: F401 (their old home)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")
CSV_COLUMNS = (
    "file", "prediction", "confidence", "top2", "top2_confidence", "not_a_digit",
    "not_a_digit_reason", "error",
)  # fmt: skip


@dataclass
class Prediction:
    """One picture's outcome. ``probs``: ``(classes,)`` float32 softmax of the logits divided by
    the checkpoint's fitted temperature (:mod:`explainer.nets.calibration`); ``label`` the arg-max
    index, ``class_name`` its name; ``top2`` the runner-up; ``preprocessed`` what the model saw.
    ``not_a_digit``: the picture does not look like a digit (:mod:`explainer.nets.ood`), ``why``
    says
    why; the forced answer is still given. ``energy``: the out-of-distribution score."""

    label: int
    class_name: str
    confidence: float
    probs: np.ndarray
    top2: int
    top2_name: str
    top2_confidence: float
    preprocessed: Preprocessed | None = field(default=None, repr=False)
    not_a_digit: bool = False
    why: str = ""
    energy: float = float("nan")


@dataclass
class PredictionRow:
    """One row of a batch: a prediction, or the error that stopped this file."""

    file: str
    prediction: Prediction | None = None
    error: str = ""

    def as_dict(self) -> dict[str, object]:
        """The :data:`CSV_COLUMNS` as plain values (empty strings / None when it failed)."""
        p = self.prediction
        return {
            "file": self.file,
            "prediction": p.class_name if p else None,
            "confidence": float(f"{p.confidence:.6g}") if p else None,
            "top2": p.top2_name if p else None,
            "top2_confidence": float(f"{p.top2_confidence:.6g}") if p else None,
            "not_a_digit": p.not_a_digit if p else None,
            "not_a_digit_reason": p.why if p else None,
            "error": self.error,
        }


class Predictor:
    """A checkpoint ready to classify pictures: a path, a shipped name, a loaded
    :class:`~explainer.nets.checkpoints.Checkpoint`, or a model in memory (any ``nn.Module`` that
    maps ``(N, 1, 28, 28)`` images in [0, 1] to logits). ``code`` is passed to
    :func:`~explainer.nets.checkpoints.load_checkpoint` for a checkpoint of your own class.

    Example:

    >>> from explainer import Predictor, load_sample
    >>> digits = load_sample()
    >>> p = Predictor("mnist_fast_cnn").predict(digits.images[7].numpy())
    >>> p.label, int(digits.labels[7]), p.not_a_digit, p.preprocessed.image.shape
    (7, 7, False, (28, 28))
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike | Checkpoint | torch.nn.Module = "mnist_bn_cnn",
        *,
        code: str | None = None,
    ) -> None:
        if isinstance(checkpoint, Checkpoint):
            self.checkpoint = checkpoint
        elif isinstance(checkpoint, torch.nn.Module):
            self.checkpoint = checkpoint_of(checkpoint)
        else:
            self.checkpoint = load_checkpoint(resolve_checkpoint(checkpoint), code=code)
        self.model = self.checkpoint.model.eval()
        self.class_names = self.checkpoint.class_names or [str(i) for i in range(10)]
        raw = getattr(self.checkpoint, "raw", None) or {}
        self.temperature = temperature_of(raw)
        self.ood = OodRule.from_raw(raw)
        self.detector: Detector | None = detector_for(self.checkpoint)

    @torch.inference_mode()
    def logits(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Logits ``(N, classes)`` for MNIST-style images ``(N, 28, 28)`` float in [0, 1]."""
        x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
        return self.model(x).float().numpy()

    def probabilities(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """Calibrated softmax ``(N, classes)`` (logits divided by the fitted temperature) for
        MNIST-style images ``(N, 28, 28)`` float in [0, 1]."""
        return softmax_t(self.logits(images), self.temperature)

    def not_a_digit(
        self,
        images: np.ndarray,
        strokes: np.ndarray | None = None,
        logits: np.ndarray | None = None,
    ) -> list[str]:
        """Why each MNIST-style image ``(N, 28, 28)`` does not look like a digit ("" when it
        does; all "" when the checkpoint has neither a calibrated rule nor a detector), the
        first cue that fires: a blot, the ink share, then the not-a-digit detector
        (:mod:`explainer.nets.not_a_digit`, whose score adds the classifier's energy when it
        was fitted for this model), or the energy alone for a model without one. ``strokes``:
        preprocessing's stroke widths (:attr:`Preprocessed.stroke`), measured here when not
        given."""
        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
        out = [""] * len(images)
        logits = self.logits(images) if logits is None else np.asarray(logits)
        if self.ood is not None:
            if strokes is None:
                strokes = np.array([_box_stroke(im) for im in images])
            energy_cue = self.detector is None  # the detector's score adds the energy
            out = self.ood.reasons(logits, images, np.asarray(strokes), energy_cue)
        if self.detector is not None:
            flags = self.detector.flags(images, logits)
            out = [r or (REASON if f else "") for r, f in zip(out, flags, strict=True)]
        return out

    def judge(self, trace: Trace, stroke: float | None = None) -> Trace:
        """``trace`` (of this checkpoint) with :attr:`~explainer.tracing.trace.Trace.not_a_digit`
        set by :meth:`not_a_digit` on its image ``(28, 28)`` and its own logits (None when the
        picture looks like a digit, or the checkpoint has no rule), so that every view reading
        it says the verdict first. ``stroke``: preprocessing's stroke width, when known.
        Returns the same Trace."""
        strokes = None if stroke is None else np.array([stroke])
        logits = np.asarray(trace.logits, dtype=np.float32).reshape(1, -1)
        image = np.asarray(trace.image, dtype=np.float32).reshape(1, 28, 28)
        trace.not_a_digit = self.not_a_digit(image, strokes, logits)[0] or None
        return trace

    def predict(self, image: ImageLike) -> Prediction:
        """Preprocess one picture (path, bytes, PIL image or canvas array) and classify it.
        Raises :class:`~explainer.errors.ExplainerError` subclasses for unusable pictures."""
        from PIL import Image

        accepted = (str, os.PathLike, bytes, np.ndarray, Image.Image)
        if not isinstance(image, accepted) and not hasattr(image, "read"):
            raise TypeError(
                "Predictor.predict takes a file path, bytes, an open binary file, a PIL image "
                f"or a numpy array, not {type(image).__name__}"
            )
        pre = preprocess(image)
        return self._prediction(pre.image, pre)

    def predict_preprocessed(self, image28: np.ndarray) -> Prediction:
        """Classify an already MNIST-style image ``(28, 28)`` in [0, 1] (no preprocessing)."""
        return self._prediction(np.asarray(image28, dtype=np.float32), None)

    def _prediction(self, image: np.ndarray, pre: Preprocessed | None) -> Prediction:
        logits = self.logits(image[None])
        probs = softmax_t(logits, self.temperature)[0]
        strokes = None if pre is None else np.array([pre.stroke])
        why = self.not_a_digit(image[None], strokes, logits)[0]
        order = np.argsort(-probs)
        a, b = int(order[0]), int(order[1])
        return Prediction(
            a,
            self.class_names[a],
            float(probs[a]),
            probs,
            b,
            self.class_names[b],
            float(probs[b]),
            pre,
            bool(why),
            why,
            float(energy(logits)[0]),
        )

    def predict_many(self, paths: Iterable[str | os.PathLike]) -> list[PredictionRow]:
        """One row per picture file (folders are expanded, sorted); bad files get ``error``."""
        rows = []
        for path in expand_paths(paths):
            try:
                rows.append(PredictionRow(str(path), self.predict(path)))
            except ExplainerError as exc:
                rows.append(PredictionRow(str(path), None, _strip_name(str(exc), str(path))))
            except Exception as exc:  # keep the batch going, whatever happens
                rows.append(PredictionRow(str(path), None, f"{type(exc).__name__}: {exc}"[:200]))
        return rows


def trace_with_verdict(ckpt: Checkpoint, trace: Trace, stroke: float | None = None) -> Trace:
    """``trace``, captured through ``ckpt``, with the verdict of ``ckpt``'s
    :class:`Predictor` (:meth:`Predictor.judge`): what the render and capture commands and
    the scenes hand to every view. A model of another dataset (clothes) doubts no digit: its
    Trace is returned as it is."""
    if getattr(ckpt, "dataset", "mnist") != "mnist":
        return trace
    return Predictor(ckpt).judge(trace, stroke)


def _box_stroke(image28: np.ndarray) -> float:
    """Stroke width of an MNIST-style image in pixels of its 20×20 box."""
    top, left, bottom, right = ink_bbox(image28)
    crop = image28[top:bottom, left:right]
    return stroke_width(crop) * BOX / max(crop.shape)


def _strip_name(message: str, name: str) -> str:
    """Errors start with the file name, which the row already has."""
    prefix = f"{name}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def expand_paths(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Files as given; folders give their image files (by suffix, sorted, not recursive).
    A path that does not exist is yielded too, so it gets its own error row."""
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(
                q for q in p.iterdir() if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES
            )
        else:
            yield p


@dataclass
class Summary:
    """Counts per class, mean confidence, and the files the model was unsure about."""

    counts: dict[str, int]
    mean_confidence: float
    low_confidence: list[tuple[str, float]]
    errors: int
    total: int


def summarize(rows: list[PredictionRow], threshold: float = 0.6) -> Summary:
    """Summarise a batch; ``low_confidence`` lists files whose confidence is below ``threshold``."""
    ok = [r for r in rows if r.prediction is not None]
    counts: dict[str, int] = {}
    for r in ok:
        counts[r.prediction.class_name] = counts.get(r.prediction.class_name, 0) + 1
    conf = [r.prediction.confidence for r in ok]
    low = [(r.file, r.prediction.confidence) for r in ok if r.prediction.confidence < threshold]
    return Summary(
        dict(sorted(counts.items())),
        float(np.mean(conf)) if conf else float("nan"),
        sorted(low, key=lambda t: t[1]),
        len(rows) - len(ok),
        len(rows),
    )


# --- Kaggle digit-recognizer ----------------------------------------------------------------


def read_kaggle_csv(path: str | os.PathLike) -> np.ndarray:
    """Kaggle's ``test.csv`` (header ``pixel0..pixel783``, one digit per row, 0-255) as
    ``(N, 28, 28)`` float32 in [0, 1]. A ``label`` column (``train.csv``) is dropped."""
    path = require_file(path, ExplainerError, hint="download test.csv from Kaggle's page")
    try:
        with open(path, encoding="utf-8") as fh:
            header = fh.readline(1 << 16).strip().split(",")
    except UnicodeDecodeError:
        header = ["\0"]
    if any("\0" in h for h in header):
        raise ExplainerError(f"{path}: binary data, not a CSV; give Kaggle's test.csv")
    pixels = [i for i, h in enumerate(header) if h.startswith("pixel")]
    if len(pixels) != 784:
        raise ExplainerError(
            f"{path}: expected Kaggle digit-recognizer columns pixel0..pixel783, "
            f"found {len(pixels)} pixel columns"
        )
    try:
        data = np.loadtxt(
            path,
            delimiter=",",
            skiprows=1,
            usecols=pixels,
            dtype=np.float32,
            ndmin=2,
            encoding="utf-8",
        )
    except (ValueError, UnicodeDecodeError) as exc:
        why = clip_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 120)
        raise ExplainerError(f"{path}: not a numeric CSV ({why})") from None
    _check_pixels(data, path)
    return (data / 255.0).reshape(-1, 28, 28)


def _check_pixels(data: np.ndarray, path: Path) -> None:
    """Refuse the first row ``(N, 784)`` holding a value that is not a number in 0..255 (NaN,
    inf, -3, 300): predicted anyway, it would be a wrong answer without a word."""
    bad = ~np.isfinite(data) | (data < 0) | (data > 255)
    if not bad.any():
        return
    row, col = (int(i[0]) for i in np.nonzero(bad))
    raise ExplainerError(
        f"{path}: row {row + 1} (line {row + 2}), pixel{col} is {data[row, col]:g}; Kaggle "
        "pixels are numbers from 0 to 255: fix or drop that row"
    )


def kaggle_submission(predictor: Predictor, images: np.ndarray, batch: int = 2000) -> str:
    """``ImageId,Label`` CSV text (ids from 1) for Kaggle images ``(N, 28, 28)`` in [0, 1].
    The images are already MNIST-style, so they go straight to the model."""
    parts = [
        predictor.probabilities(images[i : i + batch]).argmax(1)
        for i in range(0, len(images), batch)
    ]
    labels = np.concatenate(parts) if parts else np.zeros(0, dtype=int)
    lines = ["ImageId,Label", *(f"{i},{int(k)}" for i, k in enumerate(labels, start=1))]
    return "\n".join(lines) + "\n"


def steps_figure(pred: Prediction, title: str = ""):
    """A strip for one picture: every preprocessing step (titled, with its size), then the
    probabilities of every class. Returns a matplotlib figure."""
    import matplotlib.pyplot as plt

    from explainer import style
    from explainer.reading.preprocess import STEP_TITLES

    pre = pred.preprocessed
    steps = pre.steps if pre is not None else []
    n = len(steps)
    fig = plt.figure(figsize=(2.0 * n + 3.6, 3.1), layout="constrained")
    grid = fig.add_gridspec(1, n + 1, width_ratios=[1] * n + [1.7])
    for i, (name, img) in enumerate(steps):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(img, cmap=style.INPUT_CMAP, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"{i + 1}. {STEP_TITLES.get(name, name)}", fontsize=9.5)
        ax.set_xlabel(f"{img.shape[1]}×{img.shape[0]} px", fontsize=8.5)
        ax.set_xticks([])
        ax.set_yticks([])
    ax = fig.add_subplot(grid[0, n])
    k = len(pred.probs)
    top = "#9a9a9a" if pred.not_a_digit else style.HIGHLIGHT_COLOR  # greyed: no digit to pick
    colors = [top if j == pred.label else "#d0d0d0" if pred.not_a_digit else "#9db7d5"
              for j in range(k)]  # fmt: skip
    ax.barh(range(k), pred.probs, color=colors)
    ax.set_yticks(range(k), [str(j) for j in range(k)] if k == 10 else None)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability", fontsize=9.5)
    said = f"{pred.class_name} ({confidence_text(pred.confidence)})"
    ax.set_title(
        verdict_text(said).replace(" If", "\nIf", 1).replace(" would", "\nwould", 1)
        if pred.not_a_digit
        else f"prediction: {said}",
        fontsize=10.5,
        fontweight="bold",
    )
    ax.tick_params(labelsize=8.5)
    ax.grid(axis="x", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig

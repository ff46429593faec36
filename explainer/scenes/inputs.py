"""Which Trace a scene shows.

``EXPLAINER_TRACE`` (a ``.npz`` written by ``explainer capture``) when set, else a bundled test
digit through ``EXPLAINER_ARCH`` (an architecture name) when set, else through the shipped
``models/mnist_bn_cnn.pt`` (``mnist_tinyvgg`` or any other
shipped MNIST model while that one is not trained yet). ``EXPLAINER_TRACE_B`` picks the second
Trace of the comparison scene; by default the same digit goes through a second shipped model.
"""

from __future__ import annotations

import os

from explainer.errors import ExplainerError
from explainer.paths import PREFERRED_ARCHITECTURES
from explainer.tracing.trace import Trace

TRACE_ENV = "EXPLAINER_TRACE"
TRACE_B_ENV = "EXPLAINER_TRACE_B"
ARCH_ENV = "EXPLAINER_ARCH"
PREFERRED_MODELS = tuple(f"mnist_{a}" for a in PREFERRED_ARCHITECTURES[:4])
COMPARISON_PARTNERS = ("mnist_mlp", "mnist_linear", "mnist_tinyvgg")
DEFAULT_DIGIT_INDEX = 7  # a clear "7" in the bundled sample (interleaved 0..9, 0..9, ...)


def shipped_model(preferred: tuple[str, ...] = PREFERRED_MODELS, dataset: str = "mnist"):
    """The first readable shipped checkpoint of ``preferred`` (else any shipped model of
    ``dataset``)."""
    from explainer.nets.checkpoints import (
        CheckpointError,
        load_checkpoint,
        models_dir,
        shipped_checkpoints,
    )

    paths = [models_dir() / f"{name}.pt" for name in preferred]
    for path in [*paths, *shipped_checkpoints(dataset)]:
        if path.exists():
            try:
                return load_checkpoint(path)
            except CheckpointError:
                continue  # being written by a training run, or from an older version
    raise ExplainerError(
        f"no trained {dataset} model in {models_dir()}: run `make models` or set {TRACE_ENV}"
    )


def bundled_digit(index: int = DEFAULT_DIGIT_INDEX) -> tuple:
    """``(image (28, 28) float32 in [0, 1], label, source text)`` from the bundled sample."""
    from explainer.data import load_sample

    sample = load_sample("mnist")
    img = sample.images[index].numpy()
    img = img.astype("float32") / 255.0 if img.dtype.name == "uint8" else img.astype("float32")
    test_id = int(sample.indices[index]) if sample.indices is not None else index
    return img.reshape(28, 28), int(sample.labels[index]), f"MNIST test #{test_id}"


def capture_shipped(ckpt, image, label: int | None, source: str) -> Trace:
    """Capture ``image`` (``(28, 28)`` in [0, 1]) through a loaded checkpoint, with its
    not-a-digit verdict (:func:`~explainer.reading.predict.trace_with_verdict`)."""
    from explainer.reading.predict import trace_with_verdict
    from explainer.tracing.capture import capture_checkpoint

    trace = capture_checkpoint(ckpt, image, label=label, source=source)
    return trace_with_verdict(ckpt, trace)


def architecture_trace(arch: str) -> Trace:
    """The bundled digit through architecture ``arch``: its shipped ``mnist_<arch>`` model
    when there is one, else fresh (untrained) weights, which still have the right shapes."""
    from explainer.nets.architectures import build, describe
    from explainer.nets.checkpoints import CheckpointError, load_checkpoint, models_dir
    from explainer.tracing.capture import capture

    describe(arch)  # one-line error for an unknown name
    image, label, source = bundled_digit()
    path = models_dir() / f"mnist_{arch}.pt"
    if path.exists():
        try:
            return capture_shipped(load_checkpoint(path), image, label, source)
        except CheckpointError:
            pass
    return capture(build(arch).eval(), image, label=label, source=f"{source}, untrained weights")


def default_trace() -> Trace:
    """``EXPLAINER_TRACE`` if set, else the bundled digit through ``EXPLAINER_ARCH`` (an
    architecture name) if set, else through the shipped model."""
    env = os.environ.get(TRACE_ENV)
    if env:
        return Trace.load(env)
    arch = os.environ.get(ARCH_ENV)
    if arch:
        return architecture_trace(arch)
    image, label, source = bundled_digit()
    return capture_shipped(shipped_model(), image, label, source)


def comparison_traces(first: Trace | None = None) -> tuple[Trace, Trace]:
    """Two Traces of the same input: ``first`` (default :func:`default_trace`) and
    ``EXPLAINER_TRACE_B`` if set, else the input through a simpler shipped model of the same
    dataset."""
    first = first or default_trace()
    env = os.environ.get(TRACE_B_ENV)
    if env:
        return first, Trace.load(env)
    partners = [p for p in COMPARISON_PARTNERS if p != first.checkpoint]
    others = tuple(partners) if first.dataset == "mnist" else ()
    ckpt = shipped_model(others, dataset=first.dataset)
    if ckpt.name == first.checkpoint:
        raise ExplainerError(
            f"only one shipped {first.dataset} model; set {TRACE_B_ENV} to compare with another"
        )
    return first, capture_shipped(ckpt, first.image, first.label, first.source)

"""The network as one ONNX graph whose outputs are every recorded layer's value.

:func:`onnx_model` exports :class:`~explainer.webpage.replay.Replay` with ``torch.onnx``'s
TorchScript exporter (``dynamo=False``: it needs only the ``onnx`` package and works offline),
then runs the graph once with ``onnxruntime`` on the digit the Trace was captured from and
checks every output against the Trace (largest difference at most :data:`TOLERANCE`), so a
page never ships a graph that computes something else. An operation the exporter cannot
express is one line naming the record and the operation (:class:`NotExportable`).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from explainer.extras import require
from explainer.tracing.trace import LayerRecord, Trace
from explainer.webpage.replay import NotExportable, Replay

__all__ = ["OPSET", "TOLERANCE", "check_outputs", "detector_model", "is_float", "onnx_model",
           "output_names"]  # fmt: skip

OPSET = 17  # onnxruntime-web 1.23 runs opsets up to 23; 17 has every op a Trace records
TOLERANCE = 1e-4  # the page's values must equal the library's to this (largest abs difference)
# ... scaled by a record's largest magnitude where that is above 1: float32 itself rounds a
# sum near 400 by 3e-5, so two correct programs may differ by more than 1e-4 there.


def output_names(trace: Trace) -> list[str]:
    """The graph's output names, one per record in the Trace's order: ``v0``, ``v1``..."""
    return [f"v{i}" for i in range(len(trace.layers))]


def onnx_model(model: nn.Module, trace: Trace) -> bytes:
    """The serialised ONNX model of every record of ``trace`` (input ``x``: ``(1, 1, 28, 28)``
    float32, the digit in [0, 1]; outputs :func:`output_names`), checked against ``trace``."""
    require("web", "explainer export-page")
    replay = Replay(model, trace).eval()
    try:
        data = _export(replay, trace)
    except NotExportable:
        raise
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise NotExportable(_failure(model, trace, exc)) from None
    check_outputs(data, trace)
    return data


def _export(replay: Replay, trace: Trace) -> bytes:
    return _to_onnx(replay, trace.model_input[None], output_names(trace)[: len(replay.records)])


def _to_onnx(module: nn.Module, x: np.ndarray, outputs: list[str]) -> bytes:
    """``module`` traced on ``x`` ``(1, 1, 28, 28)`` as a serialised ONNX model (input ``x``)."""
    example = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_fds():
        warnings.simplefilter("ignore")  # the exporter's notes on tracing are not for a teacher
        torch.onnx.export(
            module,
            (example,),
            buffer,
            dynamo=False,
            input_names=["x"],
            output_names=outputs,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def detector_model(net: nn.Module, image: np.ndarray) -> bytes:
    """The not-a-digit detector (:class:`~explainer.nets.not_a_digit.DetectorNet`) as ONNX:
    input ``x`` ``(1, 1, 28, 28)``, output ``score`` ``(1,)``; checked on ``image``
    ``(28, 28)`` against the net itself (largest difference at most :data:`TOLERANCE`)."""
    import onnxruntime

    x = np.asarray(image, dtype=np.float32).reshape(1, 1, 28, 28)
    data = _to_onnx(net.eval(), x, ["score"])
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    if not float(np.max(np.abs(session.run(None, {"x": x})[0] - want))) <= TOLERANCE:
        raise NotExportable("the exported not-a-digit detector differs from the library's")
    return data


@contextlib.contextmanager
def _quiet_fds() -> Iterator[None]:
    """Keep torch's C++ log ("Torch IR graph at exception: ...", written to file descriptor 1
    whatever the log setting) off the terminal: a failure becomes one line of our own."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with tempfile.TemporaryFile() as sink:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            try:
                yield
            finally:
                for fd, old in zip((1, 2), saved, strict=True):
                    os.dup2(old, fd)
    finally:
        for old in saved:
            os.close(old)


def _failure(model: nn.Module, trace: Trace, exc: Exception) -> str:
    """The one-line message for a failed export: the first record whose graph cannot be
    exported (found by exporting longer and longer prefixes), with the exporter's reason."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    for i, r in enumerate(trace.layers):
        try:
            _export(Replay(model, trace, upto=i + 1).eval(), trace)
        except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            what = r.params.get("function") or r.params.get("type") or r.kind
            return (
                f"the page cannot compute {r.name} ({what}): torch.onnx cannot export it "
                f"({first}); write it with standard torch layers or functions"
            )
    return f"torch.onnx cannot export this model ({first})"


def is_float(record: LayerRecord) -> bool:
    """Whether a record holds values (not indices or a mask)."""
    return record.params.get("dtype", "float32").startswith(("float", "bfloat"))


def allowed_difference(value: np.ndarray) -> float:
    """:data:`TOLERANCE`, times the value's largest magnitude when that is above 1."""
    return TOLERANCE * max(1.0, float(np.max(np.abs(value), initial=0.0)))


def check_outputs(data: bytes, trace: Trace) -> None:
    """Run the graph with onnxruntime on the Trace's input; a one-line
    :class:`NotExportable` naming the first record whose value differs by more than
    :func:`allowed_difference`. Records of indices (``sort``, ``topk``, ``argmax``: an integer
    ``dtype``) are left out: where values tie, which index comes first is unspecified in
    torch as in ONNX, and a record computed from them is checked in its own right."""
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(trace.model_input, dtype=np.float32)[None]
    values = session.run(None, {"x": x})
    for r, v in zip(trace.layers, values, strict=True):
        if not is_float(r):
            continue
        got = v if r.params.get("batched", True) is False else v[0]
        diff = float(np.max(np.abs(got - r.output))) if got.shape == r.output.shape else np.inf
        if not diff <= allowed_difference(r.output):
            raise NotExportable(
                f"the exported graph computes {r.name} differently from the model (largest "
                f"difference {diff:.3g}); the page would show wrong values, so none was written"
            )

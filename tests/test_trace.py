"""The Trace file format: exact round trip, no pickle, clear errors for foreign files."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from trace_files import rewrite_header
from zoo import build_zoo

from explainer.cli import main
from explainer.nets.architectures import build
from explainer.tracing.capture import capture
from explainer.tracing.recompute import check_trace
from explainer.tracing.trace import FORMAT, Trace, TraceError


@pytest.fixture(scope="module")
def trace(sample):
    torch.manual_seed(0)
    model = build("bn_cnn").eval()
    return capture(
        model,
        sample.floats()[5],
        label=int(sample.labels[5]),
        checkpoint="demo",
        checkpoint_hash="abc123",
        source="sample #5",
        meta={"epoch": np.int64(3), "note": "é"},
    )


def _assert_same(a: Trace, b: Trace) -> None:
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.logits, b.logits)
    assert a.image.dtype == b.image.dtype and a.logits.dtype == b.logits.dtype
    for field in ("class_names", "label", "architecture", "checkpoint", "checkpoint_hash"):
        assert getattr(a, field) == getattr(b, field), field
    assert (a.dataset, a.source) == (b.dataset, b.source)
    assert a.names() == b.names()
    for ra, rb in zip(a.layers, b.layers, strict=True):
        assert (ra.kind, ra.params, ra.input_shape) == (rb.kind, rb.params, rb.input_shape)
        np.testing.assert_array_equal(ra.output, rb.output)
        assert ra.output.dtype == rb.output.dtype
        for wa, wb in ((ra.weight, rb.weight), (ra.bias, rb.bias)):
            assert (wa is None) == (wb is None)
            if wa is not None:
                np.testing.assert_array_equal(wa, wb)


def test_round_trip_is_exact(trace, tmp_path):
    path = trace.save(tmp_path / "t.npz")
    back = Trace.load(path)
    _assert_same(trace, back)
    assert back.meta == {"epoch": 3, "note": "é"}
    assert back.prediction == trace.prediction and back.correct == trace.correct
    # the file holds no pickled object: every member loads with allow_pickle=False
    with np.load(path, allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    assert not list(tmp_path.glob(".*tmp*")), "atomic write left a temporary file"


def test_summary_and_probabilities(trace):
    text = trace.summary()
    assert "block1.conv1" in text and "conv 3×3, 1→32, pad 1" in text and "32×28×28" in text
    assert f"predicted {trace.predicted_name}" in text
    assert trace.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(TraceError, match=r"block1\.conv1"):
        trace.layer("nope")


def test_foreign_files_are_refused(trace, tmp_path):
    with pytest.raises(TraceError, match="not found"):
        Trace.load(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(TraceError, match="not a readable"):
        Trace.load(tmp_path / "text.npz")
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    with pytest.raises(TraceError, match="no header"):
        Trace.load(tmp_path / "other.npz")
    np.save(tmp_path / "plain.npy", np.arange(3))
    with pytest.raises(TraceError, match=r"plain \.npy"):
        Trace.load(tmp_path / "plain.npy")
    np.savez(tmp_path / "wrong.npz", header=np.array('{"format": "something-else"}'))
    with pytest.raises(TraceError, match="not a mnist-explainer trace"):
        Trace.load(tmp_path / "wrong.npz")
    # a pickle inside the archive is never executed
    np.savez(tmp_path / "pickled.npz", header=np.array([{"format": FORMAT}], dtype=object))
    with pytest.raises(TraceError, match="not a readable"):
        Trace.load(tmp_path / "pickled.npz")
    (tmp_path / "raw.pkl").write_bytes(pickle.dumps({"format": FORMAT}))
    with pytest.raises(TraceError):
        Trace.load(tmp_path / "raw.pkl")
    # a newer format version and a cut file
    path = trace.save(tmp_path / "t.npz")
    data = path.read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(TraceError, match="not a readable"):
        Trace.load(tmp_path / "cut.npz")


def test_cli_error_is_one_line(tmp_path, capsys):
    (tmp_path / "x.npz").write_text("junk")
    from explainer.commands import capture as cmd

    # `explainer capture --show FILE` prints a saved trace; a foreign file is one line
    code = main(["capture", "--show", str(tmp_path / "x.npz")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("explainer: error: ") and err.count("\n") == 1
    assert cmd.HELP


def test_cli_capture_writes_the_same_trace(tmp_path, sample, capsys):
    from explainer.nets.checkpoints import load_checkpoint, make_payload, save_checkpoint
    from explainer.tracing.capture import capture_checkpoint

    torch.manual_seed(0)
    payload = make_payload(build("tinyvgg"), dataset="mnist", class_names=list("0123456789"))
    ckpt_path = save_checkpoint(tmp_path / "mnist_tinyvgg.pt", payload)
    out = tmp_path / "t.npz"
    code = main(["capture", str(ckpt_path), "--digit", "3", "--out", str(out),
                 "--layers", "block1.conv1", "classifier.fc"])  # fmt: skip
    assert code == 0 and "block1.conv1" in capsys.readouterr().out
    got = Trace.load(out)
    i = int(np.nonzero(sample.labels.numpy() == 3)[0][0])
    ref = capture_checkpoint(load_checkpoint(ckpt_path), sample.floats()[i, 0], label=3)
    assert got.names() == ["block1.conv1", "classifier.fc"] and got.label == 3
    np.testing.assert_array_equal(
        got.layer("block1.conv1").output, ref.layer("block1.conv1").output
    )
    np.testing.assert_array_equal(got.logits, ref.logits)
    assert main(["capture", str(ckpt_path), "--layers", "nope"]) == 2
    assert "--list-layers" in capsys.readouterr().err


def test_tuple_elements_attention_and_norms_survive_a_file(tmp_path, sample):
    for name in ("split", "tiny_vit", "convnext"):
        trace = capture(build_zoo(name), sample.floats()[2, 0])
        back = Trace.load(trace.save(tmp_path / f"{name}.npz"))
        _assert_same(trace, back)
        for ra, rb in zip(trace.layers, back.layers, strict=True):
            assert ra.inputs == rb.inputs and ra.arrays.keys() == rb.arrays.keys()
    trace = capture(build_zoo("tiny_vit"), sample.floats()[2, 0])
    back = Trace.load(trace.save(tmp_path / "vit.npz"))
    attention = trace.layer("attn.multi_head_attention_forward[0]")
    back_attention = back.layer("attn.multi_head_attention_forward[0]")
    np.testing.assert_array_equal(back_attention.arrays["attention"], attention.arrays["attention"])
    assert back_attention.params["element"] == [0] and back_attention.params["batched"] is False


@pytest.mark.parametrize(
    ("field", "value"),
    [("element", [-1]), ("element", "first"), ("batched", "no"), ("dtype", "object"),
     ("axes", [1.5]), ("norm", "magic")],
)  # fmt: skip
def test_damaged_record_params_are_one_line_errors(field, value, tmp_path, sample):
    path = capture(build_zoo("split"), sample.floats()[2, 0]).save(tmp_path / "t.npz")
    rewrite_header(path, lambda header: header["layers"][2]["params"].__setitem__(field, value))
    with pytest.raises(TraceError, match=rf"layers\[2\].*params\.{field}") as err:
        Trace.load(path)
    assert "\n" not in str(err.value)


def test_a_norm_record_of_an_earlier_capture_still_replays(sample):
    """Version-2 files written before norms said their axes: a layer norm recorded as kind
    ``bn`` with only its type and ``normalized_shape`` reads and replays as before."""
    trace = capture(build_zoo("tiny_vit"), sample.floats()[2, 0])
    norm = trace.layer("norm")
    norm.kind = "bn"
    for key in ("norm", "axes", "over"):
        del norm.params[key]
    assert norm.description == "layer norm" and check_trace(trace) == []

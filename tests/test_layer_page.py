"""The Layer-by-layer page shows the network's own numbers, for the shipped mnist_bn_cnn and
for the user-style networks of the zoo.

The panels' numbers (explainer.app.layer_views, through explainer.analysis.arith) are compared with
torch
run on each record's real input: ``F.batch_norm`` with the model's own running statistics,
the model's own activation module (or the torch function it called), ``F.max_pool2d`` /
``F.avg_pool2d``, ``F.linear`` with the module's weights, ``torch.softmax``, ``+``/``×``,
``torch.cat``, ``torch.flatten``. A tampered trace makes every panel refuse; the page itself
runs headless (AppTest) through every record and shows a refusal as one error line.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from explainer.analysis import arith
from explainer.analysis.arith import ArithMismatch
from explainer.app import layer_views as lv
from explainer.tracing.capture import capture
from explainer.tracing.trace import LayerRecord
from tests.zoo import ZOO, build_zoo

CASES = ["mnist_bn_cnn", *ZOO]
PANELS = {
    "normalize": lv.normalize_view, "bn": lv.norm_view, "relu": lv.activation_view,
    "pool": lv.pool_view, "linear": lv.dense_view, "add": lv.elementwise_view,
    "mul": lv.elementwise_view, "concat": lv.concat_view, "flatten": lv.flatten_view,
    "softmax": lv.softmax_view,
}  # fmt: skip
FUNCTIONS = {"relu": F.relu, "tanh": torch.tanh, "silu": F.silu, "gelu": F.gelu}


def _model(name: str) -> torch.nn.Module:
    if name == "mnist_bn_cnn":
        from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint

        return load_checkpoint(resolve_checkpoint(name)).model.eval()
    return build_zoo(name)


@pytest.fixture(scope="module")
def nets(sample):
    image = sample.images[7].numpy().astype(np.float32) / 255.0
    out = {}
    for name in CASES:
        model = _model(name)
        out[name] = (model, capture(model, image))
    return out


def _x(trace, rec: LayerRecord, k: int = 0) -> torch.Tensor:
    """The record's real input (what the network fed it), batched, as torch."""
    return torch.from_numpy(np.array(trace.inputs_of(rec)[k], dtype=np.float32))[None]


def _module(model, rec: LayerRecord):
    try:
        return model.get_submodule(re.sub(r"#\d+$", "", rec.name))
    except AttributeError:
        return None


def _torch(model, trace, rec: LayerRecord) -> np.ndarray:
    """The reference: torch's own operation on the record's real input (module settings read
    from the model itself where the record is a module), batch axis removed."""
    x, m, p = _x(trace, rec), _module(model, rec), rec.params
    with torch.no_grad():
        if rec.kind == "bn":
            y = F.batch_norm(x, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)
        elif rec.kind == "relu":
            y = m(x.clone()) if m is not None else FUNCTIONS[p["function"]](x)
        elif rec.kind == "pool" and p.get("adaptive"):
            y = F.adaptive_avg_pool2d(x, rec.output.shape[1:])
        elif rec.kind == "pool":
            k, s = (m.kernel_size, m.stride) if m is not None else (p["kernel_size"], p["stride"])
            y = (F.max_pool2d if p["mode"] == "max" else F.avg_pool2d)(x, k, s)
        elif rec.kind == "linear":
            y = F.linear(x.flatten(1), m.weight, m.bias)
        elif rec.kind == "normalize":
            y = (x - p["mean"]) / p["std"]
        else:
            raise AssertionError(rec.kind)
    ref = y[0].numpy().astype(np.float64)
    np.testing.assert_allclose(ref, rec.output, atol=1e-4, err_msg=rec.name)  # the same pass
    return ref


def _records(trace, *kinds: str) -> list[LayerRecord]:
    return [r for r in trace.layers if r.kind in kinds]


def _unminus(text: str) -> float:
    return float(text.replace("\u2212", "-"))


@pytest.mark.parametrize("name", CASES)
def test_batch_norm_panels_are_torchs(nets, name):
    model, trace = nets[name]
    for rec in _records(trace, "bn"):
        v = lv.norm_view(trace, rec)
        ref = _torch(model, trace, rec)
        m = _module(model, rec)
        c = v.index[0]
        assert v.cell.value == pytest.approx(ref[v.index], abs=1e-4)
        assert v.cell.mean == pytest.approx(float(m.running_mean[c]))
        assert v.cell.var == pytest.approx(float(m.running_var[c]))
        assert v.cell.x == pytest.approx(float(trace.inputs_of(rec)[0][v.index]))
        assert abs(ref[v.index]) == pytest.approx(np.abs(ref).max())  # the strongest output
        last = v.lines()[-1]
        assert last.endswith(arith.fmt(ref[v.index], v.decimals)) and "-" not in last


@pytest.mark.parametrize("name", CASES)
def test_activation_panels_are_torchs(nets, name):
    model, trace = nets[name]
    for rec in _records(trace, "relu"):
        v = lv.activation_view(trace, rec)
        ref = _torch(model, trace, rec)
        x = trace.inputs_of(rec)[0]
        np.testing.assert_allclose(v.before.ravel(), x[v.index].ravel(), atol=1e-6)
        np.testing.assert_allclose(v.after.ravel(), ref[v.index].ravel(), atol=1e-4)
        if (x < 0).any() and (x > 0).any():
            assert (v.before < 0).any(), rec.name  # the activation visibly does something
        if v.grid is not None:  # the block sits on the next pooling's own grid
            s = v.grid.params["stride"][0]
            assert v.index[1].start % s == 0 and v.index[2].start % s == 0
            assert v.before.shape[0] % s == 0
        if rec.params.get("function") == "tanh":
            assert "tanh" in lv.explain(rec) and "ReLU" not in lv.explain(rec)


@pytest.mark.parametrize("name", CASES)
def test_pooling_panels_are_torchs(nets, name):
    model, trace = nets[name]
    for rec in _records(trace, "pool"):
        v = lv.pool_view(trace, rec)
        ref = _torch(model, trace, rec)
        c = v.cell
        assert c.value == pytest.approx(ref[c.channel, c.y, c.x], abs=1e-4)
        ys = sorted({q.y for q in v.cells})
        xs = sorted({q.x for q in v.cells})
        np.testing.assert_allclose(v.block, ref[c.channel][np.ix_(ys, xs)], atol=1e-4)
        ry, rx = v.region_at
        h, w = v.region.shape
        x = trace.inputs_of(rec)[0][c.channel]
        np.testing.assert_allclose(v.region, x[ry : ry + h, rx : rx + w], atol=1e-6)
        if not rec.params.get("adaptive"):  # the shown window is the network's own
            k, s = rec.params["kernel_size"], rec.params["stride"]
            win = x[c.y * s[0] : c.y * s[0] + k[0], c.x * s[1] : c.x * s[1] + k[1]]
            np.testing.assert_allclose(c.window, win, atol=1e-6)
        mode = rec.params["mode"]
        assert ("average" in lv.explain(rec)) == (mode != "max")
        assert ("largest" in lv.explain(rec)) == (mode == "max")
        assert v.formula().startswith("max" if mode == "max" else "(")


@pytest.mark.parametrize("name", CASES)
def test_dense_panels_are_torchs(nets, name):
    model, trace = nets[name]
    for rec in _records(trace, "linear"):
        v = lv.dense_view(trace, rec)
        ref = _torch(model, trace, rec)
        m = _module(model, rec)
        x = _x(trace, rec).flatten().numpy()
        unit = v.row.unit
        assert v.row.value == pytest.approx(ref[unit], abs=1e-4)
        np.testing.assert_allclose(v.row.products, x * m.weight[unit].detach().numpy(), atol=1e-6)
        assert sum(v.terms) == pytest.approx(ref[unit], abs=1e-4)  # the rest is not a remainder
        if rec is _records(trace, "linear")[-1]:
            assert unit == int(torch.from_numpy(trace.logits).argmax())
        if v.exact:  # what a learner adds up by hand gives what is shown
            written = [round(t, v.decimals) for t in v.terms]
            assert arith.fmt(sum(written), v.decimals) == arith.fmt(ref[unit], v.decimals)


@pytest.mark.parametrize("name", CASES)
def test_softmax_panels_are_torchs(nets, name):
    _unused, trace = nets[name]
    ref = torch.softmax(torch.from_numpy(trace.logits).double(), 0).numpy()
    np.testing.assert_allclose(lv.softmax_view(trace).softmax.probs, ref, atol=1e-6)
    for rec in _records(trace, "softmax"):
        z = _x(trace, rec).double()[0]
        v = lv.softmax_view(trace, rec)
        np.testing.assert_allclose(v.softmax.probs, torch.softmax(z, 0).numpy(), atol=1e-6)
        np.testing.assert_allclose(np.log(v.softmax.probs), rec.output, atol=1e-4)


@pytest.mark.parametrize("name", ["resnetish", "strided"])
def test_joins_and_reshapes_are_torchs(nets, name):
    _unused, trace = nets[name]
    for rec in _records(trace, "add", "mul"):
        v = lv.elementwise_view(trace, rec)
        refs = [trace.value(n) if n in trace.names() else None for n in v.ew.operands]
        for idx, a, b, out in v.ew.cells:
            ta = torch.tensor(refs[0][idx] if refs[0] is not None else a)
            tb = torch.tensor(refs[1][idx] if refs[1] is not None else b)
            want = ta + tb if rec.kind == "add" else ta * tb
            assert (a, b) == pytest.approx((float(ta), float(tb)))
            assert out == pytest.approx(float(want), abs=1e-5)
    for rec in _records(trace, "concat"):
        lines = lv.concat_view(trace, rec)
        assert torch.equal(torch.cat([_x(trace, rec, k) for k in range(2)], 1)[0],
                           torch.from_numpy(rec.output.copy()))  # fmt: skip
        assert lines == [
            "channels 0–3 = branch_a (unchanged)",
            "channels 4–7 = branch_b (unchanged)",
        ]
    for rec in _records(trace, "flatten"):
        k, src, value = lv.flatten_view(trace, rec)
        assert value == float(torch.flatten(_x(trace, rec))[k])
        assert value == float(trace.inputs_of(rec)[0][src])
    assert any(r.kind == ("concat" if name == "resnetish" else "mul") for r in trace.layers)


def test_explanations_name_the_operation_used(nets):
    _m, trace = nets["strided"]
    assert "GELU" in lv.explain(trace.layer("act1"))
    assert "0.1·x" in lv.explain(trace.layer("act3"))
    assert "own group of 1" in lv.explain(trace.layer("depthwise"))
    assert "mul and act2" in lv.explain(trace.layer("add"))


# --- tampered traces -------------------------------------------------------------------------


def _tamper_output(trace, name: str):
    t = copy.deepcopy(trace)
    rec = t.layer(name)
    rec.output = rec.output + np.float32(0.5)
    return t


@pytest.mark.parametrize("name", ["mnist_bn_cnn", "resnetish", "strided", "examples"])
def test_a_tampered_output_is_refused_by_every_panel(nets, name):
    _m, trace = nets[name]
    seen = set()
    for rec in trace.layers:
        key = (rec.kind, rec.output.ndim, bool(rec.params.get("adaptive")))
        if rec.kind not in PANELS or key in seen:
            continue
        seen.add(key)
        PANELS[rec.kind](trace, rec)  # the real trace: no refusal
        bad = _tamper_output(trace, rec.name)
        with pytest.raises(ArithMismatch, match=re.escape(rec.name)):
            PANELS[rec.kind](bad, bad.layer(rec.name))
    assert len(seen) >= 4


def test_a_wrong_input_is_refused(nets):
    """A record that claims to read another record of the same shape (the old "previous
    record" assumption) cannot show numbers."""
    _m, trace = nets["resnetish"]
    for name, wrong in [("block.relu#2", "block.bn2"), ("block.bn2", "block.conv1"),
                        ("max_pool2d", "block.add")]:  # fmt: skip
        bad = copy.deepcopy(trace)
        bad.layer(name).inputs = [wrong]
        with pytest.raises(ArithMismatch, match=re.escape(name)):
            PANELS[bad.layer(name).kind](bad, bad.layer(name))


def test_tampered_running_statistics_are_refused(nets):
    _m, trace = nets["mnist_bn_cnn"]
    bad = copy.deepcopy(trace)
    bn = bad.layer("block2.bn1")
    bn.arrays = {**bn.arrays, "running_var": bn.arrays["running_var"] * 2}
    with pytest.raises(ArithMismatch, match=r"block2\.bn1"):
        lv.norm_view(bad, bn)
    fc = bad.layer("classifier.fc2")
    fc.weight = fc.weight.copy()
    fc.weight[:, :] *= 1.5
    with pytest.raises(ArithMismatch, match=r"classifier\.fc2"):
        lv.dense_view(bad, fc)


# --- the page, headless ----------------------------------------------------------------------

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def _layer_page(monkeypatch, tmp_path, name: str):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    if name != "mnist_bn_cnn":
        from explainer.nets.checkpoints import save_checkpoint

        path = save_checkpoint(tmp_path / f"{name}.pt", build_zoo(name))
        monkeypatch.setenv("EXPLAINER_APP_MODEL", str(path))
        code = f"{Path(__file__).parent / 'zoo.py'}:{ZOO[name].__name__}"
        monkeypatch.setenv("EXPLAINER_APP_CODE", code)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["model"] = name
    at.run()
    at.switch_page("explainer/app/layers.py").run()
    assert at.selectbox(key="model").value == name
    return at


def _ok(at) -> None:
    assert not at.exception, at.exception[0].value if at.exception else ""
    assert not at.error, at.error[0].value if at.error else ""


def _page_text(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def _expected_text(trace, rec: LayerRecord) -> str | None:
    """A number the page must write for ``rec`` (the checked result of its panel)."""
    if rec.kind == "bn":
        v = lv.norm_view(trace, rec)
        return arith.fmt(v.cell.value, v.decimals)
    if rec.kind == "pool":
        return lv.pool_view(trace, rec).formula()
    if rec.kind == "linear":
        v = lv.dense_view(trace, rec)
        return arith.fmt(v.row.value, v.decimals)
    if rec.kind in ("add", "mul"):
        v = lv.elementwise_view(trace, rec)
        return arith.fmt(v.ew.cells[0][3], v.decimals)
    return None


@pytest.mark.parametrize("name", ["mnist_bn_cnn", "tanh_lenet", "strided"])
def test_every_record_of_the_page_renders_its_checked_numbers(name, monkeypatch, tmp_path):
    at = _layer_page(monkeypatch, tmp_path, name)
    _ok(at)
    trace = capture(_model(name), at.session_state["digit"].image)
    steps = at.selectbox(key="layer_step")
    assert [o.split(" · ", 1)[1].split(" — ")[0] for o in steps.options] == trace.names()
    for step, rec in enumerate(trace.layers):
        at.selectbox(key="layer_step").set_value(step).run()
        _ok(at)
        assert at.header[0].value.startswith(rec.name)
        want = _expected_text(trace, rec)
        if want is not None:
            assert want in _page_text(at), (rec.name, want)


def test_the_page_refuses_a_tampered_trace_in_one_line(monkeypatch, tmp_path):
    from explainer.app import digits

    real = digits.capture_checkpoint

    def tampered(*args, **kwargs):
        return _tamper_output(real(*args, **kwargs), "block1.bn2")

    digits._trace.clear()
    monkeypatch.setattr(digits, "capture_checkpoint", tampered)
    try:
        at = _layer_page(monkeypatch, tmp_path, "mnist_bn_cnn")
        options = at.selectbox(key="layer_step").options
        step = next(i for i, o in enumerate(options) if " · block1.bn2 — " in o)
        at.selectbox(key="layer_step").set_value(step).run()
        assert not at.exception
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "block1.bn2" in errors[0] and "\n" not in errors[0]
        assert "γ ·" not in _page_text(at)  # no numbers drawn
    finally:
        digits._trace.clear()

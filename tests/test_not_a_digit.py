"""The not-a-digit detector and the calibration stored with a model: its threshold points the
right way, both ink bounds count, the temperature and the detector come from the checkpoint
file (read here with torch.load, not through the code under test), `explainer train` stores
them, the "never worse" guard and the ECE that `explainer evaluate` reports."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from explainer.nets.calibration import CalibrationError, calibration_entry
from explainer.nets.checkpoints import models_dir
from explainer.nets.not_a_digit import Detector, DetectorNet, fit_detector, load_companion
from explainer.nets.ood import OodRule
from explainer.reading.predict import Predictor


class Scored(Detector):
    """A detector whose score of an image is its top-left pixel: known scores, no network."""

    def scores(self, images, logits=None, batch: int = 4096) -> np.ndarray:
        return np.asarray(images, np.float64).reshape(len(images), -1)[:, 0]


def images_scored(values) -> np.ndarray:
    x = np.zeros((len(values), 28, 28), np.float32)
    x[:, 0, 0] = values
    return x


def test_threshold_is_fitted_above_the_digits_and_flags_the_high_scores():
    digits = images_scored(np.arange(1000) / 1000)  # scores 0.000 .. 0.999, all distinct
    det = fit_detector(Scored(DetectorNet(), 0.0), digits, quantile=0.99)
    assert 0.989 <= det.threshold < 0.990  # 10 of 1000 digits score above it
    assert det.flags(digits).sum() == 10 and det.val_flagged == pytest.approx(0.01)
    assert det.flags(images_scored([5.0, 0.2])).tolist() == [True, False]  # outlier, digit
    base = np.zeros(1000, bool)
    base[:5] = True  # the energy and ink cues flag 5 low-scoring digits more
    assert fit_detector(Scored(DetectorNet(), 0.0), digits, base, 0.99).val_flagged == 0.015


def test_both_ink_bounds_flag():
    rule = OodRule(threshold=1e9, ink_range=(10 / 784, 100 / 784))  # energy never fires
    logits = np.zeros((4, 10))
    x = np.zeros((4, 784), np.float32)
    for row, k in enumerate((9, 10, 100, 101)):  # ink pixels: below, at, at, above the range
        x[row, :k] = 1.0
    reasons = rule.reasons(logits, x.reshape(4, 28, 28), np.full(4, 2.5))
    assert [bool(r) for r in reasons] == [True, False, False, True]
    assert all("ink" in r for r in (reasons[0], reasons[3]))


def test_temperature_is_the_one_stored_in_the_file(bn_cnn):
    raw = torch.load(bn_cnn.path, map_location="cpu", weights_only=True)
    t = float(raw["calibration"]["temperature"])
    assert abs(t - 1.0) > 0.01  # a fitted T, so a predictor that ignores it shows
    p = Predictor(bn_cnn.path)
    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28)).astype(np.float32)
    with torch.no_grad():
        logits = p.checkpoint.model(torch.from_numpy(x)[:, None]).double().numpy()
    z = (logits - logits.max(1, keepdims=True)) / t
    log_p = z - np.log(np.exp(z).sum(1, keepdims=True))  # compared as logs: small ones count
    np.testing.assert_allclose(np.log(p.probabilities(x)), log_p, rtol=1e-3, atol=1e-3)


def test_shipped_detector_is_the_companion_file_fitted_for_the_model(bn_cnn, tmp_path):
    with np.load(models_dir() / "not_a_digit.npz") as z:
        own, fitted = float(z["meta"][0]), z["fit.mnist_bn_cnn"]
    p = Predictor(bn_cnn)
    assert p.detector.threshold == fitted[0] and p.detector.energy_weight == fitted[3] > 0
    assert load_companion(models_dir() / "not_a_digit.npz").threshold == own
    copy = tmp_path / "mnist_bn_cnn.pt"  # the same name elsewhere: not the shipped model
    copy.write_bytes(bn_cnn.path.read_bytes())
    d = Predictor(copy).detector
    assert d.threshold == own and d.energy_weight == 0


def test_shipped_detector_judges_the_shape_not_the_even_pen(sample):
    """Digits and letters traced by the same even pen (a marker, a canvas brush): bundled test
    digits the detector never saw, letters drawn with seeds its training never used. The
    shipped detector alone flags few of the digits and most of the letters, so an even stroke
    alone decides neither way (trained without the traced letters it flagged 64% of them)."""
    from explainer.reading.negatives import restyled, restyled_negative

    det = load_companion(models_dir() / "not_a_digit.npz")
    rng = np.random.default_rng(99)
    digits = np.stack([restyled(d, rng, "pen") for d in sample.images[:80].numpy()])
    letters = np.stack([restyled_negative(rng) for _ in range(80)])
    assert det.flags(digits).mean() <= 0.05
    assert det.flags(letters).mean() >= 0.85


def test_score_adds_the_energy_of_the_logits():
    x = np.random.default_rng(1).uniform(0, 1, (4, 28, 28)).astype(np.float32)
    logits = np.array([[9.0, 0, 0], [0, 0, 0], [2.0, 2.0, 2.0], [-1.0, 5.0, 0]])
    alone = Detector(DetectorNet(), 0.0)
    with_energy = Detector(alone.net, 0.0, energy_weight=0.5)
    m = logits.max(1)
    e = -(m + np.log(np.exp(logits - m[:, None]).sum(1)))  # -logsumexp, written out
    np.testing.assert_allclose(with_energy.scores(x, logits) - alone.scores(x), 0.5 * e, atol=1e-5)
    with pytest.raises(ValueError, match="logits"):
        with_energy.scores(x)


def test_malformed_detector_entry_is_one_line():
    with pytest.raises(CalibrationError, match="threshold"):
        Detector.from_entry({"threshold": "high", "weights": {}})
    with pytest.raises(CalibrationError, match="weights"):
        Detector.from_entry({"threshold": 1.0, "weights": {"w": np.zeros(3)}})


def test_train_stores_temperature_and_detector(tmp_path, sample):
    from explainer.data import stratified_split
    from explainer.nets.train import TrainConfig, fit

    tr, va = stratified_split(sample.labels, 0.5, seed=0)  # 250 validation digits
    out = tmp_path / "m.pt"
    cfg = TrainConfig(arch="fast_cnn", epochs=1, batch_size=50, progress=False, out=str(out),
                      evaluate_test=False)  # fmt: skip
    fit(cfg, data=(sample.subset(tr), sample.subset(va)))
    entry = torch.load(out, map_location="cpu", weights_only=True)["calibration"]
    assert "validation split" in entry["split"] and entry["images"] == len(va)
    stored = entry["not_a_digit"]
    p = Predictor(out)
    assert p.temperature == entry["temperature"]
    assert p.detector.threshold == stored["threshold"]
    assert stored["val_flagged"] <= 0.03  # the whole rule on the validation digits
    for name, w in p.detector.net.state_dict().items():
        assert torch.equal(w, stored["weights"][name])


def test_never_worse_guard_keeps_t_1(monkeypatch):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3000, 10, generator=g) * 2.0
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g).flatten()  # T=1 fits
    monkeypatch.setattr("explainer.nets.calibration.fit_temperature", lambda *a: 8.0)
    entry = calibration_entry(logits, labels, "validation split")
    assert entry["fitted_temperature"] == 8.0 and entry["temperature"] == 1.0
    assert entry["ece_after"] == entry["ece_before"] == pytest.approx(ece(logits.numpy(), labels))


def ece(logits: np.ndarray, labels, t: float = 1.0, bins: int = 15) -> float:
    """The expected calibration error, written out here from its definition."""
    z = np.exp((logits - logits.max(1, keepdims=True)) / t)
    p = z / z.sum(1, keepdims=True)
    conf, right = p.max(1), (p.argmax(1) == np.asarray(labels)).astype(float)
    total = 0.0
    for lo, hi in itertools.pairwise(np.linspace(0, 1, bins + 1)):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.sum() * abs(right[inside].mean() - conf[inside].mean())
    return total / len(conf)


def test_evaluate_reports_the_ece_after_calibration_and_the_false_alarms(tmp_path, bn_cnn):
    from explainer.analysis.evaluate import evaluate
    from explainer.analysis.report import write_report
    from explainer.commands.evaluate import not_a_digit_report

    ev = evaluate(bn_cnn, sample_only=True)
    folder = write_report(ev, tmp_path / "report")
    c = json.loads((folder / "calibration.json").read_text())
    t = float(torch.load(bn_cnn.path, weights_only=True)["calibration"]["temperature"])
    assert c["ece_after"] == pytest.approx(
        ece(ev.logits.astype(np.float64), ev.labels, t), rel=1e-4
    )
    r = not_a_digit_report(bn_cnn, ev.split.floats().numpy()[:, 0], folder)
    assert r["images"] == len(ev.labels) and r["flagged"] <= 0.02
    assert json.loads((folder / "not_a_digit.json").read_text())["threshold"] == r["threshold"]


def _canvas(rgba: np.ndarray) -> dict:
    """What the drawing canvas sends back for a 280×280 RGBA picture."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    raw = {"objects": [{"type": "path"}], "background": "#000000"}
    return {"drawing": {"raw": raw, "data": url}, "backgroundFit": None}


def test_draw_page_says_not_a_digit_first():
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from explainer.reading.heldout import LETTERS, draw

    ink = draw(LETTERS["A"], (280, 280), (40, 40, 200, 200), 24)  # a plain drawn letter A
    a = (ink * 255).astype(np.uint8)
    app = Path(__file__).resolve().parent.parent / "streamlit_app.py"
    at = AppTest.from_file(str(app), default_timeout=120)
    at.session_state["model"] = "mnist_fast_cnn"
    at.session_state["canvas"] = _canvas(np.dstack([a, a, a, np.full_like(a, 255)]))
    at.run()
    assert not at.exception
    guess = next(m.value for m in at.metric if m.label == "Prediction")
    assert at.warning[0].value.startswith(
        f"**This does not look like a digit.** If it were one, the network would guess {guess}."
    )
    assert any("measured on digits only" in c.value for c in at.caption)

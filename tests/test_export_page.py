"""``explainer export-page``: the exported folder, opened from ``file://`` in Debian's chromium
(driven by Playwright), draws a digit and computes what the library computes.

The reference is always the library itself on the same input: the page's 28×28 picture
against :func:`explainer.preprocess` of the page's own canvas pixels, and every layer's
values and the probabilities against :func:`explainer.capture` of that 28×28 picture
(largest difference at most 1e-4). The graph alone is also checked with onnxruntime on a
digit it was not exported from. Sizes and times are printed, not asserted.
"""

from __future__ import annotations

import base64
import itertools
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explainer import capture, capture_checkpoint, load_checkpoint, load_sample, preprocess
from explainer.cli import main
from explainer.errors import ExplainerError
from explainer.reading.predict import Predictor
from explainer.tracing.trace import Trace
from explainer.webpage.exporter import export_page
from explainer.webpage.onnx_export import TOLERANCE, is_float, onnx_model

sys.path.insert(0, str(Path(__file__).parent))
import zoo

CHROMIUM = os.environ.get("EXPLAINER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}")

# a "4" in the canvas's own 256 px: two strokes, as a learner draws it; a dot
FOUR = [[(80, 40), (62, 140), (180, 140)], [(150, 50), (148, 130), (146, 225)]]
DOT = [[(128, 128), (130, 129)]]

READ_JS = """() => {
  const b64 = (bytes) => { let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s); };
  const f32 = (a) => b64(new Uint8Array(Float32Array.from(a).buffer));
  const L = window.explainer.last;
  const pad = document.getElementById("pad");
  return { image: f32(L.image), values: L.values.map(f32), probs: L.probs, guess: L.guess,
    verdict: L.verdict, stroke: L.stroke, score: L.score, timings: window.explainer.timings,
    rgba: b64(pad.getContext("2d").getImageData(0, 0, 256, 256).data) };
}"""


def _floats(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4")


def _folder_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.iterdir()) / 1e6


@pytest.fixture(scope="module")
def browser():
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _open(browser, folder: Path):
    """The exported page from file://, ready (first prediction made); the addresses it asked
    for that are not inside the page (none expected: the page works offline)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(("file:", "blob:", "data:")) else
            outside.append(r.url))  # fmt: skip
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((folder / "index.html").as_uri())
    page.evaluate("window.explainer.ready")
    assert errors == []
    return page, outside


def _draw(page, strokes) -> None:
    """Draw with the mouse (pointer events), stroke after stroke, in canvas pixels."""
    box = page.locator("#pad").bounding_box()
    k = box["width"] / 256
    page.click("#clear")
    for stroke in strokes:
        (x0, y0), rest = stroke[0], stroke[1:]
        page.mouse.move(box["x"] + x0 * k, box["y"] + y0 * k)
        page.mouse.down()
        for x, y in rest:
            page.mouse.move(box["x"] + x * k, box["y"] + y * k, steps=6)
        page.mouse.up()
        page.evaluate("window.explainer.idle()")


def _check_against_library(page, reference) -> dict:
    """The page's preprocessing, every layer and the probabilities against the library's;
    ``reference(image28)`` is the library's Trace of the page's 28×28 picture."""
    got = page.evaluate(READ_JS)
    rgba = np.frombuffer(base64.b64decode(got["rgba"]), np.uint8).reshape(256, 256, 4)
    library = preprocess(rgba)
    image = _floats(got["image"]).reshape(28, 28)
    assert np.abs(image - library.image).max() <= TOLERANCE
    assert got["stroke"] == pytest.approx(library.stroke, abs=1e-6)
    trace: Trace = reference(image)
    worst = {}
    for r, values in zip(trace.layers, got["values"], strict=True):
        page_values = _floats(values)
        assert page_values.size == r.output.size, r.name
        if not is_float(r):  # indices of tied values may come in either order
            continue
        worst[r.name] = float(np.abs(page_values - r.output.ravel()).max())
    assert max(worst.values()) <= TOLERANCE, {k: v for k, v in worst.items() if v > TOLERANCE}
    assert np.abs(np.array(got["probs"]) - trace.probs).max() <= TOLERANCE
    # and relatively, so the tiny probabilities of a clear digit still show the temperature
    np.testing.assert_allclose(got["probs"], trace.probs, rtol=1e-3, atol=1e-9)
    assert got["guess"] == int(np.argmax(trace.probs))
    return {**got, "trace": trace, "library": library}


def _report(name: str, folder: Path, got: dict, t_open: float) -> None:
    """One line of sizes and times (printed, not asserted: they depend on the machine's load).
    An update runs from the first input it answers to its pictures drawn; the slowest one is
    split into the page's parts (preprocessing, network, pictures)."""
    t = got["timings"]
    updates = np.array(t["updates"]) if t["updates"] else np.array([np.nan])
    slowest = t["parts"][int(np.argmax(updates))] if t["updates"] else {}
    pictures = sum(slowest.get(k, 0) for k in ("steps", "answer", "layers", "detail"))
    print(
        f"\n{name}: folder {_folder_mb(folder):.1f} MB; first prediction "
        f"{t['firstPrediction']:.0f} ms after opening (page ready in {t_open:.1f} s wall); "
        f"update while drawing: median {np.median(updates):.0f} ms, "
        f"p95 {np.percentile(updates, 95):.0f} ms, max {updates.max():.0f} ms, "
        f"{int((updates > 100).sum())} of {len(t['updates'])} over 100 ms "
        f"(slowest: preprocessing {slowest.get('preprocess', 0):.0f}, "
        f"network {slowest.get('network', 0):.0f}, pictures {pictures:.0f} ms); "
        f"load average {os.getloadavg()[0]:.2f}"
    )


@needs_chromium
def test_the_page_of_mnist_bn_cnn_draws_and_computes_what_the_library_does(browser, tmp_path):
    folder = tmp_path / "site"
    export_page("mnist_bn_cnn", folder)
    start = time.perf_counter()
    page, outside = _open(browser, folder)
    t_open = time.perf_counter() - start
    ckpt = load_checkpoint("mnist_bn_cnn")
    predictor = Predictor(ckpt)
    for strokes in (FOUR, DOT):  # a digit, then a dot: "not a digit"
        _draw(page, strokes)
        got = _check_against_library(page, lambda im: capture_checkpoint(ckpt, im))
        image, stroke = got["library"].image[None], np.array([got["library"].stroke])
        expected = predictor.not_a_digit(image, stroke, got["trace"].logits[None])[0]
        assert got["verdict"] == expected
        if predictor.detector is not None:
            want = predictor.detector.scores(image, got["trace"].logits[None])[0]
            assert got["score"] == pytest.approx(want, abs=1e-4)
    assert got["verdict"] and got["verdict"] in page.text_content("#verdict")
    assert page.text_content("#guess") == ckpt.class_names[got["guess"]]
    assert outside == []
    _report("mnist_bn_cnn", folder, got, t_open)
    page.close()


PIXELS_JS = """(selector) => {
  const c = document.querySelector(selector);
  return Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data);
}"""
NEXT_FRAMES = "new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


def _colours(values: np.ndarray) -> np.ndarray:
    """The page's colour scale, written out: brightness |value| / the layer's largest |value|,
    orange (255, 159, 64) above zero, blue (74, 163, 255) below; RGB per value."""
    scale = float(np.abs(values).max()) or 1.0
    t = np.minimum(np.abs(values) / scale, 1)[:, None]
    orange, blue = np.array([255, 159, 64]) * t, np.array([74, 163, 255]) * t
    return np.round(np.where(values[:, None] >= 0, orange, blue))


def _shows(page, selector: str, layer: np.ndarray, first_map: bool = True) -> float:
    """The largest difference (in 0-255 levels) between the canvas at ``selector`` and the
    colours of ``layer``'s first map (or all its values, for a flat layer)."""
    pixels = np.array(page.evaluate(PIXELS_JS, selector)).reshape(-1, 4)
    values = layer[0].ravel() if first_map and layer.ndim == 3 else layer.ravel()
    want = _colours(layer.ravel())[: values.size]
    return float(np.abs(pixels[: values.size, :3] - want).max())


def _shows_soon(page, selector: str, layer: np.ndarray) -> float:
    """:func:`_shows` once the canvas holds ``layer`` or 5 s have passed (rows off screen are
    drawn when the page is idle)."""
    for _ in range(50):
        if (worst := _shows(page, selector, layer)) <= 2:
            break
        page.wait_for_timeout(100)
    return worst


@needs_chromium
def test_the_maps_show_the_values_on_screen_off_screen_and_when_open(browser, tmp_path):
    """While drawing only the layers on screen are drawn at once: the others show the same
    values soon after (printing or a full-page screenshot shows them), also once scrolled to,
    and an open layer's maps follow every new drawing."""
    folder = tmp_path / "site"
    export_page("mnist_fast_cnn", folder)
    page, _ = _open(browser, folder)
    ckpt = load_checkpoint("mnist_fast_cnn")
    _draw(page, FOUR)
    trace = _check_against_library(page, lambda im: capture_checkpoint(ckpt, im))["trace"]
    last_map = max(i for i, r in enumerate(trace.layers) if r.output.ndim == 3)
    row = f'.layer[data-layer="{last_map}"]'
    assert page.locator(row).bounding_box()["y"] > 900  # below the fold
    assert _shows_soon(page, f"{row} canvas", trace.layers[last_map].output) <= 2
    conv = next(i for i, r in enumerate(trace.layers) if "conv" in r.name)
    page.click(f'.layer[data-layer="{conv}"]')
    assert _shows(page, "#detail-maps canvas", trace.layers[conv].output) <= 2
    page.evaluate("(s) => window.explainer.draw(s)", [[list(p) for p in s] for s in DOT])
    trace = _check_against_library(page, lambda im: capture_checkpoint(ckpt, im))["trace"]
    assert _shows(page, "#detail-maps canvas", trace.layers[conv].output) <= 2
    last = len(trace.layers) - 1
    page.locator(f'.layer[data-layer="{last}"]').scroll_into_view_if_needed()
    page.evaluate(NEXT_FRAMES)
    canvas = f'.layer[data-layer="{last}"] canvas'
    assert _shows(page, canvas, trace.layers[last].output) <= 2
    page.close()


@needs_chromium
@pytest.mark.slow
def test_another_shipped_model_and_a_user_model_with_calls_and_a_residual_add(browser, tmp_path):
    ckpt = load_checkpoint("mnist_fast_cnn")
    user = zoo.build_zoo("resnetish")  # F.relu, max_pool2d, `out += x`, torch.cat
    cases = [
        ("mnist_fast_cnn", ckpt, lambda im: capture_checkpoint(ckpt, im)),
        ("resnetish", user, lambda im: capture(user, im)),
    ]
    for name, model, reference in cases:
        folder = tmp_path / name
        export_page(model, folder)
        start = time.perf_counter()
        page, outside = _open(browser, folder)
        t_open = time.perf_counter() - start
        _draw(page, FOUR)
        got = _check_against_library(page, reference)
        assert outside == []
        _report(name, folder, got, t_open)
        page.close()


@needs_chromium
@pytest.mark.slow
def test_a_finger_draws_on_a_phone_sized_page(browser, tmp_path):
    folder = tmp_path / "site"
    export_page("mnist_fast_cnn", folder)
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = context.new_page()
    page.goto((folder / "index.html").as_uri())
    page.evaluate("window.explainer.ready")
    page.click("#clear")
    assert page.evaluate("window.explainer.last") is None
    box = page.locator("#pad").bounding_box()
    k = box["width"] / 256
    cdp = context.new_cdp_session(page)
    for stroke in FOUR:
        points = [(box["x"] + x * k, box["y"] + y * k) for x, y in stroke]
        for (x0, y0), (x1, y1) in itertools.pairwise(points):
            for t in np.linspace(0, 1, 8):
                kind = "touchStart" if t == 0 and (x0, y0) == points[0] else "touchMove"
                touch = {"x": x0 + t * (x1 - x0), "y": y0 + t * (y1 - y0)}
                cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [touch]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.evaluate("window.explainer.idle()")
    ckpt = load_checkpoint("mnist_fast_cnn")
    got = _check_against_library(page, lambda im: capture_checkpoint(ckpt, im))
    assert ckpt.class_names[got["guess"]] == "4"
    context.close()


PREPROCESS_JS = Path(__file__).parent.parent / "explainer" / "webpage" / "assets" / "preprocess.js"


def _pictures() -> dict[str, np.ndarray]:
    """Drawings that take every branch of the recipe: a pen within MNIST's stroke widths, a
    hairline (widened), a marker (thinned), a stray dot (dropped), dark ink on shaded paper
    (inverted, uneven background flattened), a 1 as tall as the picture (no ruled line) and a
    ruled line (dropped), and bundled test digits blown up."""
    from PIL import Image, ImageDraw

    def drawn(width, strokes, bg=0, fg=255):
        im = Image.new("L", (256, 256), bg)
        for s in strokes:
            ImageDraw.Draw(im).line(s, fill=fg, width=width, joint="curve")
        return np.asarray(im, np.float32) / 255

    seven = [[(60, 50), (190, 50), (110, 220)]]
    shade = np.linspace(0, 0.3, 256, dtype=np.float32)[None, :]
    grey = {
        "pen": drawn(20, seven),
        "hairline": drawn(3, seven),
        "marker": drawn(60, seven),
        "stray dot": drawn(20, [[(20, 50), (120, 50), (70, 220)], [(188, 110), (204, 126)]]),
        "shaded paper": np.clip(drawn(20, [[(128, 40), (128, 210)]], 230, 30) - shade, 0, 1),
        "tall thick 1": drawn(40, [[(100, 60), (140, 8), (140, 250)]]),  # kept: not a line
        "ruled line": np.maximum(drawn(20, seven), drawn(2, [[(0, 236), (255, 236)]])),
    }
    for i in (3, 7):
        digit = Image.fromarray(load_sample().images[i].numpy())
        grey[f"test digit {i}"] = np.asarray(digit.resize((256, 256)), np.float32) / 255
    pictures = {}
    for name, g in grey.items():
        v = np.round(g * 255).astype(np.uint8)
        pictures[name] = np.dstack([v, v, v, np.full_like(v, 255)])
    return pictures


@needs_chromium
def test_the_pages_preprocessing_is_the_librarys_on_every_branch(browser):
    page = browser.new_page()
    page.add_script_tag(path=str(PREPROCESS_JS))
    run = """(rgba) => { const r = window.explainerPreprocess.preprocess(
        Uint8Array.from(atob(rgba), (c) => c.charCodeAt(0)), 256, 256);
      return r.noInk ? r : {image: Array.from(r.image), stroke: r.stroke, bbox: r.bbox,
        inverted: r.inverted, steps: r.steps.map(([n, p]) => [n, p.h, p.w])}; }"""
    for name, rgba in _pictures().items():
        got = page.evaluate(run, base64.b64encode(rgba.tobytes()).decode())
        want = preprocess(rgba)
        image = np.array(got["image"], np.float32).reshape(28, 28)
        assert np.abs(image - want.image).max() <= TOLERANCE, name
        assert got["stroke"] == pytest.approx(want.stroke, abs=1e-5), name
        assert tuple(got["bbox"]) == want.bbox and got["inverted"] == want.inverted, name
        assert [tuple(s) for s in got["steps"]] == [(n, *p.shape) for n, p in want.steps], name
    blank = np.zeros((256, 256, 4), np.uint8)
    blank[..., 3] = 255
    assert "noInk" in page.evaluate(run, base64.b64encode(blank.tobytes()).decode())
    page.close()


def _trace_quietly(model: nn.Module, image) -> Trace:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return capture(model, image)


@pytest.mark.parametrize(
    "name", ["resnetish", "strided", "shared", "split", "convnext", "tiny_vit"]
)
def test_the_graph_gives_every_layer_of_a_digit_it_was_not_exported_from(name):
    onnxruntime = pytest.importorskip("onnxruntime")
    model = zoo.build_zoo(name)
    digits = load_sample().floats()[:, 0]
    graph = onnx_model(model, _trace_quietly(model, digits[0]))
    other = _trace_quietly(model, digits[7])
    session = onnxruntime.InferenceSession(graph, providers=["CPUExecutionProvider"])
    values = session.run(None, {"x": digits[7].numpy()[None, None]})
    for r, v in zip(other.layers, values, strict=True):
        if not is_float(r):  # indices of tied values may come in either order (sort, topk)
            continue
        np.testing.assert_allclose(
            v.reshape(r.output.shape), r.output, atol=TOLERANCE, err_msg=r.name
        )


class CumsumNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(2 * 26 * 26, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.relu(self.conv(x)).cumsum(-1), 1))


class KthNet(CumsumNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x))
        kth = torch.kthvalue(x.flatten(2), 3, dim=2, keepdim=True)[0]
        return self.fc(torch.flatten(x - kth[..., None], 1))


@pytest.mark.parametrize(
    ("net", "words"),
    [(CumsumNet, "cumsum"), (KthNet, "torch.onnx cannot export it (Exporting the operator")],
)
def test_a_model_the_page_cannot_compute_is_one_line_naming_the_operation(net, words, tmp_path):
    folder = tmp_path / "site"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ExplainerError) as caught:
            export_page(net().eval(), folder)
    message = str(caught.value)
    assert "\n" not in message and words in message
    assert net.__name__[:3].lower() in message  # the operation: cumsum, kthvalue
    assert not folder.exists()


def test_the_command_writes_the_folder_and_says_where(tmp_path, capsys):
    folder = tmp_path / "page"
    assert main(["export-page", "--model", "mnist_fast_cnn", "--out", str(folder)]) == 0
    out = capsys.readouterr().out
    assert str(folder / "index.html") in out and "MB" in out
    names = {f.name for f in folder.iterdir()}
    assert {"index.html", "model.js", "runtime.js", "ort.wasm.min.js", "preprocess.js"} <= names
    html = (folder / "index.html").read_text()
    assert "How mnist_fast_cnn reads a digit" in html
    assert "http://" not in html and "https://" not in html  # nothing from a CDN
    assert main(["export-page", "--model", "no_such_model", "--out", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


class PerImageSumNet(CumsumNet):
    """One value per image near 400: float32 rounds it by ~3e-5, two programs differ by more."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv(x)) + 0.5
        total = x.sum(dim=(1, 2, 3), keepdim=True)
        return self.fc(torch.flatten(x / total, 1)) + total.flatten(1)


def test_a_large_value_is_checked_relative_to_its_size():
    pytest.importorskip("onnxruntime")
    from explainer.webpage.onnx_export import allowed_difference

    assert allowed_difference(np.array([0.2, -0.9])) == TOLERANCE
    assert allowed_difference(np.array([10.0, -400.0])) == pytest.approx(400 * TOLERANCE)
    model = PerImageSumNet().eval()
    trace = _trace_quietly(model, load_sample().floats()[0, 0])
    assert onnx_model(model, trace)  # checked inside against the trace: not refused

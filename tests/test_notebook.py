"""``notebooks/walkthrough.ipynb`` runs top to bottom offline on the bundled sample (any cell
error fails the test) and shows its pictures inline: the Trace's own HTML, the animations, the
figures.

The executed copy and every picture it showed go to ``test-artifacts/notebook/`` for review.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "notebook"


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if kind in o]


def _keep(nb, seconds: float) -> None:
    import nbformat

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ARTIFACTS / NOTEBOOK.name)
    n = 0
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            png = o.get("data", {}).get("image/png")
            if png:
                n += 1
                (ARTIFACTS / f"cell{i:02d}_{n}.png").write_bytes(base64.b64decode(png))
    (ARTIFACTS / "seconds.txt").write_text(f"{seconds:.1f}\n")


def test_walkthrough_runs_offline_and_shows_its_pictures(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # offline, on the bundled sample: no dataset folder, nothing written into the checkout
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("EXPLAINER_MODELS_DIR", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not _outputs(nb, "output_type"), "commit the notebook without outputs"
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    start = time.monotonic()
    client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.monotonic() - start
    _keep(nb, seconds)

    html = [o["data"]["text/html"] for o in _outputs(nb, "data") if "text/html" in o["data"]]
    traces = [h for h in html if "<table" in h and "block1.conv1" in h]
    assert traces, "a Trace at the end of a cell shows its HTML table"
    assert "data:image/png;base64," in traces[0]
    texts = [
        o["data"]["text/plain"]
        for o in _outputs(nb, "data")
        if "<table" in o["data"].get("text/html", "")
    ]
    assert texts and all(t.startswith("layer") and "array(" not in t for t in texts)
    gifs = [h for h in html if h.startswith('<img src="data:image/gif;base64,')]
    assert len(gifs) >= 3, "forward, convolution and the own model's forward animations"
    figures = [o for o in _outputs(nb, "data") if "image/png" in o["data"]]
    assert len(figures) >= 6
    errors = [o for o in _outputs(nb, "output_type") if o["output_type"] == "error"]
    assert errors == []
    assert not any(os.scandir(tmp_path / "no-data")) if (tmp_path / "no-data").exists() else True
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["no-data"])


# --- the display helpers themselves -------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_trace():
    import torch
    from torch import nn

    from explainer.data import load_sample
    from explainer.tracing.capture import capture

    class Odd(nn.Module):  # a user's module whose names need escaping in HTML
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.fc = nn.Linear(2 * 28 * 28, 3)

        def forward(self, x):
            return self.fc(self.conv(x).flatten(1))

    torch.manual_seed(0)
    sample = load_sample()
    names = ["<b>zero</b>", "one & two", "three"]
    return capture(Odd(), sample.floats()[0, 0], label=1, class_names=names)


def test_trace_html_shows_digit_prediction_and_every_layer(tiny_trace):
    from explainer.tracing.notebook import digit_png, trace_html

    page = trace_html(tiny_trace)
    probs = tiny_trace.probs
    assert page.count("<tr>") == len(tiny_trace.layers) + 1
    for r in tiny_trace.layers:
        assert f"<code>{r.name}</code>" in page and r.shape_text in page
    assert base64.b64encode(digit_png(tiny_trace.image)).decode() in page
    assert f"{float(probs.max()):.1%}" in page
    assert "<b>zero</b>" not in page and "&lt;b&gt;zero&lt;/b&gt;" in page  # escaped
    assert ("right" if tiny_trace.correct else "wrong") in page


def test_digit_png_is_the_image_scaled_up():
    import io

    import numpy as np
    from PIL import Image

    from explainer.tracing.notebook import digit_png

    img = np.zeros((28, 28), np.float32)
    img[3, 5] = 1.0
    with Image.open(io.BytesIO(digit_png(img, scale=4))) as im:
        a = np.asarray(im)
    assert a.shape == (112, 112)
    assert (a[12:16, 20:24] == 255).all() and a.sum() == 255 * 16


def test_trace_png_is_a_picture(tiny_trace):
    import io

    from PIL import Image

    with Image.open(io.BytesIO(tiny_trace._repr_png_())) as im:
        assert im.format == "PNG" and im.width > 400


def test_media_embeds_and_saves(tmp_path):
    from explainer.display import Media
    from explainer.errors import ExplainerError

    gif = tmp_path / "a.gif"
    gif.write_bytes(b"GIF89a-not-really")
    m = Media.from_file(gif, width=300)
    html = m._repr_html_()
    assert html.startswith('<img src="data:image/gif;base64,')
    assert base64.b64decode(html.split("base64,")[1].split('"')[0]) == gif.read_bytes()
    assert m._repr_png_() is None and "width:300px" in html
    assert Media(b"x", ".mp4")._repr_html_().startswith("<video")
    assert Media(b"png", ".png")._repr_png_() == b"png"
    assert m.save(tmp_path / "b.gif").read_bytes() == gif.read_bytes()
    with pytest.raises(ExplainerError, match="save it as"):
        m.save(tmp_path / "b.png")
    with pytest.raises(ExplainerError, match=r"use \.gif, \.mp4 or \.png"):
        Media(b"", ".exe")
    with pytest.raises(ExplainerError, match="not found"):
        Media.from_file(tmp_path / "missing.gif")


def test_repr_is_short(tiny_trace):
    assert repr(tiny_trace) == f"<Trace {tiny_trace.title}; {len(tiny_trace.layers)} layers>"


def test_show_prints_outside_a_notebook(tiny_trace, capsys):
    tiny_trace.show()
    assert capsys.readouterr().out.strip() == tiny_trace.summary()


def test_animate_returns_the_rendered_gif(tiny_trace, tmp_path):
    from PIL import Image

    from explainer.display import animate

    out = tmp_path / "f.gif"
    m = animate("forward", tiny_trace, out, fps=5, seconds=10, size=(480, 270))
    assert m.data == out.read_bytes() and m.suffix == ".gif"
    with Image.open(out) as im:
        assert im.size == (480, 270) and im.n_frames > 3
    m2 = animate("forward", tiny_trace, fps=5, seconds=10, size=(480, 270))
    assert m2.data[:6] == b"GIF89a" and [p.name for p in tmp_path.iterdir()] == ["f.gif"]

"""Draw & predict's whole network at a glance: a tile per step of the network (per top-level
module for a big one), every record in exactly one tile, the answer at the end, and a click
on a tile opening that layer in Layer by layer."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("streamlit")
from test_app import _canvas_state
from test_app_truth import _ok, _start

from explainer.app import strip
from explainer.data import load_sample
from explainer.nets.checkpoints import load_checkpoint, models_dir
from explainer.tracing.capture import capture, capture_checkpoint


def _records(trace) -> list[str]:
    return [r.name for r in trace.layers if r.kind != "normalize"]


def test_every_record_is_in_one_tile_in_order():
    ckpt = load_checkpoint(models_dir() / "mnist_bn_cnn.pt")
    trace = capture_checkpoint(ckpt, load_sample("mnist").images[3].numpy() / 255.0)
    shown = strip.tiles(trace)
    assert [r.name for t in shown for r in t.records] == _records(trace)
    assert len(shown) == 10  # 5 conv blocks, 3 poolings, 2 dense layers (flatten folded)
    for t in shown:
        assert trace.layers[t.index].name == t.records[0].name
        np.testing.assert_array_equal(t.output, trace.layer(t.records[-1].name).output)


def test_a_big_network_is_shown_by_its_blocks():
    from zoo import build_zoo

    trace = capture(build_zoo("resnet18"), load_sample("mnist").images[3].numpy() / 255.0)
    shown = strip.tiles(trace)
    assert len(shown) <= strip.MOST_TILES < len(strip.flow_blocks(trace))
    assert [r.name for t in shown for r in t.records] == _records(trace)
    for t in shown:  # a tile is one module of the tree (a residual block, a stage), or a run
        inside = {r.name for r in t.records}
        if t.label not in ("stem", "head") and "…" not in t.label:
            assert all(n == t.label or n.startswith(t.label + ".") for n in inside), t.label
    assert any(t.label.startswith("layer4") for t in shown)


def test_a_tile_shows_every_channel():
    values = np.arange(10 * 3 * 3, dtype=np.float32).reshape(10, 3, 3)
    values[7] = -50  # one channel unlike every other
    pic = strip.tile_picture(values, 120)
    assert pic.ndim == 3 and 90 <= pic.shape[1] <= 130
    colours = {tuple(c) for c in pic.reshape(-1, 3)}
    assert len(colours) > 10  # not a flat picture: the channels' own colours are there


def test_the_draw_page_shows_the_strip_and_a_click_opens_the_layer():
    at = _start("mnist_bn_cnn")
    at.session_state["canvas"] = _canvas_state(load_sample("mnist").images[3].numpy())
    at.run()
    _ok(at)
    trace = capture_checkpoint(
        load_checkpoint(models_dir() / "mnist_bn_cnn.pt"), at.session_state["digit"].image
    )
    buttons = [b for b in at.button if (b.key or "").startswith("strip_")]
    assert len(buttons) == len(strip.tiles(trace))
    answer = next(m.value for m in at.markdown if m.value.startswith("Answer"))
    assert f"**{trace.class_names[int(np.argmax(trace.probs))]}**" in answer
    pool = next(t for t in strip.tiles(trace) if t.records[0].kind == "pool")
    at.button(key=f"strip_{pool.index}").click().run()
    _ok(at)
    assert at.title[0].value == "Layer by layer"
    assert at.selectbox(key="layer_step").value == pool.index

"""``explainer render``: files written from the command line, and one-line errors."""

from __future__ import annotations

import pytest
import torch

from explainer.cli import main
from explainer.nets.architectures import build
from explainer.nets.checkpoints import make_payload, save_checkpoint

FAST = ["--fps", "5", "--seconds", "10", "--size", "480x270"]


def test_render_gif_from_a_digit(ckpt_path, tmp_path, capsys):
    from PIL import Image

    out = tmp_path / "forward.gif"
    assert (
        main(
            [
                "render",
                "forward",
                "--checkpoint",
                str(ckpt_path),
                "--digit",
                "3",
                "--out",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.size == (480, 270) and im.n_frames > 10
    assert [p.name for p in tmp_path.iterdir()] == ["forward.gif"]


def test_render_png_from_a_saved_trace(ckpt_path, tmp_path, sample):
    from PIL import Image

    from explainer.nets.checkpoints import load_checkpoint
    from explainer.tracing.capture import capture_checkpoint

    tr = capture_checkpoint(
        load_checkpoint(ckpt_path), sample.images[0].numpy() / 255.0, label=int(sample.labels[0])
    )
    tr.save(tmp_path / "t.npz")
    out = tmp_path / "conv.png"
    trace = str(tmp_path / "t.npz")
    args = ["--trace", trace, "--layer", "block2.conv1", "--out", str(out), "--fps", "6"]
    rc = main(["render", "convolution", "--checkpoint", str(ckpt_path), *args, "--seconds", "16"])
    assert rc == 0
    assert Image.open(out).size == (1280, 720)  # the class preset: a projector
    rc = main(["render", "convolution", "--checkpoint", str(ckpt_path), *args, "--pace", "readme"])
    assert rc == 0
    assert Image.open(out).size == (800, 450)  # the readme preset: a web page


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "x.webm"], "must end in .gif, .mp4, .png"),
        (["--out", "x.gif", "--layer", "nope"], "--layer 'nope' is not a layer of this model"),
        (["--out", "x.gif", "--layer", "block1.relu1"], "is not a convolution; conv layers"),
        (["--out", "x.gif", "--fps", "0"], "--fps 0 is out of range"),
        (["--out", "x.gif", "--seconds", "0"], "--seconds 0 is out of range"),
        (["--out", "/proc/x.gif"], "cannot write in /proc"),
        (["--out", "x.gif", "--size", "big"], "not WIDTHxHEIGHT"),
        (["--out", "x.gif", "--digit", "12"], "--digit 12 is not a class"),
        (["--out", "x.gif", "--fps", "500"], "--fps 500 is out of range"),
    ],
)
def test_bad_input_is_one_line(ckpt_path, tmp_path, capsys, extra, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc = main(["render", "convolution", "--checkpoint", str(ckpt_path), *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("explainer: error: ") and message in err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def _gif_seconds(path) -> float:
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        return sum(f.info["duration"] for f in ImageSequence.Iterator(im)) / 1000


def test_pace_sets_the_length(ckpt_path, tmp_path, capsys):
    """class (the default) gives each layer its 2.5 s; readme is the short loop."""
    from explainer.animate.forward import default_seconds
    from explainer.commands.render import load_trace
    from explainer.nets.checkpoints import load_checkpoint

    small = ["--fps", "4", "--size", "480x270", "--digit", "3", "--checkpoint", str(ckpt_path)]
    for pace in ("class", "readme"):
        out = tmp_path / f"{pace}.gif"
        assert main(["render", "forward", "--out", str(out), "--pace", pace, *small]) == 0
    err = capsys.readouterr().err  # progress only when slow (this machine may be loaded)
    assert all(line.startswith("explainer: ") for line in err.splitlines())
    import argparse

    ns = argparse.Namespace(trace=None, image=None, index=None, digit=3, data_dir=None)
    trace = load_trace(ns, load_checkpoint(ckpt_path))
    n = sum(r.kind != "dropout" for r in trace.layers) + 1
    assert _gif_seconds(tmp_path / "class.gif") == default_seconds(trace, 4, "class") >= 2.5 * n
    assert _gif_seconds(tmp_path / "readme.gif") == default_seconds(trace, 4, "readme") < n * 2


def test_progress_speaks_only_after_a_while():
    import io

    from explainer.commands.render import Progress

    quiet = io.StringIO()
    p = Progress(after=60, stream=quiet)
    p.phase("drawing")
    p.close()
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    p = Progress(after=0, stream=loud)
    p.phase("running the model over the test set")
    p.phase("writing 300 frames")
    p.close()
    lines = loud.getvalue().splitlines()
    assert [line.split("...")[0] for line in lines[:2]] == [
        "explainer: running the model over the test set",
        "explainer: writing 300 frames",
    ]
    assert lines[2].startswith("explainer: done in ")


def test_fashion_pictures_are_items_not_digits(tmp_path):
    import argparse

    from explainer.analysis.flowgraph import source_title
    from explainer.commands.render import load_trace
    from explainer.data import FASHION_CLASSES
    from explainer.nets.checkpoints import load_checkpoint

    torch.manual_seed(0)
    path = tmp_path / "fashion_tinyvgg.pt"
    save_checkpoint(
        path, make_payload(build("tinyvgg"), dataset="fashion_mnist", class_names=FASHION_CLASSES)
    )
    ns = argparse.Namespace(trace=None, image=None, index=None, digit=9, data_dir=None)
    trace = load_trace(ns, load_checkpoint(path))
    assert trace.class_names[trace.label] == "Ankle boot"
    assert trace.source.startswith("test item #")
    assert source_title(trace).startswith("Fashion-MNIST test item #")

"""``explainer render``: files written from the command line, and one-line errors."""

from __future__ import annotations

import pytest
import torch

from explainer.architectures import build
from explainer.checkpoints import make_payload, save_checkpoint
from explainer.cli import main


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory):
    torch.manual_seed(0)
    model = build("tinyvgg")
    path = tmp_path_factory.mktemp("models") / "mnist_tinyvgg.pt"
    save_checkpoint(
        path, make_payload(model, dataset="mnist", class_names=[str(i) for i in range(10)])
    )
    return path


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

    from explainer.capture import capture_checkpoint
    from explainer.checkpoints import load_checkpoint

    tr = capture_checkpoint(
        load_checkpoint(ckpt_path), sample.images[0].numpy() / 255.0, label=int(sample.labels[0])
    )
    tr.save(tmp_path / "t.npz")
    out = tmp_path / "conv.png"
    trace = str(tmp_path / "t.npz")
    args = ["--trace", trace, "--layer", "block2.conv1", "--out", str(out), "--fps", "6"]
    rc = main(["render", "convolution", "--checkpoint", str(ckpt_path), *args, "--seconds", "16"])
    assert rc == 0
    assert Image.open(out).size == (800, 450)


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

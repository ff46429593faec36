"""Training augmentation: the thicker pen (``--thicken``) against scipy's grey dilation."""

import numpy as np
import pytest
import torch
from scipy.ndimage import grey_dilation

from explainer.cli import build_parser
from explainer.commands import train as train_command
from explainer.data import stratified_split
from explainer.errors import ExplainerError
from explainer.nets import train as train_module
from explainer.nets.augment import THICKEN_WIDTHS, thicken
from explainer.nets.model_card import reproduce_command
from explainer.nets.train import fit
from explainer.nets.train_config import TrainConfig


def dilated_by(before: np.ndarray, after: np.ndarray) -> int | None:
    """The pen width that turns ``before`` into ``after`` (scipy's grey dilation), 1 when they
    are equal, None when no width of 1 to 6 px does."""
    for w in range(1, 7):
        if np.allclose(grey_dilation(before, size=(w, w), mode="constant", cval=0.0), after):
            return w
    return None


def strokes(n: int, seed: int = 0) -> torch.Tensor:
    """``(n, 1, 28, 28)`` thin random strokes on black (a pixel-wide line per image)."""
    g = np.random.default_rng(seed)
    x = np.zeros((n, 1, 28, 28), np.float32)
    for i in range(n):
        r, c = g.integers(6, 22, 2)
        x[i, 0, r, 4:24] = g.uniform(0.5, 1.0)
        x[i, 0, 4:24, c] = g.uniform(0.5, 1.0)
    return torch.from_numpy(x)


def test_every_image_is_drawn_with_one_of_the_pens_when_the_share_is_one():
    x = strokes(90)
    out = thicken(x, 1.0, torch.Generator().manual_seed(3))
    widths = [dilated_by(a[0], b[0]) for a, b in zip(x.numpy(), out.numpy(), strict=True)]
    assert set(widths) == set(THICKEN_WIDTHS)  # each pen used, no other change
    ink = (out > 0).sum((1, 2, 3)).float() / (x > 0).sum((1, 2, 3)).float()
    assert ink.min() > 1.5  # the strokes did get thicker


def test_the_share_is_the_share_of_images_changed():
    x = strokes(2000)
    out = thicken(x, 0.3, torch.Generator().manual_seed(0))
    widths = [dilated_by(a[0], b[0]) for a, b in zip(x.numpy(), out.numpy(), strict=True)]
    assert None not in widths
    assert abs(np.mean([w != 1 for w in widths]) - 0.3) < 0.04  # binomial sd at n=2000: 0.01


def test_a_zero_share_leaves_the_batch_and_the_random_stream_alone():
    x, g = strokes(8), torch.Generator().manual_seed(5)
    assert thicken(x, 0.0, g) is x
    fresh = torch.Generator().manual_seed(5)
    assert torch.equal(torch.rand(3, generator=g), torch.rand(3, generator=fresh))


def test_training_feeds_the_model_thickened_batches(tmp_path, sample, monkeypatch):
    seen = []
    real = train_module.thicken

    def spy(images, share, generator=None):
        out = real(images, share, generator)
        seen.append((share, float(images.sum()), float(out.sum())))
        return out

    monkeypatch.setattr(train_module, "thicken", spy)
    tr, va = stratified_split(sample.labels, 0.2, seed=0)
    config = TrainConfig(arch="fast_cnn", epochs=1, batch_size=100, progress=False, seed=1,
                         thicken=1.0, evaluate_test=False, out=str(tmp_path / "m.pt"))  # fmt: skip
    fit(config, data=(sample.subset(tr), sample.subset(va)))
    assert seen and all(share == 1.0 and after > 1.3 * before for share, before, after in seen)


@pytest.mark.parametrize("share", [-0.1, 1.5, float("nan")])
def test_a_share_outside_zero_to_one_is_one_line(share):
    with pytest.raises(ExplainerError, match="--thicken is a share of the images, 0 to 1"):
        TrainConfig(arch="fast_cnn", thicken=share).validate()


def test_the_flag_reaches_the_recipe_and_the_model_cards_reproduce_line(tmp_path):
    args = build_parser("train").parse_args(
        ["train", "bn_cnn", "--thicken", "0.25", "--out", str(tmp_path / "m.pt")]
    )
    config = train_command.make_config(args)
    assert config.recipe()["thicken"] == 0.25
    assert "--thicken 0.25" in reproduce_command(config)
    assert "--thicken" not in reproduce_command(TrainConfig(arch="bn_cnn"))

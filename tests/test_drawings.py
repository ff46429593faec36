"""Every family of real-life digit pictures (explainer.reading.testsets) is read right, never worse
than a plain resize of the whole picture. Pictures are made from the bundled MNIST test digits
and from bold fonts; the label is the MNIST label (or the rendered digit)."""

from __future__ import annotations

import numpy as np
import pytest

from explainer.reading import testsets
from explainer.reading.predict import Predictor
from explainer.reading.preprocess import plain_resize, preprocess

N = 30  # 3 digits of every class per family: about a second or two per family

# measured with mnist_bn_cnn on these 30 pictures (see README, section evaluate, for 500)
NEED = dict.fromkeys(testsets.ALL_FAMILIES, 0.93)


def digits(sample, n: int = N):
    order = np.argsort(sample.labels.numpy(), kind="stable")  # class by class ...
    picks = np.concatenate([order[sample.labels.numpy()[order] == c][:3] for c in range(10)])
    return sample.images.numpy()[picks[:n]], sample.labels.numpy()[picks[:n]]


@pytest.mark.parametrize("family", testsets.ALL_FAMILIES)
def test_family_is_read_right_and_beats_a_plain_resize(family, sample, bn_cnn):
    predictor = Predictor(bn_cnn)
    images, labels = digits(sample)
    pics = testsets.make_family(family, images, labels, seed=3)
    ys = np.array([y for _, y in pics])
    ours = np.stack([preprocess(p).image for p, _ in pics])
    plain = np.stack([plain_resize(p) for p, _ in pics])
    acc = float((predictor.probabilities(ours).argmax(1) == ys).mean())
    acc_plain = float((predictor.probabilities(plain).argmax(1) == ys).mean())
    assert acc >= NEED[family], (family, acc)
    assert acc >= acc_plain, (family, acc, acc_plain)


def test_exif_rotated_photo_is_turned_upright(sample):
    """The stored pixels lie on their side; the EXIF tag turns them back before anything."""
    rng = np.random.default_rng(0)
    d = sample.images[0].numpy()
    pic = testsets.photo_exif(d, rng)
    from io import BytesIO

    from PIL import Image

    stored = Image.open(BytesIO(pic))
    assert stored.getexif().get(0x0112) in (3, 6, 8)
    upright = preprocess(pic).image
    sideways = preprocess(np.asarray(stored.convert("RGB"))).image
    truth = d / 255.0
    assert np.abs(upright - truth).mean() < np.abs(sideways - truth).mean()


def test_generated_pictures_are_seeded(sample):
    images, labels = digits(sample, 4)
    a = testsets.make_family("thick", images, labels, seed=1)
    b = testsets.make_family("thick", images, labels, seed=1)
    assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, b, strict=True))

"""The scenes' camera reads its frame once per picture and still draws Manim's own pixels,
also when the frame moves and zooms between pictures."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("manim")

from manim import Circle, ImageMobject, MovingCamera, Square, Text, VGroup, tempconfig

from explainer.scenes.camera import FrameOnceCamera
from explainer.scenes.common import FastImageCamera


def _picture() -> list:
    rng = np.random.default_rng(3)
    image = ImageMobject((rng.random((12, 12, 4)) * 255).astype(np.uint8))
    image.height = 1.5
    shapes = VGroup(
        Square(1.2, color="#ff8800", fill_opacity=0.6).shift([-2.5, 1, 0]),
        Circle(0.7, color="#22ccff").shift([2, -1, 0]),
        Text("conv 3×3", font_size=30).shift([0, -2.5, 0]),
    )
    return [shapes, image.shift([1.0, 1.2, 0])]


def _frames(cls: type) -> list[np.ndarray]:
    """Three pictures: as set up, after the frame moved, after it zoomed in and moved back."""
    with tempconfig({"pixel_width": 320, "pixel_height": 180}):
        cam, mobs, frames = cls(), _picture(), []
        for move in (None, [1.5, -0.5, 0], "zoom"):
            if move == "zoom":
                cam.frame.scale(0.6)
                cam.frame_center = [-1.0, 0.5, 0]
            elif move is not None:
                cam.frame.shift(move)
            cam.reset()
            cam.capture_mobjects(mobs)
            frames.append(cam.pixel_array.copy())
        return frames


def test_the_same_pixels_as_manim_while_the_frame_moves_and_zooms():
    stock, once = _frames(MovingCamera), _frames(FrameOnceCamera)
    assert stock[0].std() > 10 and not np.array_equal(stock[0], stock[1])  # it did move
    assert not np.array_equal(stock[1], stock[2])
    for a, b in zip(stock, once, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_frame_is_read_afresh_outside_a_picture():
    with tempconfig({"pixel_width": 320, "pixel_height": 180}):
        cam = FastImageCamera()
        cam.capture_mobjects(_picture())
        cam.frame_center = [2.0, 1.0, 0]
        cam.frame_width = 7.0
        np.testing.assert_allclose(cam.frame_center, [2.0, 1.0, 0])
        assert cam.frame_width == pytest.approx(7.0)
        assert cam.get_cached_cairo_context(cam.pixel_array) is None

"""What every scene shares: the Trace it draws, the theme, a header and a caption line."""

from __future__ import annotations

import numpy as np
from manim import DOWN, UP, FadeIn, FadeOut, Group, Mobject, MovingCameraScene, config
from manim.camera.moving_camera import MovingCamera
from PIL import Image

from explainer.flowgraph import record_label
from explainer.trace import LayerRecord, Trace
from scenes.inputs import default_trace
from scenes.mobjects import FONT_SIZE, SMALL_FONT_SIZE, THEME, label

# Manim hashes every play() call to reuse partial movies between runs; for scenes of large
# images that hashing costs more than rendering, so it is off (manim.cfg is only read from
# the current folder, hence here).
config.disable_caching = True


class FastImageCamera(MovingCamera):
    """A moving camera that pastes each ``ImageMobject`` into its own screen rectangle.

    Manim's Cairo camera composites every image through a full-frame RGBA buffer (for a
    feature map of 50×50 screen pixels it allocates and blends 1920×1080 of them), so a
    scene of 60 small images spent most of its time there. This does the same perspective
    transform, then blends only the rectangle the image covers, and skips images that are
    off screen. The result is the same pixels (see ``tests/test_scenes.py``).
    """

    def display_image_mobject(self, image_mobject, pixel_array: np.ndarray) -> None:
        corners = self.points_to_subpixel_coords(image_mobject, image_mobject.points)
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        h, w = pixel_array.shape[:2]
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if cx1 <= cx0 or cy1 <= cy0:
            return  # off screen
        sub = Image.fromarray(np.ascontiguousarray(image_mobject.get_pixel_array()))
        src = np.array([[0, 0], [sub.width, 0], [0, sub.height], [sub.width, sub.height]], float)
        dst = corners - np.array([x0, y0])
        rows = []
        for (x, y), (sx, sy) in zip(dst, src, strict=True):
            rows.append([x, y, 1, 0, 0, 0, -sx * x, -sx * y])
            rows.append([0, 0, 0, x, y, 1, -sy * x, -sy * y])
        try:
            coeffs = np.linalg.solve(np.array(rows, float), src.reshape(8))
        except np.linalg.LinAlgError:
            return  # degenerate (collinear corners): nothing visible
        warped = sub.transform(
            size=(int(x1 - x0), int(y1 - y0)),
            method=Image.Transform.PERSPECTIVE,
            data=coeffs,
            resample=image_mobject.resampling_algorithm,
        )
        warped = warped.crop((cx0 - x0, cy0 - y0, cx1 - x0, cy1 - y0))
        region = Image.fromarray(np.ascontiguousarray(pixel_array[cy0:cy1, cx0:cx1]))
        pixel_array[cy0:cy1, cx0:cx1] = np.asarray(Image.alpha_composite(region, warped))


class TraceScene(MovingCameraScene):
    """A scene drawn from one :class:`~explainer.trace.Trace` (``trace=``, else
    :func:`scenes.inputs.default_trace`), on the dark theme, with a header and captions that
    follow the camera."""

    def __init__(self, trace: Trace | None = None, **kwargs) -> None:
        self.trace = trace
        self.caption: Mobject | None = None
        kwargs.setdefault("camera_class", FastImageCamera)
        super().__init__(**kwargs)

    def setup(self) -> None:
        super().setup()
        if self.trace is None:
            self.trace = default_trace()
        self.camera.background_color = THEME.background

    @property
    def frame(self):
        return self.camera.frame

    def header_text(self) -> str:
        t = self.trace
        model = t.checkpoint or t.architecture
        truth = f", label {t.class_names[t.label]}" if t.label is not None and t.class_names else ""
        return f"{model} · {t.source or 'input'}{truth}"

    def make_header(self, title: str) -> Group:
        head = Group(
            label(title, FONT_SIZE + 6), label(self.header_text(), SMALL_FONT_SIZE, THEME.muted)
        )
        head.arrange(DOWN, buff=0.08)
        return head.next_to(self.frame.get_top(), DOWN, buff=0.2)

    def caption_at(self, text: str, center: np.ndarray | None = None, width: float | None = None):
        """A caption line at the bottom of a frame centred on ``center`` and ``width`` wide
        (default: the frame now); text and margin grow with the zoom, so it reads the same."""
        c = self.frame.get_center() if center is None else center
        w = self.frame.width if width is None else width
        h = w * self.frame.height / self.frame.width
        zoom = w / getattr(self, "FRAME_WIDTH", config.frame_width)
        cap = label(text, FONT_SIZE)
        cap.scale(max(zoom, 1e-3))
        if cap.width > 0.92 * w:
            cap.scale_to_fit_width(0.92 * w)
        return cap.move_to(c + DOWN * (h / 2 - 0.45 * zoom))

    def swap_caption(self, text: str, center: np.ndarray | None = None, width: float | None = None):
        """Animations replacing the current caption with ``text``."""
        new = self.caption_at(text, center, width)
        anims = [FadeIn(new, shift=UP * 0.15)]
        if self.caption is not None:
            anims.append(FadeOut(self.caption))
        self.caption = new
        return anims


def short_description(record: LayerRecord) -> str:
    """``"conv 3×3"``, ``"BN"``, ``"tanh"``, ``"max pool 2×2"``, ``"add"``, ``"dense 1152→256"``
    (see :func:`explainer.flowgraph.record_label`)."""
    return record_label(record)


def layer_title(records: list[LayerRecord]) -> str:
    """``"conv 3×3 + BN + ReLU"`` for a chain of layers (dropout, off at test time, left out)."""
    return " + ".join(short_description(r) for r in records if r.kind != "dropout")


def dense_scale_kind(record: LayerRecord) -> str:
    return "relu" if record.kind == "relu" else "linear"

"""What every scene shares: the Trace it draws, the theme, a header and a caption line."""

from __future__ import annotations

import numpy as np
from manim import DOWN, UP, FadeIn, FadeOut, Group, Mobject, MovingCameraScene, config

from explainer.trace import LayerRecord, Trace
from scenes.inputs import default_trace
from scenes.mobjects import FONT_SIZE, SMALL_FONT_SIZE, THEME, label

# Manim hashes every play() call to reuse partial movies between runs; for scenes of large
# images that hashing costs more than rendering, so it is off (manim.cfg is only read from
# the current folder, hence here).
config.disable_caching = True


class TraceScene(MovingCameraScene):
    """A scene drawn from one :class:`~explainer.trace.Trace` (``trace=``, else
    :func:`scenes.inputs.default_trace`), on the dark theme, with a header and captions that
    follow the camera."""

    def __init__(self, trace: Trace | None = None, **kwargs) -> None:
        self.trace = trace
        self.caption: Mobject | None = None
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
    """``"conv 3×3"``, ``"BN"``, ``"ReLU"``, ``"max pool 2×2"``, ``"dense 1152→256"``."""
    p = record.params
    if record.kind == "conv":
        k = p.get("kernel_size", [0, 0])
        return f"conv {k[0]}×{k[1]}"
    if record.kind == "bn":
        return "BN"
    return record.description


def layer_title(records: list[LayerRecord]) -> str:
    """``"conv 3×3 + BN + ReLU"`` for a chain of layers (dropout, off at test time, left out)."""
    return " + ".join(short_description(r) for r in records if r.kind != "dropout")


def dense_scale_kind(record: LayerRecord) -> str:
    return "relu" if record.kind == "relu" else "linear"

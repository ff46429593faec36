"""What every scene shares: the Trace it draws, the theme, a header and a caption line."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np
from manim import (
    DOWN,
    UP,
    Animation,
    FadeIn,
    FadeOut,
    Group,
    Mobject,
    MovingCameraScene,
    Wait,
    config,
    smooth,
    squish_rate_func,
)
from PIL import Image

from explainer.analysis.flowgraph import record_label
from explainer.errors import ExplainerError
from explainer.scenes.camera import FrameOnceCamera
from explainer.scenes.inputs import default_trace
from explainer.scenes.mobjects import FONT_SIZE, SMALL_FONT_SIZE, THEME, label
from explainer.style import HIGHLIGHT_COLOR
from explainer.tracing.trace import LayerRecord, Trace
from explainer.tracing.verdict import bar_colours as verdict_bar_colours

# Manim hashes every play() call to reuse partial movies between runs; for scenes of large
# images that hashing costs more than rendering, so it is off (manim.cfg is only read from
# the current folder, hence here).
config.disable_caching = True

PACE_ENV = "EXPLAINER_PACE"
# seconds each step stays still after it is drawn, with its caption, before the next one
# starts: "class" leaves time to read the caption out loud (at least 2 s, more for a long
# one), "readme" makes a short loop.
PACES = {"class": 2.0, "readme": 0.8}
WORDS_PER_SECOND = 2.5  # a teacher reading aloud, about 150 words a minute


def pace_name(pace: str | None = None) -> str:
    """``pace``, else ``EXPLAINER_PACE``, else ``"class"``; one-line error for anything else."""
    pace = pace or os.environ.get(PACE_ENV) or "class"
    if pace not in PACES:
        raise ExplainerError(f"unknown pace {pace!r}; choose one of: {', '.join(PACES)}")
    return pace


def read_time(text: str, pace: str = "class") -> float:
    """How long a caption stays on screen, still, at ``pace``: at class pace the time to say
    it out loud (2.5 words a second, at least 2 s), at readme pace 0.8 s."""
    if pace == "class":
        return max(PACES["class"], len(text.split()) / WORDS_PER_SECOND)
    return PACES[pace]


def noun(trace: Trace) -> str:
    """What one input is called: ``"digit"`` for MNIST, ``"image"`` for anything else."""
    return "digit" if trace.dataset == "mnist" else "image"


def source_text(trace: Trace) -> str:
    """Where the input came from, in the dataset's words ("test image #0", not "digit")."""
    text = trace.source or "input"
    return text if noun(trace) == "digit" else re.sub(r"\bdigit\b", noun(trace), text)


class FastImageCamera(FrameOnceCamera):
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
    """A scene drawn from one :class:`~explainer.tracing.trace.Trace` (``trace=``, else
    :func:`explainer.scenes.inputs.default_trace`), on the dark theme, with a header and
    captions that follow the camera."""

    def __init__(self, trace: Trace | None = None, pace: str | None = None, **kwargs) -> None:
        self.trace = trace
        self.pace = pace_name(pace)
        self.hold = PACES[self.pace]
        self.caption: Mobject | None = None
        self.timeline: list[Beat] = []
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

    @property
    def noun(self) -> str:
        return noun(self.trace)

    def play(self, *args, **kwargs) -> None:
        """Play (``wait`` too), and note in :attr:`timeline` when it ran and which caption it
        brought in (``anims``: animations and ``.animate`` builders; a wait has none)."""
        start = self.renderer.time
        anims = [a for a in args if hasattr(a, "mobject") and not isinstance(a, Wait)]
        shown = [a.mobject for a in anims if isinstance(a, Animation) and a.is_introducer()
                 and a.mobject in self._captions]  # fmt: skip
        hides = any(isinstance(a, Animation) and a.is_remover() and a.mobject in self._captions
                    for a in anims)  # fmt: skip
        visual = any(not _is_chrome(a.mobject, self) for a in anims)
        super().play(*args, **kwargs)
        text = shown[-1].text if shown else None
        self.timeline.append(Beat(start, self.renderer.time, text, visual, hides))

    def header_text(self) -> str:
        t = self.trace
        model = t.checkpoint or t.architecture
        truth = f", label {t.class_names[t.label]}" if t.label is not None and t.class_names else ""
        return f"{model} · {source_text(t)}{truth}"

    def make_header(self, title: str) -> Group:
        head = Group(
            label(title, FONT_SIZE + 6), label(self.header_text(), SMALL_FONT_SIZE, THEME.muted)
        )
        head.arrange(DOWN, buff=0.08)
        head.is_chrome = True
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

    def swap_caption(
        self,
        text: str,
        center: np.ndarray | None = None,
        width: float | None = None,
        by: float = 1.0,
    ):
        """Animations replacing the current caption with ``text``, to play together with what
        it describes: the old one is gone (first 40% of the swap) before the new one comes;
        the swap takes the first ``by`` of the play (all of it by default)."""
        new = self.caption_at(text, center, width)
        self._captions.add(new)
        fade_in = squish_rate_func(smooth, 0.4 * by, by)
        anims = [FadeIn(new, shift=UP * 0.15, rate_func=fade_in)]
        if self.caption is not None:
            anims.append(FadeOut(self.caption, rate_func=squish_rate_func(smooth, 0.0, 0.4 * by)))
        self.caption = new
        return anims

    def hold_caption(self, extra: float = 0.0, already: float = 0.0) -> None:
        """Wait while the current caption is read (see :func:`read_time`), less the ``already``
        seconds it has been on screen since it came, plus ``extra``."""
        text = self.caption.text if self.caption is not None else ""
        self.wait(max(0.2, read_time(text, self.pace) - already) + extra)

    def hide_caption(self) -> list:
        """Animations taking the current caption away (none when there is none)."""
        old, self.caption = self.caption, None
        return [] if old is None else [FadeOut(old)]

    @property
    def _captions(self) -> set:
        if not hasattr(self, "_caption_set"):
            self._caption_set: set = set()
        return self._caption_set

    def captions(self) -> list[Beat]:
        """The beats of :attr:`timeline` that brought in a caption, in order."""
        return [b for b in self.timeline if b.caption is not None]


@dataclass
class Beat:
    """One ``play``/``wait`` of a scene: from ``start`` to ``end`` seconds of the video, the
    caption it brought in (if any), whether it drew anything besides captions, header and
    camera (``visual``) and whether it took a caption away (``hides``)."""

    start: float
    end: float
    caption: str | None
    visual: bool
    hides: bool = False


def _is_chrome(mob: Mobject, scene: TraceScene) -> bool:
    """Captions, the header and the camera frame: what is not the picture itself."""
    if mob is scene.camera.frame or mob in scene._captions or getattr(mob, "is_chrome", False):
        return True
    return (
        isinstance(mob, Group)
        and bool(mob.submobjects)
        and all(_is_chrome(m, scene) for m in mob.submobjects)
    )


def bar_colours(trace: Trace) -> tuple[str, str]:
    """``(answer, bars)``: the colours of the answer's probability bar and of the bars, the
    highlight and the accent; greys when the picture does not look like a digit."""
    return verdict_bar_colours(trace, HIGHLIGHT_COLOR, THEME.accent, THEME.name)


def said_first(trace: Trace) -> str:
    """The not-a-digit verdict (:attr:`Trace.said_first`) and the label when there is one, for
    a caption; ``""`` for a picture that looks like a digit."""
    if not trace.not_a_digit:
        return ""
    names = trace.class_names
    return trace.said_first + ("" if trace.label is None else f" (label {names[trace.label]})")


def short_description(record: LayerRecord) -> str:
    """``"conv 3×3"``, ``"BN"``, ``"tanh"``, ``"max pool 2×2"``, ``"add"``, ``"dense 1152→256"``
    (see :func:`explainer.analysis.flowgraph.record_label`)."""
    return record_label(record)


def layer_title(records: list[LayerRecord]) -> str:
    """``"conv 3×3 + BN + ReLU"`` for a chain of layers (dropout, off at test time, left out)."""
    return " + ".join(short_description(r) for r in records if r.kind != "dropout")


def dense_scale_kind(record: LayerRecord) -> str:
    return "relu" if record.kind == "relu" else "linear"

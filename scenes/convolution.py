"""ConvolutionScene: one real kernel of the first convolution sliding over its real input.

Every number comes from :mod:`explainer.arith`, checked against the network when the scene is
built: the input is the record the convolution consumed, the patch under the kernel is
highlighted, one input channel's products are written out, then their sum, what the other
input channels add and the bias give one output value (at decimals where the written figures
add up, or marked "rounded"). The whole output map fills in as the kernel sweeps the input;
then the records that really follow the layer (batch norm, the activation used, the pooling
used, with one window lit on its own grid) are shown as that channel's real maps.

    manim -ql scenes/convolution.py ConvolutionScene
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `manim scenes/convolution.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    Create,
    FadeIn,
    FadeOut,
    Group,
    ReplacementTransform,
    Square,
    TransformFromCopy,
    UpdateFromAlphaFunc,
    VGroup,
    linear,
)

from explainer import arith
from explainer.arith import ArithMismatch
from explainer.errors import ExplainerError
from explainer.style import HIGHLIGHT_COLOR, colorize, layer_scale, scale_for
from explainer.trace import INPUT, LayerRecord, Trace
from scenes.common import TraceScene
from scenes.mobjects import (
    FONT_SIZE,
    SMALL_FONT_SIZE,
    THEME,
    ColorBar,
    FeatureMap,
    label,
    make_morph_animation,
)


@contextmanager
def _if_workable() -> Iterator[None]:
    """Skip a check this project cannot work out by hand; a mismatch still stops the scene."""
    try:
        yield
    except ArithMismatch:
        raise
    except ExplainerError:
        pass


@dataclass
class SceneStep:
    """A record after the convolution, drawn as the channel's map: ``values`` are the
    network's own (checked where a cell is worked out), ``window`` the pooling window lit up
    (pooling only)."""

    record: LayerRecord
    values: np.ndarray
    kind: str
    title: str
    caption: str
    window: arith.PoolCell | None = None


@dataclass
class SceneNumbers:
    """Everything the scene writes or draws, from :mod:`explainer.arith`, checked."""

    conv: LayerRecord
    channel: int
    inputs: np.ndarray
    input_label: str
    output: np.ndarray
    cells: list[arith.ConvSum]
    steps: list[SceneStep]

    @property
    def in_channel(self) -> int:
        return self.cells[-1].in_channel

    @property
    def input_map(self) -> np.ndarray:
        return self.inputs[self.in_channel]


def first_conv(trace: Trace) -> tuple[LayerRecord, np.ndarray]:
    """The first convolution of a Trace and the ``(C_in, H, W)`` input it read (the record its
    ``inputs`` name). One-line error for networks without a convolution."""
    try:
        conv = arith.pick_conv(trace)
    except ExplainerError:
        raise ExplainerError(
            f"the convolution scene needs a network with a convolution; "
            f"{trace.checkpoint or trace.architecture} has none (try mnist_bn_cnn)"
        ) from None
    return conv, np.asarray(trace.inputs_of(conv)[0], dtype=np.float64)


def pick_channel(record: LayerRecord, image: np.ndarray) -> int:
    """The output channel that responds most to the ink of ``image`` (``(H, W)`` in [0, 1]):
    largest mean output on the strokes minus mean output on the background, so the map a
    learner sees lights up on the digit rather than around it."""
    out = record.output
    if out.shape[1:] != image.shape:
        return int(np.argmax(out.reshape(out.shape[0], -1).std(axis=1)))
    ink = image > 0.5
    if not ink.any() or ink.all():
        return int(np.argmax(out.reshape(out.shape[0], -1).std(axis=1)))
    score = out[:, ink].mean(axis=1) - out[:, ~ink].mean(axis=1)
    return int(np.argmax(score / (out.reshape(out.shape[0], -1).std(axis=1) + 1e-6)))


def showcase_positions(out: np.ndarray, kernel_size: int) -> list[tuple[int, int]]:
    """Two output pixels worth computing by hand: a quiet one and the strongest response."""
    strong = tuple(int(v) for v in np.unravel_index(np.argmax(out), out.shape))
    quiet = (min(kernel_size, out.shape[0] - 1), min(kernel_size, out.shape[1] - 1))
    return [quiet, strong] if quiet != strong else [strong]


def _step(trace: Trace, r: LayerRecord, ch: int) -> SceneStep | None:
    """The scene's picture of record ``r`` (channel ``ch``), its numbers checked."""
    values = r.output[ch]
    if r.kind == "bn":
        hot = tuple(int(v) for v in np.unravel_index(np.argmax(np.abs(values)), values.shape))
        with _if_workable():
            arith.norm_cell(trace, r, (ch, *hot))
        return SceneStep(r, values, "bn", r.description,
                         f"{r.description.capitalize()} shifts and rescales this channel "
                         "with numbers learned in training")  # fmt: skip
    if r.kind == "relu":
        with _if_workable():
            mine = arith.activation_map(trace, r, trace.inputs_of(r)[0][ch])
            arith.check_block(r, mine, (ch,))
        formula = arith.activation_formula(r)
        extra = ": negatives become 0" if arith.activation_name(r) in ("relu", "relu6") else ""
        return SceneStep(r, values, "relu", r.description,
                         f"{r.description} at every value, {formula}{extra}")  # fmt: skip
    if r.kind == "pool":
        py, px = (int(v) for v in np.unravel_index(np.argmax(values), values.shape))
        window = None
        with _if_workable():
            window = arith.pool_cell(trace, r, ch, py, px)
        (kh, kw) = r.params.get("kernel_size", [0, 0]) if not r.params.get("adaptive") else (0, 0)
        how = "largest value" if r.params.get("mode") == "max" else "average"
        size = f"{r.input_shape[-2]}×{r.input_shape[-1]} → {values.shape[0]}×{values.shape[1]}"
        text = f"each {kh}×{kw} window keeps its {how}" if kh else "each region keeps its average"
        return SceneStep(r, values, "pool", r.description,
                         f"{r.description.capitalize()}: {text}, {size}", window)  # fmt: skip
    return None  # dropout: nothing to see at test time


def scene_numbers(trace: Trace) -> SceneNumbers:
    """The numbers of :class:`ConvolutionScene`: the first convolution's input (the record it
    consumed), a channel that lights up on the ink, two output values worked out over every
    input channel, the whole map and the records that follow it, all checked."""
    conv, inputs = first_conv(trace)
    ch = pick_channel(conv, trace.image)
    output = arith.conv_channel_map(trace, conv, ch)
    k = int(conv.weight.shape[-1])
    most = 3 if k <= 3 else 2
    positions = showcase_positions(output, k)
    strong = arith.conv_sum(arith.conv_cell(trace, conv, ch, *positions[-1]), most=most)
    cells = [
        arith.conv_sum(arith.conv_cell(trace, conv, ch, *p), strong.shown, most=most)
        for p in positions[:-1]
    ] + [strong]
    src = conv.inputs[0]
    what = "the digit" if src == INPUT else f"{src} ({trace.layer(src).description})"
    steps = [s for r in arith.path_after(trace, conv) if (s := _step(trace, r, ch)) is not None]
    return SceneNumbers(conv, ch, inputs, what, output, cells, steps)


def _grid(values: np.ndarray, decimals: int, cell: float, fs: float, color: str) -> Group:
    nums = Group(*[label(arith.fmt(float(v), decimals), fs, color) for v in values.ravel()])
    for n in nums:
        n.scale_to_fit_width(min(n.width, cell * 1.25))
    return nums.arrange_in_grid(rows=values.shape[0], buff=(0.18, 0.12))


def kernel_grid(weights: np.ndarray, cell: float, font_size: float, decimals: int = 2) -> Group:
    """The kernel as coloured squares with its weights written in (true minus signs)."""
    scale = scale_for(weights, "kernel")
    colours = colorize(weights, scale)
    squares, numbers = VGroup(), Group()
    for (r, c), w in np.ndenumerate(weights):
        sq = Square(side_length=cell, stroke_color=THEME.muted, stroke_width=1)
        sq.set_fill("#" + "".join(f"{int(v):02x}" for v in colours[r, c]), opacity=1)
        sq.move_to(RIGHT * c * cell + DOWN * r * cell)
        light = colours[r, c].astype(int).sum() > 3 * 150
        num = label(arith.fmt(float(w), decimals), font_size, "#111111" if light else "#f0f0f0")
        num.scale_to_fit_width(min(num.width, cell * 0.9)).move_to(sq)
        squares.add(sq)
        numbers.add(num)
    return Group(squares, numbers)


class ConvolutionScene(TraceScene):
    """A real kernel at work (see the module docstring)."""

    def construct(self) -> None:
        nums = scene_numbers(self.trace)
        self.numbers = nums
        conv, ch = nums.conv, nums.channel
        self.play(FadeIn(self.make_header(f"Convolution: filter {ch} of {conv.name}")),
                  run_time=0.6)  # fmt: skip
        kind = "input" if conv.inputs[0] == INPUT else "conv"
        digit = FeatureMap(nums.input_map, layer_scale(nums.inputs, kind), height=3.6)
        digit.move_to(LEFT * 4.6 + DOWN * 0.2)
        h, w = nums.input_map.shape
        where = f", channel {nums.in_channel}" if nums.inputs.shape[0] > 1 else ""
        digit_cap = label(f"input: {nums.input_label}{where}, {h}×{w}", SMALL_FONT_SIZE)
        digit_cap.scale_to_fit_width(min(digit_cap.width, 4.0)).next_to(digit, DOWN, buff=0.15)
        conv_scale = scale_for(nums.output, "conv")
        output = FeatureMap(nums.output, conv_scale, height=3.6).move_to(RIGHT * 4.6 + DOWN * 0.2)
        oh, ow = nums.output.shape
        out_cap = label(f"output map {oh}×{ow}", SMALL_FONT_SIZE).next_to(output, DOWN, buff=0.15)
        out_bar = ColorBar(conv_scale, width=2.2, text="value (blue < 0 < red)").next_to(
            out_cap, DOWN, buff=0.2
        )
        k = int(conv.weight.shape[-1])
        cell = 0.42 if k <= 3 else 0.3
        kern = kernel_grid(nums.cells[-1].kernel, cell, SMALL_FONT_SIZE - (0 if k <= 3 else 4),
                           nums.cells[-1].decimals)  # fmt: skip
        kern_cap = label(f"kernel {k}×{k}" + (f" (input channel {nums.in_channel})" if where
                         else ""), SMALL_FONT_SIZE)  # fmt: skip
        kern_group = Group(kern, kern_cap.next_to(kern, UP, buff=0.12)).move_to(
            UP * 1.4 + LEFT * 1.5
        )
        self.play(*self.swap_caption("The input, and one learned filter of the convolution"),
                  FadeIn(digit, digit_cap))  # fmt: skip
        self.play(FadeIn(kern_group), run_time=0.8)
        self.play(
            *self.swap_caption(f"Each output value = Σ weight × input + bias, on a {k}×{k} patch"),
            FadeIn(output.frame, out_cap, out_bar),
            run_time=0.8,
        )
        highlight = self.by_hand(nums, digit, output, conv_scale, cell, kern_group)
        self.sweep(nums, digit, output, highlight)
        self.play(FadeOut(kern_group, digit, digit_cap), FadeOut(self.caption), run_time=0.6)
        self.caption = None
        self.play(FadeOut(out_cap, out_bar), run_time=0.3)
        self.next_steps(nums, output, conv_scale)

    def window(self, fmap: FeatureMap, cs: arith.ConvSum):
        """The frame around the input window of a worked cell (dilation included)."""
        dy, dx = arith.conv_geometry(self.numbers.conv)[2]
        kh, kw = cs.kernel.shape
        size = ((kh - 1) * dy + 1, (kw - 1) * dx + 1)
        return fmap.make_highlight(cs.cell.rows[0], cs.cell.cols[0], size)

    def by_hand(self, nums, digit, output, conv_scale, cell, kern_group):
        """Two output values worked out: patch, products, the sum over every input channel."""
        panel = highlight = out_mark = None
        computed = []
        for cs in nums.cells:
            row, col = cs.cell.y, cs.cell.x
            box = self.window(digit, cs)
            mark = output.make_highlight(row, col, 1)
            new_panel = self.product_panel(cs, cell, kern_group)
            value_pixel = FeatureMap(
                nums.output[row : row + 1, col : col + 1], conv_scale, height=output.cell_size
            )
            value_pixel.move_to(output.pixel_center(row, col))
            anims = [Create(box) if highlight is None else ReplacementTransform(highlight, box)]
            anims.append(Create(mark) if out_mark is None else ReplacementTransform(out_mark, mark))
            if panel is not None:
                anims.append(FadeOut(panel))
            self.play(*anims, run_time=0.7)
            self.play(FadeIn(new_panel[0]), run_time=0.6)  # patch values
            self.play(FadeIn(new_panel[1], shift=DOWN * 0.2), run_time=0.9)
            self.play(FadeIn(new_panel[2]), run_time=0.6)
            self.play(make_morph_animation(new_panel[2], value_pixel), run_time=0.6)
            self.add(value_pixel)
            computed.append(value_pixel)
            self.wait(0.8)
            highlight, out_mark, panel = box, mark, new_panel
        self.play(FadeOut(panel, out_mark), run_time=0.6)
        self.remove(*computed)
        return highlight

    def sweep(self, nums, digit, output, highlight) -> None:
        """The window slides over every position while the output map fills in."""
        rows, cols = nums.output.shape
        (sy, sx), (py, px), _ = arith.conv_geometry(nums.conv)

        def follow(m, alpha: float) -> None:
            i = min(int(alpha * rows * cols), rows * cols - 1)
            r, c = divmod(i, cols)
            m.move_to(digit.make_highlight(r * sy - py, c * sx - px, m_size))

        (kh, kw), (dy, dx) = nums.conv.weight.shape[2:], arith.conv_geometry(nums.conv)[2]
        m_size = ((kh - 1) * dy + 1, (kw - 1) * dx + 1)
        caption = "The same kernel slides over every position: the output map fills in"
        self.play(*self.swap_caption(caption), run_time=0.6)
        self.play(
            UpdateFromAlphaFunc(highlight, follow, rate_func=linear),
            output.make_fill_animation(run_time=3.5),
            run_time=3.5,
            rate_func=linear,
        )
        self.add(output)
        self.play(FadeOut(highlight), run_time=0.3)
        self.wait(0.5)

    def next_steps(self, nums: SceneNumbers, output: FeatureMap, conv_scale) -> None:
        """The records that follow the convolution, each as the channel's real map."""
        self.play(output.animate.scale(0.62).move_to(LEFT * 5.2 + UP * 0.35), run_time=0.8)
        out_cap = label("convolution", SMALL_FONT_SIZE).next_to(output, DOWN, buff=0.15)
        out_bar = ColorBar(conv_scale, width=1.6, text="value").next_to(out_cap, DOWN, buff=0.2)
        self.play(FadeIn(out_cap, out_bar), run_time=0.4)
        maps = [Group(output, out_cap, out_bar)]
        height = 3.6 * 0.62 / nums.output.shape[0]
        for step in nums.steps[:3]:
            scale = layer_scale(step.values, step.kind)
            fm = FeatureMap(step.values, scale, height=height * step.values.shape[0])
            cap = label(step.title, SMALL_FONT_SIZE)
            bar = ColorBar(scale, width=1.6, text="value")
            g = Group(fm, cap.next_to(fm, DOWN, buff=0.15))
            bar.next_to(g, DOWN, buff=0.2)
            g.add(bar)
            g.next_to(maps[-1], RIGHT, buff=1.0)
            fm.match_y(maps[0][0])
            g[1].next_to(fm, DOWN, buff=0.15).match_y(maps[0][1])  # captions on one line
            g[2].next_to(g[1], DOWN, buff=0.2).match_y(maps[0][2])
            arrow = Arrow(
                maps[-1][0].get_right(), fm.get_left(), buff=0.1, stroke_width=3
            ).set_color(THEME.muted)
            self.play(*self.swap_caption(step.caption), Create(arrow), run_time=0.7)
            if step.window is not None:
                self.play(*self.pool_demo(maps[-1][0], fm, step.window), run_time=1.6)
                self.play(FadeIn(g), run_time=0.6)
            else:
                self.play(TransformFromCopy(maps[-1][0].frame, fm.frame), FadeIn(g), run_time=1.0)
            self.wait(0.8)
            maps.append(g)
        self.result_maps = [m[0] for m in maps]  # the FeatureMaps left on screen, in order
        self.wait(1.2)

    def product_panel(self, cs: arith.ConvSum, cell: float, kern_group) -> Group:
        """[patch values, products, sum lines], laid out under the kernel."""
        fs = SMALL_FONT_SIZE - (0 if cs.patch.shape[0] <= 3 else 4)
        d = cs.decimals

        def grid(values: np.ndarray, title: str, color: str) -> Group:
            nums = _grid(values, d, cell, fs, color)
            return Group(
                label(title, SMALL_FONT_SIZE, THEME.muted).next_to(nums, UP, buff=0.12), nums
            )

        xs = grid(cs.patch, "input patch x", THEME.foreground)
        prods = grid(cs.products, "w × x", HIGHLIGHT_COLOR)
        xs.next_to(kern_group, RIGHT, buff=0.5).align_to(kern_group, DOWN)
        prods.next_to(kern_group, DOWN, buff=0.45).align_to(kern_group, LEFT).shift(RIGHT * 0.5)
        lines = arith.conv_sum_lines(cs)
        text = "   ".join(f"{words} {number}" for words, number in lines[:-1])
        if not cs.exact:
            text += f"   (figures rounded to {d} decimals)"
        first = label(text, SMALL_FONT_SIZE, THEME.foreground)
        first.scale_to_fit_width(min(first.width, 9.0))
        total = label(f"{lines[-1][0]} = {lines[-1][1]}", FONT_SIZE, HIGHLIGHT_COLOR)
        sums = Group(first, total).arrange(DOWN, buff=0.12).next_to(prods, DOWN, buff=0.3)
        return Group(xs, prods, sums)

    def pool_demo(self, source: FeatureMap, target: FeatureMap, cell: arith.PoolCell) -> list:
        """One pooling window on its real grid and its pooled value light up."""
        h, w = cell.window.shape
        return [
            Create(source.make_highlight(cell.rows[0], cell.cols[0], (h, w))),
            Create(target.make_highlight(cell.y, cell.x, 1)),
        ]


__all__ = ["ConvolutionScene", "SceneNumbers", "first_conv", "kernel_grid", "scene_numbers"]

"""ConvolutionScene: one real kernel of the first convolution sliding over its real input.

Every number comes from :mod:`explainer.analysis.arith`, checked against the network when the scene
is
built: the input is the record the convolution consumed, the patch under the kernel is
highlighted, one input channel's products are written out, then their sum, what the other
input channels add and the bias give one output value (at decimals where the written figures
add up, or marked "rounded"). The whole output map fills in as the kernel sweeps the input;
then the records that really follow the layer (batch norm, the activation used, the pooling
used, with one window lit on its own grid) are shown as that channel's real maps.

    manim -ql scenes/convolution.py ConvolutionScene
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

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

from explainer.analysis import arith
from explainer.analysis.arith import ArithMismatch
from explainer.errors import ExplainerError
from explainer.scenes.common import TraceScene, noun
from explainer.scenes.mobjects import (
    FONT_SIZE,
    SMALL_FONT_SIZE,
    THEME,
    ColorBar,
    FeatureMap,
    label,
    make_morph_animation,
)
from explainer.style import HIGHLIGHT_COLOR, Scale, colorize, layer_scale, scale_for
from explainer.tracing.trace import INPUT, LayerRecord, Trace


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
    """Everything the scene writes or draws, from :mod:`explainer.analysis.arith`, checked."""

    conv: LayerRecord
    channel: int
    inputs: np.ndarray
    input_label: str
    output: np.ndarray
    cells: list[arith.ConvSum]
    steps: list[SceneStep]
    then: list[LayerRecord] = field(default_factory=list)  # what reads the last step's output

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


def input_label(trace: Trace, src: str) -> str:
    """How the caption names what the convolution read: ``"the digit"`` (``"the image"`` for
    another dataset), ``"the normalized digit"``, or the record's name (with its description
    when that says more)."""
    if src == INPUT:
        return f"the {noun(trace)}"
    rec = trace.layer(src)
    if rec.kind == "normalize":
        return f"the normalized {noun(trace)}"
    return src if rec.description in (src, rec.kind) else f"{src} ({rec.description})"


def input_scale(trace: Trace, nums: SceneNumbers) -> Scale:
    """The colours of the convolution's input ``(C_in, H, W)``, as every picture of that
    record has them: the pixel scale for the digit itself, else the scale of the record it
    read (a normalised digit or a conv before its ReLU holds values below zero: the diverging
    map, 0 at its centre)."""
    src = nums.conv.inputs[0]
    kind = "input" if src == INPUT else trace.layer(src).kind
    return layer_scale(nums.inputs, kind)


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
    what = input_label(trace, conv.inputs[0])
    path = arith.path_after(trace, conv)
    steps = [s for r in path if (s := _step(trace, r, ch)) is not None]
    then = trace.consumers(path[-1].name if path else conv.name)
    return SceneNumbers(conv, ch, inputs, what, output, cells, steps, then)


def _numbers(values: np.ndarray, decimals: int, cell: float, fs: float, colors) -> list:
    """Labels of ``values`` (true minus signs), all at one size: the widest fits a cell, so a
    negative number is never drawn smaller than a positive one."""
    nums = [label(arith.fmt(float(v), decimals), fs, c)
            for v, c in zip(values.ravel(), colors, strict=True)]  # fmt: skip
    widest = max(n.width for n in nums)
    if widest > cell * 0.92:
        for n in nums:
            n.scale(cell * 0.92 / widest)
    return nums


def _grid(values: np.ndarray, decimals: int, cell: float, fs: float, color: str) -> Group:
    """Numbers on a ``cell``-sized grid, like :func:`kernel_grid` without the colours."""
    nums = _numbers(values, decimals, cell, fs, [color] * values.size)
    for (r, c), n in zip(np.ndindex(values.shape), nums, strict=True):
        n.move_to(RIGHT * c * cell + DOWN * r * cell)
    return Group(*nums)


def kernel_grid(weights: np.ndarray, cell: float, font_size: float, decimals: int = 2) -> Group:
    """The kernel as coloured squares with its weights written in (true minus signs, every
    weight at the same size)."""
    scale = scale_for(weights, "kernel")
    colours = colorize(weights, scale)
    squares = VGroup()
    inks = []
    for (r, c), _w in np.ndenumerate(weights):
        sq = Square(side_length=cell, stroke_color=THEME.muted, stroke_width=1)
        sq.set_fill("#" + "".join(f"{int(v):02x}" for v in colours[r, c]), opacity=1)
        sq.move_to(RIGHT * c * cell + DOWN * r * cell)
        squares.add(sq)
        inks.append("#111111" if colours[r, c].astype(int).sum() > 3 * 150 else "#f0f0f0")
    numbers = _numbers(weights, decimals, cell, font_size, inks)
    for sq, num in zip(squares, numbers, strict=True):
        num.move_to(sq)
    return Group(squares, Group(*numbers))


MAP_HEIGHT, MAP_X, GRID_Y = 2.6, 5.4, 0.95  # the input and output maps beside the grids
STEP_HEIGHT = 2.2  # each map of "what happens next"


def grid_cell(k: int) -> float:
    """The side of one number's cell for a k×k kernel (three grids fit between the maps)."""
    return min(0.8, 2.4 / k)


def kernel_group(nums: SceneNumbers) -> Group:
    """The kernel grid (at the middle of the frame) and its title above it."""
    k = int(nums.conv.weight.shape[-1])
    cs = nums.cells[-1]
    kern = kernel_grid(cs.kernel, grid_cell(k), SMALL_FONT_SIZE, cs.decimals).move_to(UP * GRID_Y)
    where = f" (input channel {nums.in_channel})" if nums.inputs.shape[0] > 1 else ""
    kern_cap = label(f"kernel w {k}×{k}{where}", SMALL_FONT_SIZE, THEME.muted)
    return Group(kern, kern_cap.next_to(kern, UP, buff=0.15))


class ConvolutionScene(TraceScene):
    """A real kernel at work (see the module docstring)."""

    def construct(self) -> None:
        nums = scene_numbers(self.trace)
        self.numbers = nums
        conv, ch = nums.conv, nums.channel
        self.play(FadeIn(self.make_header(f"Convolution: filter {ch} of {conv.name}")),
                  run_time=0.6)  # fmt: skip
        digit = FeatureMap(nums.input_map, input_scale(self.trace, nums), height=MAP_HEIGHT)
        digit.move_to(LEFT * MAP_X + DOWN * 0.3)
        h, w = nums.input_map.shape
        where = f", channel {nums.in_channel}" if nums.inputs.shape[0] > 1 else ""
        digit_cap = Group(  # two lines, so it is not shrunk to fit the map's width
            label(f"input: {nums.input_label}", SMALL_FONT_SIZE),
            label(f"{h}×{w}{where}", SMALL_FONT_SIZE, THEME.muted),
        ).arrange(DOWN, buff=0.06)
        digit_cap.scale_to_fit_width(min(digit_cap.width, 3.2)).next_to(digit, DOWN, buff=0.15)
        conv_scale = scale_for(nums.output, "conv")
        output = FeatureMap(nums.output, conv_scale, height=MAP_HEIGHT)
        output.move_to(RIGHT * MAP_X + DOWN * 0.3)
        oh, ow = nums.output.shape
        out_cap = label(f"output map {oh}×{ow}", SMALL_FONT_SIZE).next_to(output, DOWN, buff=0.15)
        out_bar = ColorBar(conv_scale, width=1.6, text="value (blue < 0 < red)").next_to(
            out_cap, DOWN, buff=0.2
        )
        k = int(conv.weight.shape[-1])
        cell = grid_cell(k)
        kern_group = kernel_group(nums)
        self.play(FadeIn(digit, digit_cap), FadeIn(kern_group),
                  *self.swap_caption("The input, and one learned filter of the convolution"),
                  run_time=1.4)  # fmt: skip
        self.hold_caption()
        self.play(
            *self.swap_caption(f"Each output value = Σ weight × input + bias, on a {k}×{k} patch"),
            FadeIn(output.frame, out_cap, out_bar),
            run_time=0.8,
        )
        highlight = self.by_hand(nums, digit, output, conv_scale, cell, kern_group)
        self.sweep(nums, digit, output, highlight)
        self.play(FadeOut(kern_group, digit, digit_cap), *self.hide_caption(), run_time=0.6)
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
        caption = "The same kernel slides over every position; the map fills in"
        fill = output.make_fill_animation(run_time=3.5)
        fill.rate_func = linear
        self.play(  # no play-wide rate_func: it would override the caption's fade
            UpdateFromAlphaFunc(highlight, follow, rate_func=linear),
            fill,
            *self.swap_caption(caption, by=0.25),  # with the first moves of the kernel
            run_time=3.5,
        )
        self.add(output)
        self.play(FadeOut(highlight), run_time=0.3)
        self.hold_caption()

    def next_steps(self, nums: SceneNumbers, output: FeatureMap, conv_scale) -> None:
        """The records that follow the convolution, each as the channel's real map."""
        self.play(output.animate.scale(STEP_HEIGHT / MAP_HEIGHT).move_to(LEFT * 5.2 + UP * 0.35),
                  run_time=0.8)  # fmt: skip
        out_cap = label("convolution", SMALL_FONT_SIZE).next_to(output, DOWN, buff=0.15)
        out_bar = ColorBar(conv_scale, width=1.6, text="value").next_to(out_cap, DOWN, buff=0.2)
        self.play(FadeIn(out_cap, out_bar), run_time=0.4)
        maps = [Group(output, out_cap, out_bar)]
        height = STEP_HEIGHT / nums.output.shape[0]
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
            self.play(Create(arrow), *self.hide_caption(), run_time=0.5)
            caption = self.swap_caption(step.caption)  # with the map it describes
            if step.window is not None:
                self.play(*self.pool_demo(maps[-1][0], fm, step.window), *caption, run_time=1.6)
                self.play(FadeIn(g), run_time=0.6)
            else:
                self.play(TransformFromCopy(maps[-1][0].frame, fm.frame), FadeIn(g), *caption,
                          run_time=1.0)  # fmt: skip
            self.hold_caption()
            maps.append(g)
        self.result_maps = [m[0] for m in maps]  # the FeatureMaps left on screen, in order
        if nums.then:
            names = " and ".join(f"{r.name} ({r.description})" for r in nums.then[:2])
            self.play(*self.swap_caption(f"Next, {names} reads these maps"), run_time=0.6)
        self.hold_caption(extra=0.6)

    def product_panel(self, cs: arith.ConvSum, cell: float, kern_group) -> Group:
        """[patch values, products, sum lines]: the patch left of the kernel (×), the products
        right of it (=), the written sum under the three."""
        kern, kern_cap = kern_group
        d = cs.decimals

        def grid(values: np.ndarray, title: str, color: str, side) -> Group:
            nums = _grid(values, d, cell, SMALL_FONT_SIZE, color)
            nums.next_to(kern, side, buff=0.5).match_y(kern)
            head = label(title, SMALL_FONT_SIZE, THEME.muted).move_to(nums).match_y(kern_cap)
            sign = label("×" if side is LEFT else "=", FONT_SIZE, THEME.muted)
            sign.move_to((nums.get_center() + kern.get_center()) / 2).match_y(kern)
            sign.set_x((nums.get_right()[0] + kern.get_left()[0]) / 2 if side is LEFT
                       else (nums.get_left()[0] + kern.get_right()[0]) / 2)  # fmt: skip
            return Group(head, nums, sign)

        xs = grid(cs.patch, "input patch x", THEME.foreground, LEFT)
        prods = grid(cs.products, "w × x", HIGHLIGHT_COLOR, RIGHT)
        return Group(xs, prods, self.sum_table(cs, kern))

    def sum_table(self, cs: arith.ConvSum, above) -> Group:
        """The written sum as a small table: words left, numbers right, the output last."""
        lines = arith.conv_sum_lines(cs)
        rows = Group()
        for i, (words, number) in enumerate(lines):
            last = i == len(lines) - 1
            size, color = (FONT_SIZE, HIGHLIGHT_COLOR) if last else (SMALL_FONT_SIZE + 2, None)
            w, n = label(words, size, color), label(number, size, color)
            n.next_to(w, RIGHT, buff=0.3)
            rows.add(Group(w, n))
        rows.arrange(DOWN, buff=0.1, aligned_edge=LEFT)
        right = max(r[1].get_right()[0] for r in rows)
        for r in rows:  # numbers right-aligned in one column
            r[1].shift(RIGHT * (right - r[1].get_right()[0]))
        if not cs.exact:
            note = f"(figures rounded to {cs.decimals} decimals; the sum uses the exact values)"
            rows.add(label(note, SMALL_FONT_SIZE - 2, THEME.muted).next_to(rows, DOWN, buff=0.1))
        return rows.next_to(above, DOWN, buff=0.3).set_x(0)

    def pool_demo(self, source: FeatureMap, target: FeatureMap, cell: arith.PoolCell) -> list:
        """One pooling window on its real grid and its pooled value light up."""
        h, w = cell.window.shape
        return [
            Create(source.make_highlight(cell.rows[0], cell.cols[0], (h, w))),
            Create(target.make_highlight(cell.y, cell.x, 1)),
        ]


__all__ = [
    "ConvolutionScene",
    "SceneNumbers",
    "first_conv",
    "kernel_grid",
    "kernel_group",
    "scene_numbers",
]

"""ConvolutionScene: one real kernel of the first convolution sliding over the digit.

The patch under the kernel is highlighted, its products with the nine (or 25) weights are
written out and summed with the bias into one output value, then the whole output map fills in
as the kernel sweeps the image; ReLU and max pooling follow on that same map.

    manim -ql scenes/convolution.py ConvolutionScene
"""

from __future__ import annotations

import sys
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
    TransformFromCopy,
    UpdateFromAlphaFunc,
    linear,
)

from explainer.errors import ExplainerError
from explainer.style import HIGHLIGHT_COLOR, scale_for
from explainer.trace import LayerRecord, Trace
from scenes.common import TraceScene
from scenes.mobjects import (
    FONT_SIZE,
    SMALL_FONT_SIZE,
    THEME,
    ColorBar,
    FeatureMap,
    Kernel,
    label,
    make_morph_animation,
)


def first_conv(trace: Trace) -> tuple[LayerRecord, np.ndarray]:
    """The first convolution of a Trace and the ``(H, W)`` map it reads (the normalised
    digit). One-line error for networks without a single-channel convolution."""
    for i, r in enumerate(trace.layers):
        if (
            r.kind == "conv"
            and r.weight is not None
            and r.weight.ndim == 4
            and r.weight.shape[1] == 1
        ):
            prev = trace.layers[i - 1].output if i > 0 else trace.image[None]
            inp = prev[0] if prev.ndim == 3 else trace.image
            return r, np.asarray(inp, dtype=np.float32)
    raise ExplainerError(
        f"the convolution scene needs a network with a convolution on the image; "
        f"{trace.checkpoint or trace.architecture} has none (try mnist_bn_cnn or mnist_tinyvgg)"
    )


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


def patch_products(
    inp: np.ndarray, kernel: np.ndarray, row: int, col: int, padding: int, stride: int = 1
) -> tuple[np.ndarray, np.ndarray, float]:
    """For output pixel ``(row, col)``: the ``(kH, kW)`` input patch (zero padded), its
    element-wise products with ``kernel`` and their sum (without the bias)."""
    kh, kw = kernel.shape
    padded = np.pad(inp, padding)
    patch = padded[row * stride : row * stride + kh, col * stride : col * stride + kw]
    products = patch * kernel
    return patch, products, float(products.sum())


def convolve(
    inp: np.ndarray, kernel: np.ndarray, bias: float, padding: int, stride: int = 1
) -> np.ndarray:
    """The ``(H', W')`` cross-correlation PyTorch's ``Conv2d`` computes, for one channel."""
    kh, kw = kernel.shape
    padded = np.pad(inp.astype(np.float64), padding)
    h = (padded.shape[0] - kh) // stride + 1
    w = (padded.shape[1] - kw) // stride + 1
    out = np.zeros((h, w))
    for i in range(kh):
        for j in range(kw):
            out += kernel[i, j] * padded[i : i + stride * h : stride, j : j + stride * w : stride]
    return (out + bias).astype(np.float32)


def max_pool(x: np.ndarray, k: int = 2) -> np.ndarray:
    """``(H, W)`` → ``(H // k, W // k)``: the maximum of each ``k × k`` block (floor mode)."""
    h, w = (x.shape[0] // k) * k, (x.shape[1] // k) * k
    return x[:h, :w].reshape(h // k, k, w // k, k).max(axis=(1, 3))


def showcase_positions(out: np.ndarray, kernel_size: int) -> list[tuple[int, int]]:
    """Two output pixels worth computing by hand: the strongest response and a quiet one."""
    strong = tuple(int(v) for v in np.unravel_index(np.argmax(out), out.shape))
    quiet = (kernel_size, kernel_size)
    return [quiet, strong] if quiet != strong else [strong]


def following(trace: Trace, record: LayerRecord, kinds: tuple[str, ...]) -> LayerRecord | None:
    """The first layer after ``record`` of one of ``kinds``, if it comes before the next conv."""
    names = trace.names()
    for r in trace.layers[names.index(record.name) + 1 :]:
        if r.kind == "conv":
            return None
        if r.kind in kinds:
            return r
    return None


class ConvolutionScene(TraceScene):
    """A real kernel at work (see the module docstring)."""

    def construct(self) -> None:
        trace = self.trace
        conv, inp = first_conv(trace)
        ch = pick_channel(conv, trace.image)
        kernel = conv.weight[ch, 0]
        bias = float(conv.bias[ch]) if conv.bias is not None else 0.0
        pad = int(conv.params.get("padding", [0, 0])[0])
        stride = int(conv.params.get("stride", [1, 1])[0])
        k = kernel.shape[0]
        out = conv.output[ch]
        conv_scale = scale_for(out, "conv")

        header = self.make_header(f"Convolution: filter {ch} of {conv.name}")
        self.play(FadeIn(header), run_time=0.6)

        digit = FeatureMap(trace.image, scale_for(trace.image, "input"), height=3.6)
        digit.move_to(LEFT * 4.6 + DOWN * 0.2)
        digit_cap = label(f"input {trace.image.shape[0]}×{trace.image.shape[1]}", SMALL_FONT_SIZE)
        digit_cap.next_to(digit, DOWN, buff=0.15)
        output = FeatureMap(out, conv_scale, height=3.6).move_to(RIGHT * 4.6 + DOWN * 0.2)
        out_cap = label(f"output map {out.shape[0]}×{out.shape[1]}", SMALL_FONT_SIZE).next_to(
            output, DOWN, buff=0.15
        )
        out_bar = ColorBar(conv_scale, width=2.2, text="value (blue < 0 < red)").next_to(
            out_cap, DOWN, buff=0.2
        )

        cell = 0.42 if k <= 3 else 0.3
        kern = Kernel(kernel, cell=cell, font_size=SMALL_FONT_SIZE - (0 if k <= 3 else 4))
        kern_cap = label(f"kernel {k}×{k}", SMALL_FONT_SIZE)
        kern_group = Group(kern, kern_cap.next_to(kern, UP, buff=0.12)).move_to(
            UP * 1.4 + LEFT * 1.5
        )

        self.play(
            *self.swap_caption("The digit, and one learned filter of the first convolution"),
            FadeIn(digit, digit_cap),
        )
        self.play(FadeIn(kern_group), run_time=0.8)
        self.play(
            *self.swap_caption(f"Each output value = Σ weight × pixel + bias, on a {k}×{k} patch"),
            FadeIn(output.frame, out_cap, out_bar),
            run_time=0.8,
        )

        # --- two values computed by hand ---------------------------------------------------
        panel: Group | None = None
        highlight = None
        out_mark = None
        computed = []
        for row, col in showcase_positions(out, k):
            patch, products, total = patch_products(inp, kernel, row, col, pad, stride)
            box = digit.make_highlight(row * stride - pad, col * stride - pad, k)
            mark = output.make_highlight(row, col, 1)
            new_panel = self.product_panel(patch, products, total, bias, cell, kern_group)
            value_pixel = FeatureMap(
                out[row : row + 1, col : col + 1], conv_scale, height=output.cell_size
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

        # --- the sweep ------------------------------------------------------------------------
        rows, cols = out.shape

        def follow(m, alpha: float) -> None:
            i = min(int(alpha * rows * cols), rows * cols - 1)
            r, c = divmod(i, cols)
            m.move_to(digit.make_highlight(r * stride - pad, c * stride - pad, k))

        self.play(
            *self.swap_caption(
                "The same kernel slides over every position: the output map fills in"
            ),
            FadeOut(panel, out_mark),
            run_time=0.6,
        )
        self.play(
            UpdateFromAlphaFunc(highlight, follow, rate_func=linear),
            output.make_fill_animation(run_time=3.5),
            run_time=3.5,
            rate_func=linear,
        )
        self.remove(*computed)  # now part of the filled map
        self.add(output)
        self.play(FadeOut(highlight), run_time=0.3)
        self.wait(0.5)

        # --- batch norm, ReLU, max pooling on this map -------------------------------------------
        steps = self.after_conv_steps(trace, conv, ch)
        self.play(FadeOut(kern_group, digit, digit_cap), FadeOut(self.caption), run_time=0.6)
        self.caption = None
        self.play(FadeOut(out_cap, out_bar), run_time=0.3)
        self.play(output.animate.scale(0.62).move_to(LEFT * 5.2 + UP * 0.35), run_time=0.8)
        out_cap = label("convolution", SMALL_FONT_SIZE).next_to(output, DOWN, buff=0.15)
        out_bar = ColorBar(conv_scale, width=1.6, text="value").next_to(out_cap, DOWN, buff=0.2)
        self.play(FadeIn(out_cap, out_bar), run_time=0.4)
        maps = [Group(output, out_cap, out_bar)]
        for values, kind, title, caption in steps:
            scale = scale_for(values, kind)
            fm = FeatureMap(values, scale, height=3.6 * 0.62 * values.shape[0] / out.shape[0])
            cap = label(title, SMALL_FONT_SIZE)
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
            self.play(*self.swap_caption(caption), Create(arrow), run_time=0.7)
            if kind == "pool":
                self.play(*self.pool_demo(maps[-1][0], fm), run_time=1.6)
                self.play(FadeIn(g), run_time=0.6)
            else:
                self.play(TransformFromCopy(maps[-1][0].frame, fm.frame), FadeIn(g), run_time=1.0)
            self.wait(0.8)
            maps.append(g)
        self.result_maps = [m[0] for m in maps]  # the FeatureMaps left on screen, in order
        self.wait(1.2)

    def product_panel(self, patch, products, total, bias, cell, kern_group) -> Group:
        """[patch values, products, sum line], laid out under the kernel."""
        fs = SMALL_FONT_SIZE - (0 if patch.shape[0] <= 3 else 4)

        def grid(values: np.ndarray, title: str, color: str) -> Group:
            nums = Group(*[label(f"{v:.2f}", fs, color) for v in values.ravel()])
            for n in nums:
                n.scale_to_fit_width(min(n.width, cell * 1.25))
            nums.arrange_in_grid(rows=values.shape[0], buff=(0.18, 0.12))
            return Group(
                label(title, SMALL_FONT_SIZE, THEME.muted).next_to(nums, UP, buff=0.12), nums
            )

        xs = grid(patch, "patch x (normalised)", THEME.foreground)
        prods = grid(products, "w × x", HIGHLIGHT_COLOR)
        xs.next_to(kern_group, RIGHT, buff=0.5).align_to(kern_group, DOWN)
        prods.next_to(kern_group, DOWN, buff=0.45).align_to(kern_group, LEFT).shift(RIGHT * 0.5)
        line = label(
            f"Σ = {total:.2f}   + bias {bias:.2f}   = {total + bias:.2f}",
            FONT_SIZE,
            HIGHLIGHT_COLOR,
        )
        line.next_to(prods, DOWN, buff=0.3)
        return Group(xs, prods, line)

    def pool_demo(self, source: FeatureMap, target: FeatureMap) -> list:
        """A 2×2 block on ``source`` and its pooled pixel on ``target`` light up."""
        r, c = np.unravel_index(np.argmax(target.values), target.values.shape)
        return [
            Create(source.make_highlight(2 * r, 2 * c, 2)),
            Create(target.make_highlight(int(r), int(c), 1)),
        ]

    def after_conv_steps(self, trace: Trace, conv: LayerRecord, ch: int) -> list[tuple]:
        """(values, scale kind, title, caption) for batch norm, ReLU and max pooling."""
        steps = []
        current = conv.output[ch]
        bn = following(trace, conv, ("bn",))
        if bn is not None and bn.is_spatial:
            current = bn.output[ch]
            steps.append(
                (current, "bn", "batch norm", "Batch norm shifts and rescales this channel")
            )
        relu = following(trace, conv, ("relu",))
        if relu is not None and relu.is_spatial:
            current = relu.output[ch]
        else:
            current = np.maximum(current, 0)
        steps.append(
            (current, "relu", "ReLU", "ReLU keeps positive values and sets negatives to 0")
        )
        pool = next((r for r in trace.layers if r.kind == "pool"), None)
        kp = int(pool.params.get("kernel_size", [2, 2])[0]) if pool is not None else 2
        steps.append(
            (
                max_pool(current, kp),
                "pool",
                f"max pool {kp}×{kp}",
                f"Max pooling keeps the largest of each {kp}×{kp} block: half the size",
            )
        )
        return steps


__all__ = ["ConvolutionScene", "convolve", "first_conv", "max_pool", "patch_products"]

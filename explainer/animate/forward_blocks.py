"""The forward animation by blocks: a big network as its stem, blocks and head
(:mod:`explainer.tracing.blocks`), or one block opened to its records.

A block's picture shows what it reads (the maps of its input), the steps of its main path in
words, what it gives (its output's maps, revealed as the animation goes) and, for a residual
block, the skip: an arrow from the input round the steps to the addition, with what it carries
(the input itself, or a downsampling conv and norm).

:func:`view_stages` picks what a forward animation shows: every record of a small network,
the blocks of one of more than :data:`~explainer.tracing.blocks.BY_BLOCKS_FROM` records (fewer,
bigger steps when a requested length has no room for each), or one block's records.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from explainer import style
from explainer.analysis.flowgraph import is_output, output_meaning
from explainer.animate.canvas import LINE_SPACING, Sketch, wrap_text
from explainer.animate.forward_sheets import BODY_PT, TITLE_PT, header_lines, stage_sheets
from explainer.animate.forward_stages import Stage, record_stage, stages_of
from explainer.animate.shapes import shape_words
from explainer.errors import ExplainerError
from explainer.tracing.blocks import Block, blocks_of, view_of
from explainer.tracing.trace import INPUT, Trace

PANEL_PT = 9.0  # the reads / gives panels' titles (× the font scale: 20 px at 1280×720)
STEP_PT = 8.0  # the steps' words (× the font scale: 18 px at 1280×720)
SKIP_PT = 7.5  # what the skip carries (× the font scale: 17 px at 1280×720)
ROLE_WORDS = {
    "stem": "the first layers",
    "head": "to the class scores",
    "layers": "layers",
    "stage": "blocks",
}


def view_stages(
    trace: Trace, *, block: str | None = None, by_blocks: bool | None = None,
    most: int | None = None,
) -> tuple[list[Stage], str]:  # fmt: skip
    """The stages a forward animation shows and what they are, for the title (``""``: every
    record; ``"by blocks"``; ``"block layer2.0"``). ``by_blocks=None`` shows a network of
    more than :data:`~explainer.tracing.blocks.BY_BLOCKS_FROM` records by blocks; ``most``
    caps the number of blocks (siblings merged into stages first)."""
    view = view_of(trace, block=block, by_blocks=by_blocks, most=most)
    if view.opened is not None:
        return opened_stages(trace, view.opened), view.title
    if view.blocks is None:
        return stages_of(trace), view.title
    return [block_stage(trace, b) for b in view.blocks], view.title


def input_stage(trace: Trace, name: str, title: str = "") -> Stage:
    """The stage of what a block reads: a record's output or the model's input."""
    if name == INPUT:
        values = trace.model_input
        scale = style.scale_for(trace.image, "input")
        words = shape_words(tuple(trace.image.shape))
        return Stage(INPUT, "input", title or "input", f"{words} pixels", values, scale, "in")
    st = record_stage(trace.layer(name))
    return replace(st, title=title or st.title)


def block_stage(trace: Trace, b: Block) -> Stage:
    """One block as one stage: its output's values, its input, its steps and its skip."""
    out = trace.layer(b.output)
    after = record_stage(out, output_meaning(out) if is_output(trace, out) else "")
    after = replace(after, title=f"gives  ·  {b.output}")
    skipped = set(b.skip.through) if b.skip else set()
    main = [trace.layer(n) for n in b.records if n not in skipped]
    main = [r for r in main if r.kind != "dropout"] or main
    steps = ["add the skip" if b.skip and r.name == b.skip.join else r.description for r in main]
    skip = [trace.layer(n).description for n in b.skip.through] if b.skip else None
    what = "residual block" if b.skip else ROLE_WORDS.get(b.role, "block")
    what = "" if b.role == "stage" else f"{what}, "
    kind = next((r.kind for r in main if r.kind in ("conv", "linear", "attention")), out.kind)
    count = f"{len(b)} step{'s' if len(b) != 1 else ''}"
    if b.role == "stage":  # the blocks merged into it, one line each
        inner = [x for x in blocks_of(trace) if set(x.records) <= set(b.records)]
        steps = [f"{x.name} (residual)" if x.skip else x.name for x in inner]
        count = f"{len(inner)} blocks"
    before = input_stage(trace, b.input, f"reads  ·  {b.input}")
    before.subtitle = before.subtitle.removeprefix("output ")
    reads = shape_words(tuple(np.shape(trace.value(b.input))))
    gives = shape_words(tuple(np.shape(out.output)))
    return Stage(
        b.name, kind, f"{b.name}  ·  {what}{count}", f"reads {reads}, gives {gives}",
        after.values, after.scale, b.name, after.output, after.note,
        before=before, after=after, steps=steps, skip=skip,
    )  # fmt: skip


def opened_stages(trace: Trace, b: Block) -> list[Stage]:
    """One block's records, after the input it reads; the records on its skip say so."""
    first = input_stage(trace, b.input, f"{b.input}  ·  the input of {b.name}")
    first.chip = "in"
    by_name = {s.name: s for s in stages_of(trace)}
    through = set(b.skip.through) if b.skip else set()
    stages = [first]
    for name in b.records:
        if name in by_name:
            st = by_name[name]
            stages.append(replace(st, title=f"skip  ·  {st.title}") if name in through else st)
    if len(stages) == 1:
        raise ExplainerError(f"block {b.name!r} has no layer to show")
    return stages


# --- the picture of one block -------------------------------------------------------------


def block_sheets(
    stage: Stage, size: tuple[int, int], theme: str, class_names: list[str], k: float = 1.0
) -> tuple[np.ndarray, np.ndarray, list]:
    """``(empty, done, reveal_boxes)`` of the centre region for a block stage: the input's
    maps on the left, the steps in the middle (the skip under them), the output's on the
    right (revealed)."""
    w, h = size
    sk = Sketch(size, theme)
    t = sk.theme
    title, sub, top = header_lines(stage, w - 4, k, TITLE_PT * k, stage.subtitle)
    sk.fitted(0, 10 * k, title[0], TITLE_PT * k, w - 4, bold=True)
    y_sub = 10 * k + 0.6 * LINE_SPACING * (TITLE_PT + BODY_PT) * k * 100 / 72
    for i, line in enumerate(sub):
        sk.fitted(0, y_sub + i * LINE_SPACING * BODY_PT * k * 100 / 72, line, BODY_PT * k, w - 4,
                  color=t.muted)  # fmt: skip
    w_in, w_steps = int(w * 0.27), int(w * 0.25)
    x_out = w_in + w_steps
    skip = _skip_lines(stage, x_out - w_in * 0.35 - 18 * k, k)
    lane = int((30 + SKIP_PT * LINE_SPACING * 100 / 72 * (len(skip) - 1)) * k) if skip else 0
    panel = PANEL_PT * k
    in_size = (w_in, max(20, h - top - lane))
    _, d_in, _ = stage_sheets(stage.before, in_size, theme, class_names, k, panel)
    e_out, d_out, units = stage_sheets(stage.after, (w - x_out, h - top), theme, class_names, k,
                                       panel)  # fmt: skip
    empty = sk.array()
    empty[top : top + in_size[1], :w_in] = d_in
    empty[top:, x_out:] = e_out
    done = empty.copy()
    done[top:, x_out:] = d_out
    geometry = (top, lane, w_in, x_out, in_size[1])
    empty, done = (_steps(a, stage, geometry, theme, k) for a in (empty, done))
    units = [(b[0] + top, b[1] + top, b[2] + x_out, b[3] + x_out) for b in units]
    return empty, done, units


def _steps(rgb: np.ndarray, stage: Stage, geometry: tuple, theme: str, k: float) -> np.ndarray:
    """The steps of the main path in a box between the panels, arrows in and out, and the
    skip lane under it."""
    top, lane, w_in, x_out, in_h = geometry
    sk = Sketch.on(rgb, theme)
    t = sk.theme
    h = rgb.shape[0]
    pad = 6 * k
    x0, x1 = w_in + 8 * k, x_out - 8 * k
    pt = STEP_PT * k
    line_h = LINE_SPACING * pt * 100 / 72
    rows = _step_rows(stage.steps, pt, x1 - x0 - 8 * k, int((in_h - 44 * k - 2 * pad) // line_h))
    box_h = line_h * len(rows) + 2 * pad
    mid = top + 44 * k + (in_h - 44 * k) / 2
    y0 = mid - box_h / 2
    sk.draw.rounded_rectangle((x0, y0, x1, y0 + box_h), radius=int(4 * k), fill=t.panel,
                              outline=t.muted)  # fmt: skip
    for i, (text, bold) in enumerate(rows):
        sk.fitted((x0 + x1) / 2, y0 + pad + line_h * (i + 0.5), text, pt, x1 - x0 - 6,
                  bold=bold, anchor="mm")  # fmt: skip
    _arrow(sk, [(w_in + 1, mid), (x0 - 1, mid)], k)  # right of the panel's colour bar numbers
    _arrow(sk, [(x1 + 1, mid), (x_out + 2 * k, mid)], k)
    if stage.skip is not None:
        y_lane = h - lane * 0.3
        xs = w_in * 0.35
        cx = (x0 + x1) / 2
        path = [(xs, top + in_h - 4 * k), (xs, y_lane), (cx, y_lane), (cx, y0 + box_h + 1)]
        _arrow(sk, path, k, colour=style.KIND_COLORS["add"])
        lines = _skip_lines(stage, x_out - xs - 18 * k, k)
        step = LINE_SPACING * SKIP_PT * k * 100 / 72
        for i, line in enumerate(lines):
            y = y_lane - 9 * k - step * (len(lines) - 1 - i)
            sk.fitted(xs + 6 * k, y, line, SKIP_PT * k, x_out - xs - 12 * k, color=t.foreground)
    return sk.array()


def _skip_lines(stage: Stage, width: float, k: float) -> list[str]:
    """What the skip carries in words, wrapped onto up to two lines (none: no skip)."""
    if stage.skip is None:
        return []
    words = " + ".join(stage.skip) if stage.skip else "the input itself"
    return wrap_text(f"skip: {words}", SKIP_PT * k, width, 2)


def _step_rows(steps: list[str], pt: float, width: float, room: int) -> list[tuple[str, bool]]:
    """The steps' lines ``(text, bold)``, each step word-wrapped onto up to three lines of
    ``width`` pixels, as many steps as ``room`` lines hold (:func:`_fitting`)."""
    for keep in range(max(3, room), 2, -1):
        rows = [(line, s == "add the skip") for s in _fitting(steps, keep)
                for line in wrap_text(s, pt, width, 3, s == "add the skip")]  # fmt: skip
        if len(rows) <= max(3, room):
            return rows
    return [(s, s == "add the skip") for s in _fitting(steps, 3)]


def _fitting(steps: list[str], room: int) -> list[str]:
    """``steps`` cut to ``room`` lines: the first ones, a count of those left out, the last."""
    room = max(3, room)
    if len(steps) <= room:
        return steps
    keep = room - 2
    return [*steps[:keep], f"… {len(steps) - keep - 1} more …", steps[-1]]


def _arrow(sk: Sketch, pts: list, k: float, colour: str | None = None) -> None:
    colour = colour or sk.theme.muted
    sk.line(pts, color=colour, width=max(1, round(1.2 * k)))
    (xa, ya), (xb, yb) = pts[-2], pts[-1]
    d = max(1e-6, float(np.hypot(xb - xa, yb - ya)))
    ux, uy = (xb - xa) / d, (yb - ya) / d
    back = (xb - 6 * k * ux, yb - 6 * k * uy)
    sk.draw.polygon([(xb, yb), (back[0] - 3.5 * k * uy, back[1] + 3.5 * k * ux),
                     (back[0] + 3.5 * k * uy, back[1] - 3.5 * k * ux)], fill=colour)  # fmt: skip

"""The centre of a forward frame for one stage, drawn twice: empty (panels waiting) and done
(every channel map, the vector's tile rows or the class rows painted), with the boxes the
animation reveals one batch at a time.
"""

from __future__ import annotations

import numpy as np

from explainer import style
from explainer.analysis.arith import MINUS, fmt
from explainer.animate.canvas import (
    LINE_SPACING,
    Sketch,
    as_tiles,
    blit,
    colorbar_room,
    colorize_tiles,
    grid_boxes,
    text_width,
    wrap_text,
)
from explainer.animate.forward_stages import Stage
from explainer.animate.reel import Box


def class_rows(
    sk: Sketch, stage: Stage, grid: Box, names: list[str], k: float
) -> tuple[list[Box], list[np.ndarray]]:
    """The output record as one row per class: name, a colour cell, the value."""
    y0, y1, x0, x1 = grid
    n = len(names)
    row = max(4, min((y1 - y0) // n, int(30 * k)))
    pt = min(8.5 * k, row * 0.55 * 72 / 100)
    name_w = max(text_width(s, pt) for s in names) + 6
    cell_w = max(row, min(int((x1 - x0) * 0.35), int(110 * k)))
    top = y0 + ((y1 - y0) - row * n) // 2
    cx0 = int(x0 + min(name_w, (x1 - x0) * 0.45))
    boxes, pictures = [], []
    for i, (name, v) in enumerate(zip(names, stage.values, strict=True)):
        b = (top + i * row + 1, top + (i + 1) * row - 1, cx0, cx0 + cell_w)
        boxes.append(b)
        pictures.append(np.broadcast_to(style.colorize(v, stage.scale), (1, 1, 3)).copy())
        mid = (b[0] + b[1]) / 2
        sk.fitted(cx0 - 6, mid, name, pt, cx0 - 6 - x0, anchor="rm")
        sk.text(cx0 + cell_w + 6, mid, fmt(float(v), 2), pt, color=sk.theme.muted)
    return boxes, pictures


def _one_cell(sk: Sketch, value: float, grid: Box, k: float) -> Box:
    """The box of a record of one value, centred in ``grid``, with the value written under it
    in large type."""
    side = max(8, min(int(48 * k), (grid[1] - grid[0]) // 3))
    cy, cx = (grid[0] + grid[1]) // 2, (grid[2] + grid[3]) // 2
    box = (cy - side, cy, cx - side // 2, cx - side // 2 + side)
    text = f"{value:.4g}".replace("-", MINUS)
    sk.fitted(cx, cy + 10 * k, text, 16 * k, grid[3] - grid[2], bold=True, anchor="mt")
    return box


def channels_that_fit(n: int, cell: tuple[int, int], area: Box, gap: int) -> int:
    """How many of ``n`` maps of ``cell`` pixels fit in ``area`` at 1 pixel per value."""
    ah, aw = area[1] - area[0], area[3] - area[2]
    cols = max(1, (aw + gap) // (cell[1] + gap))
    rows = max(1, (ah + gap) // (cell[0] + gap))
    return max(1, min(n, cols * rows))


TITLE_PT = 11.0  # a stage's title (× the font scale: 24 px at 1280×720)
BODY_PT = 8.5  # its subtitle (× the font scale: 19 px at 1280×720)
TICK_PT = 7.5  # colour-bar numbers (× the font scale: 17 px at 1280×720)


def header_lines(stage: Stage, w: int, k: float, title_pt: float, subtitle: str) -> tuple:
    """``(title lines, subtitle lines, grid top)``: the title (one line; a panel's, smaller
    than :data:`TITLE_PT`: up to two) and the subtitle (two lines; a panel's: three)
    word-wrapped to ``w`` pixels."""
    panel = title_pt < TITLE_PT * k
    title = wrap_text(stage.title, title_pt, w, 2 if panel else 1, True)
    sub = wrap_text(subtitle, BODY_PT * k, w, 3 if panel else 2)
    step_t, step_s = LINE_SPACING * title_pt * 100 / 72, LINE_SPACING * BODY_PT * k * 100 / 72
    top = 10 * k + step_t * (len(title) - 1) + step_t * 0.6 + step_s * (len(sub) - 0.4) + 12 * k
    return title, sub, int(top)


def stage_sheets(
    stage: Stage, size: tuple[int, int], theme: str, class_names: list[str], k: float = 1.0,
    title_pt: float | None = None,
) -> tuple[np.ndarray, np.ndarray, list[Box]]:  # fmt: skip
    """``(empty, done, reveal_boxes)`` pictures of the centre region for one stage; its title
    at ``title_pt`` points (default :data:`TITLE_PT` × ``k``; smaller: a panel's, on up to two
    lines), the subtitle wrapped onto two lines (a panel's: three), the colour bar's numbers
    given room."""
    w, h = size
    title_pt = TITLE_PT * k if title_pt is None else title_pt
    u = min(w / 440, h / 340)
    sk = Sketch(size, theme)
    t = sk.theme
    cb_w = int(11 * u)
    text_w = w - 4
    room = colorbar_room(stage.scale, TICK_PT * k)
    subtitle = stage.subtitle
    for _ in range(2):  # a small frame: say how many maps are shown rather than draw past it
        title, sub, top = header_lines(stage, text_w, k, title_pt, subtitle)
        grid = (top, h - int(6 * k), 0, int(w - cb_w - room - 6 * k))
        if stage.spatial:
            ch, hh, ww = stage.values.shape
            n = channels_that_fit(ch, (hh, ww), grid, 2 if ch > 16 else 4)
            if n < ch:
                subtitle = f"{stage.subtitle}; the first {n} shown"
    step_t, step_s = LINE_SPACING * title_pt * 100 / 72, LINE_SPACING * BODY_PT * k * 100 / 72
    for i, line in enumerate(title):
        sk.fitted(0, 10 * k + i * step_t, line, title_pt, text_w, bold=True)
    y_sub = 10 * k + step_t * (len(title) - 1) + step_t * 0.6 + step_s * 0.6
    for i, line in enumerate(sub):
        sk.fitted(0, y_sub + i * step_s, line, BODY_PT * k, text_w, color=t.muted)
    cb = (grid[0] + int(10 * u), grid[1] - int(10 * u), int(w - room - cb_w), int(w - room))
    sk.colorbar(cb, stage.scale, pt=TICK_PT * k)
    labelled = bool(stage.output) and stage.values.size == len(class_names) <= 20
    if stage.spatial:
        ch, hh, ww = stage.values.shape
        gap = 2 if ch > 16 else 4
        n = channels_that_fit(ch, (hh, ww), grid, gap)
        boxes = grid_boxes(n, (hh, ww), grid, gap=gap)
        pictures = [style.colorize(v, stage.scale) for v in stage.values[:n]]
        units = boxes
    elif labelled:
        area = (grid[0] + int(4 * k), grid[1] - int(22 * k), grid[2], grid[3])
        boxes, pictures = class_rows(sk, stage, area, class_names, k)
        units = boxes
        sk.fitted((grid[2] + grid[3]) / 2, grid[1] - 10 * k, stage.output, 8 * k,
                  grid[3] - grid[2], color=t.muted, anchor="mm")  # fmt: skip
    elif stage.values.size == 1:  # one value per image (x.amax(), x.mean()): a cell, the number
        boxes = units = [_one_cell(sk, float(stage.values[0]), grid, k)]
        pictures = [style.colorize(stage.values.reshape(1, 1), stage.scale)]
    else:
        tiles = as_tiles(stage.values)
        note = stage.note or stage.output
        if note:
            grid = (grid[0], grid[1] - int(30 * k), grid[2], grid[3])
        boxes = grid_boxes(1, tiles.shape, grid)
        pictures = [colorize_tiles(tiles, stage.scale, style.hex_to_rgb(t.panel))]
        y0, y1, x0, x1 = boxes[0]
        cell = (y1 - y0) // tiles.shape[0]
        units = [(y0 + r * cell, y0 + (r + 1) * cell, x0, x1) for r in range(tiles.shape[0])]
        if note:
            sk.fitted((grid[2] + grid[3]) / 2, y1 + 16 * k, note, 8 * k, grid[3] - grid[2],
                      color=t.muted, anchor="mt")  # fmt: skip
    for b in boxes:
        sk.box(b)
    empty = sk.array()
    done = empty.copy()
    panel = style.hex_to_rgb(t.panel)
    for b, pic in zip(boxes, pictures, strict=True):
        empty[b[0] : b[1], b[2] : b[3]] = panel
        if pic.shape[:2] == (1, 1):
            done[b[0] : b[1], b[2] : b[3]] = pic[0, 0]
        else:
            blit(done, b, pic)
    return empty, done, units

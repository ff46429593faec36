"""What happens to a conv output next: the records that follow it, on a block of its map.

:func:`path_after`: batch norm, the activation, dropout, up to the first pooling;
:func:`pool_aligned_block`: a block on that pooling's grid with negative values where there are
any; :func:`next_block`: the block followed through every step, each checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from explainer.analysis.arith.conv import conv_cell
from explainer.analysis.arith.norm_act import activation_map, norm_cell
from explainer.analysis.arith.pooling import pool_cell
from explainer.analysis.arith.verify import ArithMismatch, check_block, record_of
from explainer.errors import ExplainerError
from explainer.tracing.trace import LayerRecord, Trace


def path_after(trace: Trace, layer: LayerRecord | str) -> list[LayerRecord]:
    """The records that actually follow ``layer`` on its single path: batch norm, the
    activation, dropout, up to and including the first pooling (stops at the next conv,
    dense layer, addition or anything a layer does not do alone)."""
    name = layer if isinstance(layer, str) else layer.name
    path: list[LayerRecord] = []
    while True:
        nxt = trace.consumers(name)
        if len(nxt) != 1 or nxt[0].kind not in ("bn", "relu", "pool", "dropout"):
            return path
        if len(nxt[0].inputs) != 1 or nxt[0].shape[:1] != trace.value(name).shape[:1]:
            return path
        path.append(nxt[0])
        if nxt[0].kind == "pool":
            return path
        name = nxt[0].name


def pool_aligned_block(trace: Trace, layer: LayerRecord | str, channel: int, size: int = 4,
                       pool: LayerRecord | None = None) -> tuple[int, int]:  # fmt: skip
    """Top-left ``(y, x)`` of a ``size``×``size`` block of ``layer``'s output map that sits
    on ``pool``'s grid (its windows do not straddle the block's edges) and holds both
    negative and positive values where it can, so an activation visibly does something.
    Among such blocks, the one with the largest spread of values."""
    rec = trace.layer(layer) if isinstance(layer, str) else layer
    fmap = rec.output[channel]
    step = 1
    if pool is not None and not pool.params.get("adaptive"):
        step = int(pool.params["stride"][0])
        offset = -int(pool.params["padding"][0]) % step
    else:
        offset = 0
    best, best_score = (offset, offset), -1.0
    for y in range(offset, fmap.shape[0] - size + 1, step):
        for x in range(offset, fmap.shape[1] - size + 1, step):
            block = fmap[y : y + size, x : x + size]
            mixed = block.min() < 0 < block.max()
            score = float(block.max() - block.min()) + (1e6 if mixed else 0.0)
            if score > best_score:
                best, best_score = (y, x), score
    return best


@dataclass
class Step:
    """One record of the path after a conv layer, on the block: ``values`` are its output
    there (for pooling: the pooled cells whose windows lie inside the block), ``top_left``
    where they sit in its output map; ``cells`` the worked cells (norm or pool)."""

    record: LayerRecord
    values: np.ndarray
    top_left: tuple[int, int]
    cells: list = field(default_factory=list)


@dataclass
class NextBlock:
    """A ``size``×``size`` block of one conv output channel and what the records after the
    layer (:func:`path_after`) do to it, each step checked against the network. ``rest``:
    records on the path this project does not work out by hand; ``then``: what reads the
    result."""

    layer: str
    channel: int
    y: int
    x: int
    before: np.ndarray
    steps: list[Step]
    rest: list[LayerRecord]
    then: list[LayerRecord]


def _pool_step(trace: Trace, rec: LayerRecord, channel: int, y: int, x: int, size: int) -> Step:
    (kh, kw), (sy, sx), (py, px) = (rec.params[k] for k in ("kernel_size", "stride", "padding"))
    iys = [
        i for i in range(rec.output.shape[1]) if y <= i * sy - py and i * sy - py + kh <= y + size
    ]
    ixs = [
        j for j in range(rec.output.shape[2]) if x <= j * sx - px and j * sx - px + kw <= x + size
    ]
    cells = [[pool_cell(trace, rec, channel, i, j) for j in ixs] for i in iys]
    values = np.array([[c.value for c in row] for row in cells]).reshape(len(iys), len(ixs))
    top_left = (iys[0], ixs[0]) if iys and ixs else (0, 0)
    return Step(rec, values, top_left, [c for row in cells for c in row])


def _step(trace: Trace, rec: LayerRecord, current: np.ndarray, ch: int, y: int, x: int) -> Step:
    h, w = current.shape
    index = (ch, slice(y, y + h), slice(x, x + w))
    if rec.kind == "bn":
        cells = [norm_cell(trace, rec, (ch, y + i, x + j)) for i in range(h) for j in range(w)]
        values = np.array([c.value for c in cells]).reshape(h, w)
    elif rec.kind == "relu":
        values, cells = activation_map(trace, rec, current), []
    else:  # dropout: the identity at test time
        values, cells = current.copy(), []
    check_block(rec, values, index)
    return Step(rec, values, (y, x), cells)


def next_block(trace: Trace, layer: LayerRecord | str, channel: int, size: int = 4) -> NextBlock:
    """The block of ``layer``'s output channel ``channel`` that the "what happens next" panels
    follow through the real path: on the pooling's grid, with negative values entering the
    activation where there are any; every value checked (conv cells, batch norm from running
    statistics, the activation used, the pooling used)."""
    rec = record_of(trace, layer, ("conv",))
    path = path_after(trace, rec)
    pool = next((r for r in path if r.kind == "pool"), None)
    acts = [i for i, r in enumerate(path) if r.kind == "relu"]
    pick = path[acts[0] - 1] if acts and acts[0] > 0 else rec
    size = min(size, *rec.output.shape[1:])
    y, x = pool_aligned_block(trace, pick, channel, size, pool)
    before = np.array([[conv_cell(trace, rec, channel, y + i, x + j).value for j in range(size)]
                       for i in range(size)])  # fmt: skip
    steps: list[Step] = []
    current = before
    for i, r in enumerate(path):
        try:
            if r.kind == "pool":
                step = _pool_step(trace, r, channel, y, x, size)
                if step.values.size == 0:
                    raise ExplainerError(f"{r.name}: no pooling window inside the block")
            else:
                step = _step(trace, r, current, channel, y, x)
        except ArithMismatch:
            raise
        except ExplainerError:
            return NextBlock(rec.name, channel, y, x, before, steps, path[i:], [])
        steps.append(step)
        current = step.values
    last = path[-1].name if path else rec.name
    return NextBlock(rec.name, channel, y, x, before, steps, [], trace.consumers(last))

"""A network by blocks: the records of a Trace grouped as its module tree groups them.

Every record knows the module it ran in (:attr:`LayerRecord.module`). :func:`blocks_of`
walks that tree: a module whose ``forward`` does work of its own (ResNet's ``out += identity``,
an attention's reshapes), whose children are all single layers, or that holds at most
:data:`LONGEST_BLOCK` records is one :class:`Block`; a bigger container of blocks
(``nn.Sequential`` ``layer1``) is opened to them. Single layers
before the first block form the ``stem``, those after the last the ``head``, those between
two blocks one run. torchvision's ResNet-18 reads: stem, ``layer1.0`` ... ``layer4.1`` (eight
residual blocks), head.

A block knows its input (the record it reads from outside), its output (its last record) and,
when one of its additions joins the block's input to its own result, the :class:`Skip`: where
the shortcut starts, the records on it (a downsampling conv and norm, or none) and the
addition where it meets the main path.

Example:

>>> from explainer import capture, load_checkpoint, load_sample
>>> trace = capture(load_checkpoint("mnist_fast_cnn").model, load_sample().floats()[0, 0])
>>> [b.name for b in blocks_of(trace)][:2]
['stem', 'block1']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from explainer.errors import ExplainerError

if TYPE_CHECKING:
    from explainer.tracing.trace import LayerRecord, Trace

BY_BLOCKS_FROM = 24  # views show a network of more drawn records than this by blocks
UNDRAWN = ("dropout", "normalize")  # records the views do not draw (off at test time, input)
LONGEST_BLOCK = 12  # a block of more single layers is cut before its convs and dense layers


@dataclass(frozen=True)
class Skip:
    """A residual shortcut: from ``source`` (the block's input) through the records in
    ``through`` (none for an identity shortcut) to the addition ``join``."""

    source: str
    through: tuple[str, ...]
    join: str


@dataclass(frozen=True)
class Block:
    """Consecutive records shown as one step.

    ``name`` is the module path (``"layer2.0"``), ``"stem"``, ``"head"`` or, for a run of
    single layers between blocks, ``"first…last"``. ``role`` is ``"block"`` (a module),
    ``"stem"``, ``"head"``, ``"layers"`` (a run of single layers) or ``"stage"`` (several
    blocks merged by :func:`blocks_of`'s ``most``). ``input`` names the record it reads
    (``"input"``: the model's input), ``output`` its last record."""

    name: str
    records: tuple[str, ...]
    input: str
    output: str
    role: str = "block"
    module: str = ""
    skip: Skip | None = None

    @property
    def residual(self) -> bool:
        return self.skip is not None

    def __len__(self) -> int:
        return len(self.records)


def by_blocks(trace: Trace) -> bool:
    """Whether views show ``trace`` by blocks by default: more than :data:`BY_BLOCKS_FROM`
    records they draw (about twenty: the project's own ``bn_cnn`` is still drawn layer by
    layer, torchvision's ResNet-18 by blocks), and fewer blocks than records."""
    drawn = sum(r.kind not in UNDRAWN for r in trace.layers)
    return drawn > BY_BLOCKS_FROM and len(blocks_of(trace)) < len(trace.layers)


_by_default = by_blocks  # view_of's own argument is called by_blocks


def blocks_of(trace: Trace, *, most: int | None = None) -> list[Block]:
    """The blocks of ``trace`` in the order they ran (see the module docstring); every record
    is in exactly one. With ``most``, blocks of one parent module are merged into a stage
    (``layer1.0`` + ``layer1.1`` → ``layer1``) unless that leaves fewer than half of
    ``most``, then neighbours evenly, until at most ``most`` remain."""
    items = _split("", list(trace.layers))
    blocks = _named(_runs(items))
    if most is not None:
        blocks = _coarser(blocks, max(1, most))
    return blocks


def block_named(trace: Trace, name: str) -> Block:
    """The block called ``name`` (a name :func:`blocks_of` gives), or a one-line error that
    lists them."""
    blocks = blocks_of(trace)
    for b in blocks:
        if b.name == name:
            return b
    raise ExplainerError(
        f"no block {name!r} in this network; its blocks are: {', '.join(b.name for b in blocks)}"
    )


@dataclass(frozen=True)
class View:
    """Which way a picture shows a network: ``opened``, one block opened to its records; else
    ``blocks``, block by block; else (both None) every record. ``title`` says which, for a
    picture's title: ``"block layer2.0"``, ``"by blocks"`` or ``""``."""

    title: str = ""
    opened: Block | None = None
    blocks: tuple[Block, ...] | None = None


def view_of(
    trace: Trace, *, block: str | None = None, by_blocks: bool | None = None,
    most: int | None = None,
) -> View:  # fmt: skip
    """How the forward and data-flow pictures show ``trace``: ``block`` opens that block (a
    wrong name is a one-line error listing them); ``by_blocks`` forces blocks (True) or every
    record (False); left None, a network of more than :data:`BY_BLOCKS_FROM` drawn records is
    shown by blocks (:func:`by_blocks`). ``most`` caps the number of blocks."""
    if block is not None:
        return View(f"block {block}", opened=block_named(trace, block))
    if not (_by_default(trace) if by_blocks is None else by_blocks):
        return View()
    return View("by blocks", blocks=tuple(blocks_of(trace, most=most)))


def block_of_record(blocks: list[Block], record: str) -> Block:
    """The block holding ``record``."""
    for b in blocks:
        if record in b.records:
            return b
    raise ExplainerError(f"no block holds record {record!r}")


# --- the tree walk ------------------------------------------------------------------------

_Item = tuple[str, list["LayerRecord"], bool]  # (module path, records, is a block)


def _child(path: str, record: LayerRecord) -> str | None:
    """The child of module ``path`` that ``record`` ran in (``None``: in ``path`` itself)."""
    module = record.module
    if module == path:
        return None
    rest = module[len(path) + 1 :] if path else module
    head = rest.split(".")[0]
    return f"{path}.{head}" if path else head


def _consecutive(path: str, records: list[LayerRecord]) -> list[tuple[str | None, list]]:
    runs: list[tuple[str | None, list]] = []
    for r in records:
        key = _child(path, r)
        if runs and key is not None and runs[-1][0] == key:
            runs[-1][1].append(r)
        else:
            runs.append((key, [r]))
    return runs


def _split(path: str, records: list[LayerRecord]) -> list[_Item]:
    """The items under module ``path``: single records, blocks, and the items of containers."""
    items: list[_Item] = []
    for key, rs in _consecutive(path, records):
        if key is None or len(rs) == 1:
            items.append((rs[0].module if key is None else key, rs, False))
        elif _is_block(key, rs):
            items.extend(_long_block(key, rs))
        elif len(rs) <= LONGEST_BLOCK:  # a small container (MobileNet's block without a skip)
            items.append((key, rs, True))
        else:
            items.extend(_split(key, rs))
    return items


def _is_block(path: str, records: list[LayerRecord]) -> bool:
    """A module whose forward works itself, or whose children are each one record."""
    runs = _consecutive(path, records)
    return any(key is None for key, _ in runs) or all(len(rs) == 1 for _, rs in runs)


def _long_block(path: str, records: list[LayerRecord]) -> list[_Item]:
    """A block as it is, unless it is a long ``nn.Sequential`` of single layers (more than
    :data:`LONGEST_BLOCK`, none of its own): that one is cut before each conv or dense layer."""
    own = any(r.module == path for r in records)
    if len(records) <= LONGEST_BLOCK or own:
        return [(path, records, True)]
    return [(path, piece, True) for piece in _cut(records)]


def _cut(records: list[LayerRecord]) -> list[list[LayerRecord]]:
    pieces: list[list[LayerRecord]] = []
    for r in records:
        starts = r.kind in ("conv", "linear", "attention") and pieces and len(pieces[-1]) > 1
        if not pieces or starts or len(pieces[-1]) >= LONGEST_BLOCK:
            pieces.append([r])
        else:
            pieces[-1].append(r)
    return pieces


def _last(blocks: list[Block]) -> str:
    return blocks[-1].output if blocks else "input"


def _runs(items: list[_Item]) -> list[Block]:
    """Blocks for block items; runs of single records merged into stem, head or a run."""
    blocks: list[Block] = []
    pending: list[LayerRecord] = []
    seen_block = False

    def flush(role: str) -> None:
        nonlocal pending
        for piece in _cut(pending) if len(pending) > LONGEST_BLOCK else [pending]:
            if piece:
                blocks.append(_block("", piece, role, _last(blocks)))
        pending = []

    for path, rs, is_block in items:
        if not is_block:
            pending.extend(rs)
            continue
        flush("layers" if seen_block else "stem")
        blocks.append(_block(path, rs, "block", _last(blocks)))
        seen_block = True
    flush("head" if seen_block else "layers")
    return blocks


def _block(path: str, records: list[LayerRecord], role: str, previous: str) -> Block:
    """``previous``: the last record before the block, its input when the block reads it."""
    names = tuple(r.name for r in records)
    inside = set(names)
    outside = [i for r in records for i in r.inputs if i not in inside]
    source = previous if previous in outside else next(iter(outside), "input")
    skip = _skip(records, source, inside) if role == "block" else None
    return Block(path, names, source, names[-1], role, path, skip)


def _skip(records: list[LayerRecord], source: str, inside: set[str]) -> Skip | None:
    """The shortcut of the first addition whose inputs both come from the block's input."""
    by_name = {r.name: r for r in records}

    def upstream(name: str) -> set[str]:
        """The records of the block that ``name`` depends on, itself included."""
        seen, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n in inside and n not in seen:
                seen.add(n)
                todo.extend(by_name[n].inputs)
        return seen

    def reaches(name: str) -> bool:
        return name == source or any(source in by_name[n].inputs for n in upstream(name))

    for r in records:
        if r.kind != "add" or len(r.inputs) < 2 or r.params.get("function") == "sub":
            continue
        if not all(reaches(i) for i in r.inputs[:2]):
            continue
        short = min(r.inputs[:2], key=lambda i: len(upstream(i)))
        through = upstream(short)
        return Skip(source, tuple(n for n in by_name if n in through), r.name)
    return None


def _named(blocks: list[Block]) -> list[Block]:
    """Runs named after their first and last records; a name given twice gets ``#2``."""
    out, counts = [], {}
    for b in blocks:
        name = b.name
        if b.role == "layers":
            name = b.records[0] if len(b) == 1 else f"{b.records[0]}…{b.records[-1]}"
        elif b.role in ("stem", "head"):
            name = b.role
        counts[name] = counts.get(name, 0) + 1
        out.append(replace(b, name=name if counts[name] == 1 else f"{name}#{counts[name]}"))
    return out


# --- fewer, bigger steps ------------------------------------------------------------------


def _coarser(blocks: list[Block], most: int) -> list[Block]:
    while len(blocks) > most:
        merged = _merge_siblings(blocks)
        if len(merged) == len(blocks) or len(merged) < most // 2:  # not all 19 in one
            break
        blocks = merged
    if len(blocks) > most:
        size = math.ceil(len(blocks) / most)
        blocks = [_merge(blocks[i : i + size]) for i in range(0, len(blocks), size)]
    return blocks


def _parent(b: Block) -> str:
    return b.module.rpartition(".")[0] if b.role == "block" and b.module else ""


def _merge_siblings(blocks: list[Block]) -> list[Block]:
    """Consecutive blocks of one parent module (one level up the tree) as one stage."""
    depth = max((b.module.count(".") for b in blocks if _parent(b)), default=-1)
    out: list[list[Block]] = []
    for b in blocks:
        parent = _parent(b) if b.module.count(".") == depth else None
        if (
            out
            and parent
            and _parent(out[-1][-1]) == parent
            and out[-1][-1].module.count(".") == depth
        ):
            out[-1].append(b)
        else:
            out.append([b])
    return [g[0] if len(g) == 1 else _merge(g, _parent(g[0])) for g in out]


def _span(first: str, last: str) -> str:
    """``"features.8–9"`` for neighbours of one parent, else ``"layer1.1…layer2.0"``."""
    head, _, a = first.rpartition(".")
    other, _, b = last.rpartition(".")
    return (
        f"{first}–{b}"
        if head and head == other and a.isdigit() and b.isdigit()
        else (f"{first}…{last}")
    )


def _merge(group: list[Block], module: str = "") -> Block:
    if len(group) == 1:
        return group[0]
    records = tuple(n for b in group for n in b.records)
    name = module or _span(group[0].name, group[-1].name)
    return Block(name, records, group[0].input, group[-1].output, "stage", module)

"""``make reports``: compute once what the app and the renders need from each shipped model and
its full test set, and store it beside the checkpoints in ``models/reports/<sha256>/``.

For every shipped checkpoint (``models/*.pt``, resume files excluded) and its epoch snapshots:
the test-set evaluation (Mistakes, Training, the mistakes and training renders); for the
shipped checkpoint also everything Inside the filters shows: the top-activating digits of
every conv layer (stored as positions in the test set, a few kB a layer) and the PCA and
t-SNE maps (the points only, not the feature vectors). Mostly the evaluations' logits: about
0.4 MB per checkpoint, under 6 MB in all, so the wheel stays under its 25 MB.

Each result is computed by the same function the app calls (:mod:`explainer.analysis.results`),
through a cache that writes report keys into the reports folder, so the app finds it by the
same key. Folders of checkpoints that are no longer shipped are removed. Needs the official
test sets (``EXPLAINER_DATA_DIR``): a report of the bundled sample would never be read by an
app that has the full set.

    python scripts/make_reports.py [--model NAME ...]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from explainer.analysis import cache, results
from explainer.analysis.snapshots import snapshot_paths
from explainer.app.warmup import EMBED_MAX, METHODS, TOP_K, eval_arrays, filter_page_layers
from explainer.data import find_data_dir
from explainer.errors import ExplainerError
from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint, shipped_checkpoints


def report_model(path: Path, writer: cache.ResultCache) -> list[str]:
    """Write the reports of the checkpoint at ``path`` and its snapshots; their sha256s."""
    ckpt = load_checkpoint(path)
    if find_data_dir(ckpt.dataset) is None:
        raise ExplainerError(
            f"the official {ckpt.dataset} test set is not on disk: set EXPLAINER_DATA_DIR "
            "(or run `explainer data`) before `make reports`"
        )
    results.evaluation(ckpt, cache=writer)
    images, labels = eval_arrays(ckpt.dataset)
    for layer in filter_page_layers(ckpt):
        results.top_activating(ckpt, images, layer, k=TOP_K, labels=labels, cache=writer)
    for method in METHODS:
        results.embedding(ckpt, images, labels, method, EMBED_MAX, cache=writer)
    shas = [ckpt.sha256]
    for snap in snapshot_paths(ckpt, final=False, strict=False):
        snapshot = load_checkpoint(snap)
        results.evaluation(snapshot, cache=writer)
        shas.append(snapshot.sha256)
    return shas


def prune(root: Path, keep: set[Path]) -> list[Path]:
    """Remove what ``root`` holds besides the files in ``keep`` (reports of checkpoints no
    longer shipped, of other versions, or left out by this run); what was removed."""
    gone = [p for p in root.glob("*/*") if p not in keep]
    gone += [d for d in root.iterdir() if d.is_dir() and d not in {p.parent for p in keep}]
    for path in gone:
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return gone


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", default=[], help="only this shipped model")
    args = ap.parse_args(argv)
    root = cache.reports_dir()
    writer = cache.ResultCache(root, writes_reports=True)
    paths = [resolve_checkpoint(m) for m in args.model] or shipped_checkpoints()
    try:
        for path in paths:
            start = time.perf_counter()
            shas = report_model(path, writer)
            took = time.perf_counter() - start
            print(f"{path.stem}: {len(shas)} checkpoints, {took:.0f} s", flush=True)
    except ExplainerError as exc:
        print(f"make_reports: error: {exc}", file=sys.stderr)
        return 2
    if not args.model:
        for gone in prune(root, writer.touched):
            print(f"removed {gone}")
    print(
        f"{writer.computed} computed, {writer.hits} up to date; "
        f"{root}: {folder_bytes(root) / 2**20:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

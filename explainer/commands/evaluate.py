"""``explainer evaluate CHECKPOINT``: metrics, confusion matrix, mistakes and curves as a report."""

from __future__ import annotations

import argparse

HELP = "evaluate a checkpoint on the test set and write a report folder of figures and JSON"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_checkpoint, add_test_source

    add_checkpoint(p, default=None)
    p.add_argument("--out", help="report folder (default: reports/<checkpoint name>/)")
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="json: print the metrics as JSON instead of a summary",
    )
    add_test_source(p)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from explainer.analysis.evaluate import evaluate, summary_lines
    from explainer.analysis.report import default_report_dir, write_report
    from explainer.commands import draw_to_files
    from explainer.io import check_writable
    from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint

    draw_to_files()
    if args.out:
        check_writable(args.out, folder=True)
    ckpt = load_checkpoint(resolve_checkpoint(args.checkpoint), code=args.code)
    check_writable(args.out or default_report_dir(ckpt), folder=True)
    ev = evaluate(ckpt, data_dir=args.data_dir, sample_only=args.sample)
    folder = write_report(ev, args.out)
    rejected = not_a_digit_report(ckpt, ev.split.floats().numpy()[:, 0], folder)
    if rejected is not None:
        ev.files.append(folder / "not_a_digit.json")
    if args.format == "json":
        print(json.dumps(ev.metrics(), indent=2))  # as metrics.json; see not_a_digit.json
        print(f"wrote {len(ev.files)} files to {folder}/", file=sys.stderr)
        return 0
    for line in summary_lines(ev):
        print(line)
    if rejected is not None:
        print(
            f"not a digit: {rejected['flagged']:.2%} of these {rejected['images']} digits "
            f"flagged (goal at most 1%; {rejected['val_flagged']:.2%} of the validation "
            f"digits when fitted), detector threshold {rejected['threshold']:.3f}"
        )
    print(f"wrote {len(ev.files)} files to {folder}/ (open {folder / 'report.md'})")
    return 0


def not_a_digit_report(ckpt, images, folder) -> dict | None:
    """How many of the evaluated digits ``images`` ``(N, 28, 28)`` in [0, 1] the checkpoint's
    not-a-digit rule flags (they are all digits: each flag is a false alarm), split by reason;
    written to ``folder/not_a_digit.json``. ``None`` for a model without a detector (Fashion)."""
    import json
    from collections import Counter
    from pathlib import Path

    import numpy as np

    from explainer.io import write_text_atomic
    from explainer.reading.predict import Predictor

    pred = Predictor(ckpt)
    if pred.detector is None:
        return None
    reasons = pred.not_a_digit(images)
    d = pred.detector
    body = {
        "images": len(reasons),
        "flagged": float(np.mean([bool(r) for r in reasons])) if reasons else float("nan"),
        "reasons": dict(Counter(r for r in reasons if r)),
        "threshold": d.threshold,
        "quantile": d.quantile,
        "val_flagged": d.val_flagged,
        "stored_in": "checkpoint" if "not_a_digit" in (ckpt.raw or {}).get("calibration", {})
        else "models/not_a_digit.npz",
    }  # fmt: skip
    write_text_atomic(Path(folder) / "not_a_digit.json", json.dumps(body, indent=2) + "\n")
    return body

"""``explainer predict PATH...``: classify photos / scans / drawings of digits, or a Kaggle CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "predict the digit in image files or folders (or a Kaggle test.csv)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders of images")
    from explainer.commands import add_code

    p.add_argument("--model", default="mnist_bn_cnn", help="checkpoint path or shipped name")
    add_code(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--out", help="write the table / CSV / JSON to this file instead of stdout")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.6,
        help="list files predicted with less confidence than this (default 0.6)",
    )
    p.add_argument(
        "--save-preprocessed",
        metavar="DIR",
        help="save every preprocessing step of every picture as PNGs in DIR",
    )
    p.add_argument(
        "--kaggle",
        metavar="TEST_CSV",
        help="Kaggle digit-recognizer test.csv: write ImageId,Label (use with --out)",
    )


def run(args: argparse.Namespace) -> int:
    from explainer.errors import ExplainerError
    from explainer.io import check_writable, write_text_atomic
    from explainer.reading.predict import Predictor, kaggle_submission, read_kaggle_csv, summarize
    from explainer.text import terminal_safe

    if not args.paths and not args.kaggle:
        raise ExplainerError("give image files or folders to predict, or --kaggle test.csv")
    if args.out:
        check_writable(args.out)
    if args.save_preprocessed:
        check_writable(args.save_preprocessed, folder=True, option="--save-preprocessed")
    if args.kaggle:
        out = check_writable(args.out or "submission.csv")
        images = read_kaggle_csv(args.kaggle)
        predictor = Predictor(args.model, code=args.code)
        text = kaggle_submission(predictor, images)
        write_text_atomic(out, text)
        print(
            f"wrote {out}: {len(images)} predictions (ImageId,Label) by "
            f"{terminal_safe(predictor.checkpoint.name)}"
        )
        return 0

    predictor = Predictor(args.model, code=args.code)
    rows = predictor.predict_many(args.paths)
    if not rows:
        raise ExplainerError(f"no image files in {', '.join(args.paths)}")
    text = format_rows(rows, args.format)
    if args.out:
        write_text_atomic(args.out, text)
    else:
        print(text, end="")
    if args.save_preprocessed:
        saved = save_steps(rows, Path(args.save_preprocessed))
        print(f"saved {saved} preprocessing pictures in {args.save_preprocessed}")
    if args.format == "table" or args.out:
        print(summary_text(summarize(rows, args.threshold), args.threshold, args.out))
    if any(r.prediction for r in rows):
        return 0
    print(f"explainer: error: {nothing_read(rows)}", file=sys.stderr)
    return 1


def nothing_read(rows) -> str:
    """One line for a run where no file gave a prediction: how many, the commonest reasons."""
    from collections import Counter

    from explainer.text import clip_text

    why = Counter(r.error for r in rows).most_common(2)
    said = "; ".join(f"{n} × {clip_text(e, 80)}" if n > 1 else clip_text(e, 80) for e, n in why)
    more = "" if sum(n for _, n in why) == len(rows) else "; ..."
    return f"no prediction for {_files(len(rows))} ({said}{more})"


def _files(n: int) -> str:
    return "the one file" if n == 1 else f"any of the {n} files"


def pct(p: float) -> str:
    """A probability as every view shows it (never a rounded "100.0%")."""
    from explainer.nets.calibration import confidence_text

    return confidence_text(p)


def format_rows(rows, fmt: str) -> str:
    """The rows as an aligned table, CSV (the exact columns of ``CSV_COLUMNS``) or JSON."""
    import csv
    import io
    import json

    from explainer.reading.predict import CSV_COLUMNS, verdict_text
    from explainer.text import terminal_safe

    # file names, class names and messages came from files: escaped, whatever their bytes
    dicts = [
        {k: terminal_safe(v) if isinstance(v, str) else v for k, v in r.as_dict().items()}
        for r in rows
    ]
    if fmt == "json":
        return json.dumps(dicts, indent=2) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in d.items()} for d in dicts)
        return buf.getvalue()
    width = max(len("file"), *(len(d["file"]) for d in dicts))
    lines = [  # said first, before any number
        f"{d['file']}: {verdict_text(d['prediction'], d['not_a_digit_reason'])}"
        for d in dicts
        if d["not_a_digit"]
    ]
    lines += [f"{'file':<{width}}  digit  confidence  runner-up      looks like a digit?"]
    for d in dicts:
        if d["error"]:
            lines.append(f"{d['file']:<{width}}  error: {d['error']}")
        else:
            lines.append(
                f"{d['file']:<{width}}  {d['prediction']:>5}  {pct(d['confidence']):>10}"
                f"  {d['top2']} ({pct(d['top2_confidence'])})".ljust(15)
                + ("  no: this does not look like a digit" if d["not_a_digit"] else "  yes")
            )
    return "\n".join(lines) + "\n"


def summary_text(s, threshold: float, out: str | None) -> str:
    from explainer.text import terminal_safe

    counts = ", ".join(f"{terminal_safe(k)}: {v}" for k, v in s.counts.items()) or "none"
    lines = [
        f"\n{s.total} files, {s.total - s.errors} predicted, {s.errors} errors"
        + (f"; wrote {out}" if out else ""),
        f"per class: {counts}",
        f"mean confidence: {pct(s.mean_confidence)}" if s.total > s.errors else "",
    ]
    if s.low_confidence:
        lines.append(f"below {threshold:.0%} confidence (check these by eye):")
        lines += [f"  {terminal_safe(f)}  {pct(c)}" for f, c in s.low_confidence]
    return "\n".join(line for line in lines if line)


def save_steps(rows, folder: Path) -> int:
    """Every preprocessing step of every good row as ``<stem>_<n>_<step>.png`` (enlarged with
    nearest neighbour when smaller than 224 px, so the pixels stay visible), plus
    ``<stem>_steps.png``: all steps and the probabilities in one labelled strip."""
    import numpy as np
    from PIL import Image

    from explainer.io import atomic_write, save_figure
    from explainer.reading.predict import steps_figure

    n = 0
    used: set[str] = set()
    for r in rows:
        if r.prediction is None or r.prediction.preprocessed is None:
            continue
        stem = _unique_stem(Path(r.file), r.prediction.preprocessed.steps, used)
        for i, (name, img) in enumerate(r.prediction.preprocessed.steps):
            im = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8), mode="L")
            if max(im.size) < 224:
                f = max(1, 224 // max(im.size))
                im = im.resize((im.width * f, im.height * f), Image.Resampling.NEAREST)
            with atomic_write(folder / f"{stem}_{i}_{name}.png") as tmp:
                im.save(tmp)
            n += 1
        save_figure(
            steps_figure(r.prediction, title=Path(r.file).name), folder / f"{stem}_steps.png"
        )
        n += 1
    return n


def _unique_stem(path: Path, steps, used: set[str]) -> str:
    """A file-name stem for ``path``'s pictures that no earlier picture used: ``seven``, then
    ``seven_jpg`` for ``seven.jpg``, then ``seven_jpg_2``...; adds its names to ``used``."""
    base = path.stem
    candidates = [base, f"{base}_{path.suffix.lstrip('.').lower() or 'file'}"]
    k = 2
    while True:
        for stem in candidates:
            names = {f"{stem}_{i}_{name}.png" for i, (name, _) in enumerate(steps)}
            names.add(f"{stem}_steps.png")
            if not names & used:
                used.update(names)
                return stem
        candidates = [f"{candidates[1]}_{k}"]
        k += 1

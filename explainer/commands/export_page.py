"""``explainer export-page --model CKPT --out site/``: the model as one interactive web page."""

from __future__ import annotations

import argparse

HELP = "write an interactive page of a model that runs in the learner's browser"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_code

    p.add_argument("--model", default="mnist_bn_cnn", help="checkpoint path or shipped name")
    add_code(p)
    p.add_argument("--out", default="site", help="folder to write index.html and its assets into")
    p.add_argument("--title", help="the page's title (default: How <model> reads a digit)")


def run(args: argparse.Namespace) -> int:
    from explainer.io import check_writable
    from explainer.text import terminal_safe
    from explainer.webpage.exporter import export_page

    check_writable(args.out, folder=True)
    index = export_page(args.model, args.out, title=args.title, code=args.code)
    size = sum(f.stat().st_size for f in index.parent.iterdir() if f.is_file())
    print(
        f"wrote {terminal_safe(index)} ({size / 1e6:.1f} MB in {terminal_safe(index.parent)}): "
        "open it in a browser, or put the folder on any static host"
    )
    return 0

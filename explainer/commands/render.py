"""``explainer render KIND``: a GIF, MP4 or PNG of a real digit going through a real network."""

from __future__ import annotations

import argparse

HELP = "render an animation (forward, dataflow, convolution, training, mistakes) to GIF/MP4/PNG"

KINDS = ("forward", "dataflow", "convolution", "training", "mistakes")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_data_dir

    p.add_argument("kind", choices=KINDS, help="which animation")
    p.add_argument("--checkpoint", "--model", dest="checkpoint", default="mnist_bn_cnn",
                   help="checkpoint path or shipped name (default: mnist_bn_cnn)")  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--index", type=int, help="official test-set index of the digit")
    src.add_argument("--digit", type=int, help="the first bundled test digit of this class")
    src.add_argument("--image", help="a picture of a digit (PNG/JPG), preprocessed like MNIST")
    src.add_argument("--trace", help="a trace saved by `explainer capture` (.npz)")
    p.add_argument("--out", required=True, help="output file: .gif, .mp4 or .png (last frame)")
    p.add_argument("--fps", type=float, help="frames per second (default depends on the kind)")
    p.add_argument("--seconds", type=float, help="length in seconds (default depends on the kind)")
    p.add_argument("--size", default="800x450", help="WIDTHxHEIGHT in pixels (default 800x450)")
    p.add_argument("--theme", choices=["light", "dark"], default="light")
    p.add_argument("--layer", help="convolution: the conv layer to show (default: the first)")
    p.add_argument("--channel", type=int, help="convolution: the output channel (default: the "
                   "most active)")  # fmt: skip
    p.add_argument("--snapshots", nargs="+", metavar="PT",
                   help="training: checkpoints saved during training (default: "
                   "models/snapshots/<checkpoint>_epochNN.pt, then the checkpoint)")  # fmt: skip
    p.add_argument("--engine", choices=["matplotlib", "manim"], default="matplotlib")
    p.add_argument("--quality", choices=["low", "medium", "high"], default="medium",
                   help="manim engine only: render quality")  # fmt: skip
    add_data_dir(p)


def parse_size(text: str) -> tuple[int, int]:
    from explainer.errors import ExplainerError

    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ExplainerError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 800x450") from None
    return w, h


def load_trace(args: argparse.Namespace, ckpt):
    """The Trace the options ask for (default: the first bundled test digit)."""
    import numpy as np

    from explainer.capture import capture_checkpoint
    from explainer.data import find_data_dir, load_sample, load_split
    from explainer.errors import ExplainerError
    from explainer.trace import Trace

    if args.trace:
        return Trace.load(args.trace)
    if args.image:
        from explainer.preprocess import preprocess

        pre = preprocess(args.image)
        return capture_checkpoint(ckpt, pre.image, source=pre.source or str(args.image))
    sample = load_sample(ckpt.dataset)
    if args.index is not None:
        if find_data_dir(ckpt.dataset, args.data_dir) is not None:
            test = load_split(ckpt.dataset, train=False, data_dir=args.data_dir, download=False)
            if not 0 <= args.index < len(test):
                raise ExplainerError(f"--index {args.index} is out of range: 0 to {len(test) - 1}")
            image, label = test.images[args.index], int(test.labels[args.index])
        else:
            hits = np.nonzero(sample.indices.numpy() == args.index)[0]
            if not len(hits):
                raise ExplainerError(
                    f"test digit {args.index} is not in the bundled sample and the dataset is "
                    "not on disk: set --data-dir / EXPLAINER_DATA_DIR, or use --digit"
                )
            image, label = sample.images[hits[0]], int(sample.labels[hits[0]])
        src = f"test digit #{args.index}"
    else:
        digit = 0 if args.digit is None else args.digit
        hits = np.nonzero(sample.labels.numpy() == digit)[0]
        if not len(hits):
            raise ExplainerError(
                f"--digit {digit} is not a class; use 0 to {len(ckpt.class_names) - 1}"
            )
        i = int(hits[0])
        image, label = sample.images[i], digit
        src = f"test digit #{int(sample.indices[i])}"
    return capture_checkpoint(
        ckpt, image.numpy().astype("float32") / 255.0, label=label, source=src
    )


def run(args: argparse.Namespace) -> int:
    from explainer.animate import check_kind, render_animation
    from explainer.animate.writer import check_extension
    from explainer.checkpoints import load_checkpoint, resolve_checkpoint

    check_kind(args.kind)
    check_extension(args.out)
    size = parse_size(args.size)
    ckpt = load_checkpoint(resolve_checkpoint(args.checkpoint))
    trace = None if args.kind == "mistakes" else load_trace(args, ckpt)
    options: dict = {}
    if args.kind == "convolution":
        options = {"layer": args.layer, "channel": args.channel}
    elif args.kind == "training":
        from explainer.animate.training import snapshot_paths

        options = {"snapshots": args.snapshots or snapshot_paths(ckpt)}
    elif args.kind == "mistakes":
        options = {"checkpoint": ckpt, "data_dir": args.data_dir}
    if args.engine == "manim":
        from explainer.errors import ExplainerError

        try:
            from explainer.manim_render import render_manim
        except ImportError:
            raise ExplainerError("the manim engine is not installed in this copy") from None
        if trace is None:
            raise ExplainerError(
                f"the manim engine cannot render {args.kind!r}; use --engine matplotlib"
            )
        fps = args.fps or {"low": 15, "medium": 30, "high": 60}[args.quality]
        out = render_manim(args.kind, trace, args.out, quality=args.quality, fps=fps)
    else:
        out = render_animation(
            args.kind, trace, args.out, fps=args.fps, seconds=args.seconds, size=size,
            theme=args.theme, **options,
        )  # fmt: skip
    print(f"wrote {out}")
    return 0

"""``explainer capture CHECKPOINT``: record every layer of one digit's forward pass to a .npz."""

from __future__ import annotations

import argparse

HELP = "record one digit's trip through a network (every layer's output) as a trace .npz"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_checkpoint, add_data_dir

    add_checkpoint(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--index", type=int, help="official test-set index of the digit")
    src.add_argument("--digit", type=int, help="the first bundled test digit of this class")
    src.add_argument("--image", help="a picture of a digit (PNG/JPG), preprocessed like MNIST")
    src.add_argument("--show", metavar="TRACE", help="print the summary of a saved trace and stop")
    p.add_argument("--out", help="where to write the trace (.npz); without it, only print")
    p.add_argument("--layers", nargs="+", metavar="NAME", help="only these layers (default: all)")
    p.add_argument("--list-layers", action="store_true", help="print the layer names and stop")
    p.add_argument(
        "--no-weights",
        dest="with_weights",
        action="store_false",
        help="leave out conv and linear weights (smaller file)",
    )
    add_data_dir(p)


def run(args: argparse.Namespace) -> int:
    from explainer.errors import ExplainerError
    from explainer.io import check_writable
    from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint
    from explainer.tracing.trace import Trace

    if args.show:
        print(Trace.load(args.show).summary())
        return 0
    if args.out:
        if not str(args.out).endswith(".npz"):
            raise ExplainerError(f"--out {args.out}: a trace is saved as .npz, e.g. trace.npz")
        check_writable(args.out)
    ckpt = load_checkpoint(resolve_checkpoint(args.checkpoint), code=args.code)
    if args.list_layers:
        import numpy as np

        from explainer.tracing.capture import capture

        blank = capture(ckpt.model, np.zeros((28, 28), np.float32))
        for r in blank.layers:
            print(f"{r.name:<24} {r.kind:<9} {r.description:<32} <- {', '.join(r.inputs)}")
        return 0
    trace = _capture(args, ckpt)
    print(trace.summary())
    if args.out:
        trace.save(args.out)
        size = sum(r.output.nbytes for r in trace.layers)
        print(f"wrote {args.out} ({len(trace.layers)} layers, {size / 1e3:.0f} kB of activations)")
    return 0


def _capture(args: argparse.Namespace, ckpt):
    """Pick the digit like ``explainer render`` does, then capture the requested layers."""
    from explainer.commands.render import load_trace
    from explainer.errors import ExplainerError
    from explainer.tracing.capture import LayerNameError, layer_names

    if args.layers:
        bad = [n for n in args.layers if n not in layer_names(ckpt.model)]
        if bad:
            raise LayerNameError(
                f"unknown layer(s) {', '.join(bad)}; see `explainer capture {args.checkpoint} "
                "--list-layers`"
            )
    args.trace = None
    trace = load_trace(args, ckpt)  # all layers, with weights
    if not args.layers and args.with_weights:
        return trace
    keep = set(args.layers or trace.names())
    trace.layers = [r for r in trace.layers if r.name.split("#")[0] in keep]
    if not args.with_weights:
        for r in trace.layers:
            r.weight = r.bias = None
    if not trace.layers:
        raise ExplainerError("none of the requested layers ran in the forward pass")
    return trace

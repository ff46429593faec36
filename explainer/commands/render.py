"""``explainer render KIND``: a GIF, MP4 or PNG of a real digit going through a real network."""

from __future__ import annotations

import argparse
import sys
import threading
import time

HELP = "render an animation (forward, dataflow, convolution, training, mistakes) to GIF/MP4/PNG"

KINDS = ("forward", "dataflow", "convolution", "training", "mistakes")
DEFAULT_CHECKPOINT = "mnist_bn_cnn"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_code, add_data_dir, add_snapshots

    p.add_argument("kind", choices=KINDS, help="which animation")
    p.add_argument("--checkpoint", "--model", dest="checkpoint",
                   help="checkpoint path or shipped name (default: mnist_bn_cnn, or the "
                   "trace's own model with --trace)")  # fmt: skip
    src = p.add_mutually_exclusive_group()
    src.add_argument("--index", type=int, help="official test-set index of the image")
    src.add_argument("--digit", type=int, help="the first bundled test image of this class")
    src.add_argument("--image", help="a picture (PNG/JPG), preprocessed like MNIST")
    src.add_argument("--trace", help="a trace saved by `explainer capture` (.npz)")
    p.add_argument("--out", required=True, help="output file: .gif, .mp4 or .png (last frame)")
    p.add_argument("--fps", type=float, help="frames per second (default depends on the kind)")
    p.add_argument("--seconds", type=float, help="length in seconds (default depends on the kind)")
    p.add_argument("--size", help="WIDTHxHEIGHT in pixels (default: 1280x720 with --pace class, "
                   "800x450 with --pace readme)")  # fmt: skip
    p.add_argument("--theme", choices=["light", "dark"], default="light")
    p.add_argument("--pace", choices=["class", "readme"], default="class",
                   help="class (default): for a projector, 1280x720 and each step held long "
                   "enough to say it out loud (each layer 2 s, each worked convolution picture "
                   "3 s, each mistake 3 s); readme: a short 800x450 loop. --seconds and --size "
                   "override them")  # fmt: skip
    p.add_argument("--layer", help="convolution: the conv layer to show (default: the first)")
    p.add_argument("--channel", type=int, help="convolution: the output channel (default: the "
                   "most active)")  # fmt: skip
    p.add_argument("--block", help="forward, dataflow: open one block of the network to its "
                   "layers (a name such as layer2.0; a wrong one lists them)")  # fmt: skip
    p.add_argument("--every-layer", action="store_true", help="forward, dataflow: one step "
                   "per layer even for a network of more than 24 (default: by blocks)")  # fmt: skip
    add_snapshots(p)
    p.add_argument("--engine", choices=["matplotlib", "manim"], default="matplotlib")
    p.add_argument("--quality", choices=["low", "medium", "high"], default="medium",
                   help="manim engine only: render quality")  # fmt: skip
    add_code(p)
    add_data_dir(p)


def parse_size(text: str) -> tuple[int, int]:
    from explainer.errors import ExplainerError

    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise ExplainerError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 800x450") from None
    return w, h


def load_trace(args: argparse.Namespace, ckpt):
    """The Trace the options ask for (default: the first bundled test digit), with the
    checkpoint's not-a-digit verdict (:func:`~explainer.reading.predict.trace_with_verdict`)."""
    if args.trace:
        from explainer.tracing.trace import Trace

        return Trace.load(args.trace)
    from explainer.reading.predict import trace_with_verdict

    return trace_with_verdict(ckpt, *_captured(args, ckpt))


def _captured(args: argparse.Namespace, ckpt):
    """``(trace, stroke)``: the picture the options name captured through ``ckpt``; ``stroke``
    the preprocessed picture's stroke width (None for a test digit)."""
    import numpy as np

    from explainer.data import find_data_dir, load_sample, load_split
    from explainer.errors import ExplainerError
    from explainer.tracing.capture import capture_checkpoint

    if args.image:
        from explainer.reading.preprocess import preprocess

        pre = preprocess(args.image)
        source = pre.source or str(args.image)
        return capture_checkpoint(ckpt, pre.image, source=source), pre.stroke
    from explainer.analysis.flowgraph import item_word

    word = item_word(ckpt.dataset, ckpt.class_names)
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
                    f"test {word} {args.index} is not in the bundled sample and the dataset is "
                    "not on disk: set --data-dir / EXPLAINER_DATA_DIR, or use --digit"
                )
            image, label = sample.images[hits[0]], int(sample.labels[hits[0]])
        src = f"test {word} #{args.index}"
    else:
        digit = 0 if args.digit is None else args.digit
        hits = np.nonzero(sample.labels.numpy() == digit)[0]
        if not len(hits):
            raise ExplainerError(
                f"--digit {digit} is not a class; use 0 to {len(ckpt.class_names) - 1}"
            )
        i = int(hits[0])
        image, label = sample.images[i], digit
        src = f"test {word} #{int(sample.indices[i])}"
    image = image.numpy().astype("float32") / 255.0
    return capture_checkpoint(ckpt, image, label=label, source=src), None


def run(args: argparse.Namespace) -> int:
    from explainer.animate import check_kind
    from explainer.animate.writer import check_extension
    from explainer.commands import check_rate
    from explainer.io import check_writable

    check_kind(args.kind)
    if args.engine == "manim":
        from explainer.extras import require

        require("manim", "explainer render --engine manim")
    check_extension(args.out)
    size = parse_size(args.size) if args.size else None
    check_rate(args.fps, args.seconds)
    check_writable(args.out)
    progress = Progress()
    try:
        progress.phase("loading the model and capturing the picture")
        ckpt, trace = _checkpoint_and_trace(args)
        options: dict = {}
        options = _block_options(args, trace)
        if args.kind == "convolution":
            _check_conv_layer(trace, args.layer)
            options = {"layer": args.layer, "channel": args.channel}
        elif args.kind == "training":
            options = {"evolution": _evolution(args, ckpt, trace, progress)}
        elif args.kind == "mistakes":
            from explainer.analysis.evaluate import mistake_report
            from explainer.analysis.results import evaluation

            # a shipped model's report, or the disk cache of an earlier render; else computed
            progress.phase(f"running {ckpt.name} over the test set")  # about 40 s in full
            options = {"report": mistake_report(evaluation(ckpt, data_dir=args.data_dir))}
        out = _render(args, trace, size, options, progress)
    finally:
        progress.close()
    print(f"wrote {out}")
    return 0


class Progress:
    """One line per phase on stderr, for renders that take a while: nothing is printed for
    the first ``after`` seconds, so a quick render (and a one-line error) stays quiet; then
    the current phase is named, and every later one as it starts, with the time so far."""

    def __init__(self, after: float = 3.0, stream=None) -> None:
        self.start = time.perf_counter()
        self.after = after
        self.stream = stream if stream is not None else sys.stderr
        self.current = ""
        self.spoke = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def _say(self, text: str) -> None:
        with self._lock:
            if text != self.current:
                return
            elapsed = time.perf_counter() - self.start
            print(f"explainer: {text}... ({elapsed:.0f} s)", file=self.stream, flush=True)
            self.spoke = True

    def phase(self, text: str) -> None:
        self.current = text
        if self._timer is not None:
            self._timer.cancel()
        wait = self.after - (time.perf_counter() - self.start)
        if wait <= 0:
            self._say(text)
            return
        self._timer = threading.Timer(wait, self._say, (text,))
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self.current = ""
            if self.spoke:
                elapsed = time.perf_counter() - self.start
                print(f"explainer: done in {elapsed:.0f} s", file=self.stream, flush=True)


def _evolution(args: argparse.Namespace, ckpt, trace, progress: Progress):
    """The training evolution of ``ckpt``'s snapshots, saying which snapshot is being scored
    (each snapshot's predictions read from its shipped report or the disk cache when there)."""
    from explainer.analysis.flowgraph import item_word
    from explainer.analysis.results import evaluation
    from explainer.analysis.snapshots import training_evolution
    from explainer.commands import snapshot_files
    from explainer.data import load_test_or_sample

    snaps = snapshot_files(args.snapshots, ckpt)
    test, _ = load_test_or_sample(ckpt.dataset, args.data_dir)
    items = item_word(ckpt.dataset, ckpt.class_names, plural=True)
    done = [0]

    def predict(ck):
        done[0] += 1
        progress.phase(f"scoring snapshot {done[0]} of {len(snaps)} on {len(test)} test {items}")
        return evaluation(ck, data_dir=args.data_dir).predicted

    progress.phase(f"loading {len(snaps)} snapshots")
    return training_evolution(
        snaps,
        trace.image,
        label=trace.label,
        data_dir=args.data_dir,
        predict=predict,
        code=args.code,
    )


def _checkpoint_and_trace(args: argparse.Namespace):
    """The checkpoint and the Trace the options ask for. With ``--trace`` the checkpoint is the
    trace's own model; a different ``--checkpoint`` is refused, never silently ignored."""
    from explainer.errors import ExplainerError
    from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint
    from explainer.tracing.trace import Trace

    if not args.trace:
        ckpt = load_checkpoint(
            resolve_checkpoint(args.checkpoint or DEFAULT_CHECKPOINT), code=args.code
        )
        return ckpt, None if args.kind == "mistakes" else load_trace(args, ckpt)
    trace = Trace.load(args.trace)
    if args.checkpoint is None:
        if args.kind not in ("training", "mistakes"):
            return None, trace
        ckpt = load_checkpoint(
            resolve_checkpoint(trace.checkpoint or DEFAULT_CHECKPOINT), code=args.code
        )
        return ckpt, trace
    ckpt = load_checkpoint(resolve_checkpoint(args.checkpoint), code=args.code)
    same = (
        trace.checkpoint_hash == ckpt.sha256
        if trace.checkpoint_hash and ckpt.sha256
        else trace.checkpoint == ckpt.name
    )
    if not same:
        raise ExplainerError(
            f"--trace {args.trace} was captured with {trace.checkpoint or trace.architecture!r}, "
            f"not --checkpoint {args.checkpoint}; drop --checkpoint, or capture a new trace "
            f"with `explainer capture {args.checkpoint} --out FILE.npz`"
        )
    return ckpt, trace


def _block_options(args: argparse.Namespace, trace) -> dict:
    """``block`` and ``by_blocks`` for forward and dataflow from ``--block`` and
    ``--every-layer``; a wrong block name is refused with the list of names."""
    from explainer.errors import ExplainerError
    from explainer.tracing.blocks import block_named

    block, every = getattr(args, "block", None), getattr(args, "every_layer", False)
    if block is None and not every:
        return {}
    if args.kind not in ("forward", "dataflow"):
        flag = "--block" if block is not None else "--every-layer"
        raise ExplainerError(f"{flag} is for the forward and dataflow animations, not {args.kind}")
    if getattr(args, "engine", "matplotlib") == "manim":
        flag = "--block" if block is not None else "--every-layer"
        raise ExplainerError(f"{flag} is for --engine matplotlib; the manim scenes show a big "
                             "network by blocks on their own")  # fmt: skip
    if block is not None and every:
        raise ExplainerError("--block opens one block, --every-layer shows them all: pick one")
    if block is not None:
        try:
            block_named(trace, block)
        except ExplainerError as e:
            raise ExplainerError(f"--block: {e}") from None
        return {"block": block}
    return {"by_blocks": False}


def _check_conv_layer(trace, layer: str | None) -> None:
    """``--layer`` must be one of the conv layers the convolution animation can show."""
    from explainer.analysis.arith import conv_records
    from explainer.errors import ExplainerError

    names = [r.name for r in conv_records(trace)]
    if layer is not None and names and layer not in names:
        what = "is not a convolution" if layer in trace.names() else "is not a layer of this model"
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ExplainerError(f"--layer {layer!r} {what}; conv layers: {shown}")


def _render(args: argparse.Namespace, trace, size: tuple[int, int] | None, options: dict,
            progress: Progress | None = None):  # fmt: skip
    from explainer.animate import build_animation
    from explainer.animate.length import as_flags
    from explainer.animate.writer import save
    from explainer.errors import ExplainerError

    progress = progress or Progress()
    if args.engine == "matplotlib":
        progress.phase(f"drawing the {args.kind} animation")
        try:
            reel = build_animation(
                args.kind, trace, fps=args.fps, seconds=args.seconds, size=size,
                theme=args.theme, pace=getattr(args, "pace", "class"), **options,
            )  # fmt: skip
        except ExplainerError as e:  # the library names its arguments; say the flags
            e.args = (as_flags(str(e)),)
            raise
        progress.phase(f"writing {reel.n_frames} frames ({reel.duration:.0f} s) to {args.out}")
        return save(reel, args.out)
    from explainer.scenes.render import render_manim

    if trace is None:
        raise ExplainerError(
            f"the manim engine cannot render {args.kind!r}; use --engine matplotlib"
        )
    fps = args.fps or {"low": 15, "medium": 30, "high": 60}[args.quality]
    progress.phase(f"rendering the {args.kind} scene with manim")
    return render_manim(args.kind, trace, args.out, quality=args.quality, fps=fps)

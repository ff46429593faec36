"""Sub-commands of ``explainer``; each module has ``HELP``, ``add_arguments`` and ``run``."""

import argparse


def draw_to_files() -> None:
    """A command draws figures into files only: matplotlib's Agg backend, never a window. The
    library's functions leave the backend alone, so that a notebook keeps its inline plots."""
    import matplotlib

    matplotlib.use("Agg")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="folder with the datasets in torchvision's layout (default: $EXPLAINER_DATA_DIR, "
        "else ~/.cache/mnist-explainer; downloaded there when online)",
    )


def add_test_source(parser: argparse.ArgumentParser) -> None:
    """``--sample`` and ``--data-dir``: which test digits a command evaluates on."""
    parser.add_argument(
        "--sample",
        action="store_true",
        help="use the bundled 500-digit sample even when the full test set is there",
    )
    add_data_dir(parser)


def add_code(parser: argparse.ArgumentParser) -> None:
    """``--code FILE.py:CLASS``: consent to import a user's model class for its checkpoint."""
    parser.add_argument(
        "--code",
        metavar="FILE.py:CLASS",
        help="for a checkpoint of your own model class: the class to import (path/to/file.py:Class "
        "or package.module:Class); this runs that code, so use it only for files you trust",
    )


def add_checkpoint(parser: argparse.ArgumentParser, default: str | None = "mnist_bn_cnn") -> None:
    """The positional checkpoint: a path or a shipped name; optional when ``default`` is set.
    Also adds ``--code`` (pass ``args.code`` to ``load_checkpoint``)."""
    add_code(parser)
    if default is None:
        parser.add_argument(
            "checkpoint", help="checkpoint path or shipped name (e.g. mnist_bn_cnn)"
        )
    else:
        parser.add_argument(
            "checkpoint",
            nargs="?",
            default=default,
            help=f"checkpoint path or shipped name (default: {default})",
        )


def add_snapshots(parser: argparse.ArgumentParser) -> None:
    """``--snapshots PT...``: checkpoints saved during training, oldest first."""
    parser.add_argument(
        "--snapshots",
        nargs="+",
        metavar="PT",
        help="checkpoints saved during training, oldest first, or the folder holding them "
        "(default: <checkpoint>_epochNN.pt in snapshots/ beside the checkpoint, else in "
        "models/snapshots/, then the checkpoint)",
    )


def snapshot_files(given: list[str] | None, ckpt) -> list:
    """The ``--snapshots`` files, each checked to exist; the snapshots of ``ckpt`` in the
    one folder given; or, without ``--snapshots``, those found beside ``ckpt``."""
    from pathlib import Path

    from explainer.analysis.snapshots import snapshot_paths
    from explainer.errors import ExplainerError
    from explainer.nets.checkpoints import resolve_checkpoint

    if not given:
        return snapshot_paths(ckpt)
    if len(given) == 1 and Path(given[0]).is_dir():
        return snapshot_paths(ckpt, folder=given[0])
    paths = [resolve_checkpoint(p) for p in given]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ExplainerError(f"--snapshots: not found: {', '.join(missing)}")
    if len(paths) < 2:
        raise ExplainerError(
            "--snapshots needs at least two checkpoints (e.g. an early epoch and the final one)"
        )
    return paths


def check_rate(fps: float | None, seconds: float | None) -> None:
    """``--fps`` 1 to 60 and ``--seconds`` 1 to 120 when given (0 is not "the default")."""
    from explainer.errors import ExplainerError

    if fps is not None and not 1 <= fps <= 60:
        raise ExplainerError(f"--fps {fps:g} is out of range; use 1 to 60")
    if seconds is not None and not 1 <= seconds <= 120:
        raise ExplainerError(f"--seconds {seconds:g} is out of range; use 1 to 120")

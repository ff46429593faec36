"""Sub-commands of ``explainer``; each module has ``HELP``, ``add_arguments`` and ``run``."""

import argparse


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


def add_checkpoint(parser: argparse.ArgumentParser, default: str | None = "mnist_bn_cnn") -> None:
    """The positional checkpoint: a path or a shipped name; optional when ``default`` is set."""
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

"""Sub-commands of ``explainer``; each module has ``HELP``, ``add_arguments`` and ``run``."""

import argparse


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="folder with the datasets in torchvision's layout (default: $EXPLAINER_DATA_DIR, "
        "else ~/.cache/mnist-explainer; downloaded there when online)",
    )

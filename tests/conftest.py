"""Shared fixtures. Tests that need the full dataset use ``dataset_dir``: they skip with a reason
when it is missing, and fail instead when ``EXPLAINER_REQUIRE_DATA=1`` (set by ``.ci/run``)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
# The app's background warm-up stays off (tests/test_warmup.py turns it on) and its results
# cache lives in a temporary folder, not in the user's ~/.cache.
os.environ.setdefault("EXPLAINER_WARMUP", "0")
os.environ.setdefault("EXPLAINER_CACHE_DIR", tempfile.mkdtemp(prefix="explainer-cache-"))

from explainer import data
from explainer.nets.checkpoints import load_checkpoint, models_dir

ROOT = Path(__file__).resolve().parent.parent


def _need_data(dataset: str = "mnist") -> Path:
    found = data.find_data_dir(dataset)
    if found is None:
        msg = (
            f"{dataset} not found in {data.resolve_data_dir()}: set EXPLAINER_DATA_DIR to a "
            "folder in torchvision's layout to run this test"
        )
        if os.environ.get("EXPLAINER_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return found


@pytest.fixture
def dataset_dir() -> Path:
    """The data folder holding MNIST (skips, or fails under CI, when missing)."""
    return _need_data("mnist")


@pytest.fixture
def fashion_dir() -> Path:
    return _need_data("fashion_mnist")


@pytest.fixture(scope="session")
def sample():
    """The bundled 500-digit MNIST sample."""
    return data.load_sample("mnist")


def shipped(name: str):
    path = models_dir() / f"{name}.pt"
    if not path.exists():
        pytest.skip(f"{path} has not been trained yet (make models)")
    return load_checkpoint(path)


@pytest.fixture(scope="session")
def bn_cnn():
    """The shipped mnist_bn_cnn checkpoint."""
    return shipped("mnist_bn_cnn")


@pytest.fixture(scope="session")
def tinyvgg():
    """The shipped mnist_tinyvgg checkpoint (small and quick)."""
    return shipped("mnist_tinyvgg")

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


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory) -> Path:
    """A freshly initialised tinyvgg saved as a checkpoint (seeded: the same weights each time)."""
    import torch

    from explainer.nets.architectures import build
    from explainer.nets.checkpoints import make_payload, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "mnist_tinyvgg.pt"
    payload = make_payload(build("tinyvgg"), dataset="mnist", class_names=list("0123456789"))
    save_checkpoint(path, payload)
    return path


@pytest.fixture(scope="module")
def good_payload(tmp_path_factory) -> dict:
    """A good checkpoint's dict (fast_cnn with a history, metrics and a config), as read back
    with ``weights_only=True``: the start from which the damage tables break one field."""
    import torch

    from explainer.nets.architectures import build
    from explainer.nets.checkpoints import save_checkpoint

    torch.manual_seed(0)
    model = build("fast_cnn").eval()
    history = [{"epoch": 1, "train_loss": 0.3, "val_accuracy": 0.9, "lr": 1e-3}]
    metrics = {"test_accuracy": 0.9, "test_errors": 1000, "per_class_accuracy": [0.9] * 10}
    path = save_checkpoint(tmp_path_factory.mktemp("ck") / "good.pt", model, history=history,
                           metrics=metrics, config={"lr": 1e-3, "epochs": 1})  # fmt: skip
    return torch.load(path, weights_only=True)

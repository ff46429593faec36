"""MNIST and Fashion-MNIST as in-memory tensors, a stratified split, and a bundled sample.

The whole dataset is one ``uint8`` tensor of shape ``(N, 28, 28)``: no per-image PIL pipeline.
The data folder comes from ``--data-dir``, else ``EXPLAINER_DATA_DIR``, else a user cache folder
(``$XDG_CACHE_HOME/mnist-explainer`` or ``~/.cache/mnist-explainer``). When the files are missing,
torchvision downloads them; when that fails too, one :class:`DatasetUnavailable` error names both
fixes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from explainer.errors import ExplainerError

ENV_VAR = "EXPLAINER_DATA_DIR"

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the project needs to know about a dataset."""

    name: str
    title: str
    torchvision_class: str
    folder: str
    class_names: list[str]
    mean: float
    std: float


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo("mnist", "MNIST", "MNIST", "MNIST", MNIST_CLASSES, 0.1307, 0.3081),
    "fashion_mnist": DatasetInfo(
        "fashion_mnist",
        "Fashion-MNIST",
        "FashionMNIST",
        "FashionMNIST",
        FASHION_CLASSES,
        0.2860,
        0.3530,
    ),
}


class DatasetUnavailable(ExplainerError):
    """The dataset is neither on disk nor downloadable."""


def dataset_info(name: str) -> DatasetInfo:
    """Look up ``"mnist"`` or ``"fashion_mnist"`` (``"fashion-mnist"`` is accepted too)."""
    key = name.lower().replace("-", "_") if isinstance(name, str) else None
    if key not in DATASETS:
        raise ExplainerError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[key]


def default_data_dir() -> Path:
    """The user cache folder used when neither ``--data-dir`` nor the env var is given."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mnist-explainer"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir`` if given, else ``$EXPLAINER_DATA_DIR``, else :func:`default_data_dir`.
    A folder that exists but is no folder or cannot be read is a one-line
    :class:`~explainer.errors.ExplainerError` naming where it came from (a missing one is
    fine: datasets are downloaded there)."""
    if data_dir:
        return _usable(Path(data_dir).expanduser(), f"data folder {data_dir}")
    env = os.environ.get(ENV_VAR)
    if env:
        return _usable(Path(env).expanduser(), f"{ENV_VAR}={env}")
    return default_data_dir()


def _usable(folder: Path, named: str) -> Path:
    from explainer.io import folder_problem
    from explainer.text import clip_text

    problem = folder_problem(folder) if os.path.lexists(folder) else None
    if problem:
        raise ExplainerError(
            f"{clip_text(named, 160)}: {problem}; give a folder this user can read and write"
        )
    return folder


def find_data_dir(dataset: str = "mnist", data_dir: str | os.PathLike | None = None) -> Path | None:
    """The data folder if it already holds ``dataset`` (no download), else ``None``."""
    info = dataset_info(dataset)
    root = resolve_data_dir(data_dir)
    raw = root / info.folder / "raw"
    names = ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"]
    return root if all((raw / n).exists() or (raw / f"{n}.gz").exists() for n in names) else None


@dataclass
class Split:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` int64 of one dataset split."""

    images: torch.Tensor
    labels: torch.Tensor
    dataset: str

    def __len__(self) -> int:
        return len(self.labels)

    def floats(self) -> torch.Tensor:
        """Images as ``(N, 1, 28, 28)`` float32 in [0, 1], the input every model expects."""
        return self.images.unsqueeze(1).float().div_(255.0)

    def subset(self, index: torch.Tensor | np.ndarray) -> Split:
        index = torch.as_tensor(index, dtype=torch.long)
        return Split(self.images[index], self.labels[index], self.dataset)


def load_split(
    dataset: str = "mnist",
    train: bool = True,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> Split:
    """Load the official train (60,000) or test (10,000) split into memory, once per process."""
    info = dataset_info(dataset)
    root = resolve_data_dir(data_dir)
    images, labels = _load_cached(info.name, bool(train), str(root), bool(download))
    return Split(images, labels, info.name)


@lru_cache(maxsize=8)
def _load_cached(name: str, train: bool, root: str, download: bool) -> tuple[torch.Tensor, ...]:
    import torchvision.datasets as tvd

    info = DATASETS[name]
    cls = getattr(tvd, info.torchvision_class)
    try:
        ds = cls(root=root, train=train, download=False)
    except RuntimeError:
        if not download:
            raise DatasetUnavailable(
                _missing_message(info, root, "downloads are turned off")
            ) from None
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
            ds = cls(root=root, train=train, download=True)
        except Exception as exc:  # network errors come in many types
            reason = f"download failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            raise DatasetUnavailable(_missing_message(info, root, reason)) from None
    return ds.data.clone(), ds.targets.clone().long()


def _missing_message(info: DatasetInfo, root: str, reason: str) -> str:
    return (
        f"{info.title} is not in {root} and could not be fetched ({reason}). "
        f"Either connect to the internet so torchvision can download it, or point "
        f"--data-dir / {ENV_VAR} at a folder holding {info.folder}/raw/ (torchvision layout)."
    )


def stratified_split(
    labels: torch.Tensor, val_fraction: float = 0.15, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded indices ``(train_idx, val_idx)`` with each class split in the same proportion."""
    if not 0.0 <= val_fraction < 1.0:
        raise ExplainerError(f"val_fraction must be in [0, 1), got {val_fraction}")
    gen = torch.Generator().manual_seed(seed)
    train_parts, val_parts = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_val = round(len(idx) * val_fraction)
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    return torch.cat(train_parts).sort().values, torch.cat(val_parts).sort().values


def load_train_val(
    dataset: str = "mnist",
    val_fraction: float = 0.15,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> tuple[Split, Split]:
    """The official training set cut into a seeded, stratified train / validation pair."""
    full = load_split(dataset, train=True, data_dir=data_dir)
    tr, va = stratified_split(full.labels, val_fraction, seed)
    return full.subset(tr), full.subset(va)


# --- the bundled sample ---------------------------------------------------------------------

SAMPLE_PER_CLASS = 50


@dataclass
class Sample(Split):
    """A few official test images shipped inside the package; ``indices`` are their test ids."""

    indices: torch.Tensor | None = None

    def subset(self, index: torch.Tensor | np.ndarray) -> Sample:
        index = torch.as_tensor(index, dtype=torch.long)
        ids = None if self.indices is None else self.indices[index]
        return Sample(self.images[index], self.labels[index], self.dataset, ids)


def sample_path(dataset: str = "mnist") -> Path:
    info = dataset_info(dataset)
    return Path(str(resources.files("explainer") / "assets" / f"{info.name}_sample.npz"))


@lru_cache(maxsize=4)
def _sample_arrays(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.load(sample_path(name), allow_pickle=False) as z:
        return z["images"], z["labels"], z["indices"]


def load_sample(dataset: str = "mnist") -> Sample:
    """50 official test digits per class (500 images) bundled in the package; no download.

    Example:

    >>> from explainer import load_sample
    >>> digits = load_sample()
    >>> len(digits), tuple(digits.images.shape), digits.images.dtype
    (500, (500, 28, 28), torch.uint8)
    >>> tuple(digits.floats().shape)
    (500, 1, 28, 28)
    """
    images, labels, indices = _sample_arrays(dataset_info(dataset).name)
    return Sample(
        torch.from_numpy(images.copy()),
        torch.from_numpy(labels.astype(np.int64)),
        dataset_info(dataset).name,
        torch.from_numpy(indices.astype(np.int64)),
    )


def load_test_or_sample(
    dataset: str = "mnist", data_dir: str | os.PathLike | None = None
) -> tuple[Split, bool]:
    """The official test set when it is on disk, else the bundled sample; says which."""
    if find_data_dir(dataset, data_dir) is not None:
        return load_split(dataset, train=False, data_dir=data_dir, download=False), True
    return load_sample(dataset), False


def make_sample(
    dataset: str = "mnist",
    per_class: int = SAMPLE_PER_CLASS,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
) -> Path:
    """Write the bundled sample: ``per_class`` seeded random test images of every class."""
    from explainer.io import atomic_write

    test = load_split(dataset, train=False, data_dir=data_dir)
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in range(10):
        idx = torch.nonzero(test.labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]].sort().values)
    idx = torch.stack(picks, 1).flatten()  # interleaved: 0,1,...,9,0,1,...
    path = Path(out) if out else sample_path(dataset)
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(
            fh,
            images=test.images[idx].numpy(),
            labels=test.labels[idx].numpy().astype(np.uint8),
            indices=idx.numpy().astype(np.int32),
        )
    return path

import numpy as np
import pytest
import torch

from explainer import data
from explainer.errors import ExplainerError


def test_bundled_sample_has_50_test_digits_per_class(sample):
    assert sample.images.shape == (500, 28, 28) and sample.images.dtype == torch.uint8
    assert torch.bincount(sample.labels, minlength=10).tolist() == [50] * 10
    assert len(set(sample.indices.tolist())) == 500
    assert data.sample_path("mnist").stat().st_size < 1_000_000
    assert data.sample_path("fashion_mnist").stat().st_size < 1_000_000


def test_sample_is_the_official_test_images(dataset_dir, sample):
    test = data.load_split("mnist", train=False, data_dir=dataset_dir)
    assert torch.equal(test.images[sample.indices], sample.images)
    assert torch.equal(test.labels[sample.indices], sample.labels)


def test_load_from_data_folder_gives_in_memory_tensors(dataset_dir):
    train = data.load_split("mnist", train=True, data_dir=dataset_dir)
    test = data.load_split("mnist", train=False, data_dir=dataset_dir)
    assert train.images.shape == (60000, 28, 28) and test.images.shape == (10000, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    x = test.subset(torch.arange(5)).floats()
    assert x.shape == (5, 1, 28, 28) and x.min() >= 0.0 and x.max() <= 1.0


def test_fashion_mnist_loads(fashion_dir):
    test = data.load_split("fashion_mnist", train=False, data_dir=fashion_dir)
    assert len(test) == 10000 and data.dataset_info("fashion-mnist").class_names[9] == "Ankle boot"


def test_env_var_sets_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.resolve_data_dir() == tmp_path
    assert data.resolve_data_dir(tmp_path / "x") == tmp_path / "x"  # --data-dir wins
    monkeypatch.delenv(data.ENV_VAR)
    assert data.resolve_data_dir() == data.default_data_dir()


def test_offline_and_missing_gives_one_error_naming_both_fixes(monkeypatch, tmp_path):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load_split("mnist", train=False, data_dir=tmp_path / "empty")
    msg = str(err.value)
    assert "\n" not in msg
    assert "internet" in msg and "--data-dir" in msg and data.ENV_VAR in msg


def test_stratified_split_is_seeded_disjoint_and_keeps_class_proportions():
    labels = torch.arange(10).repeat_interleave(100)
    tr, va = data.stratified_split(labels, 0.15, seed=3)
    assert len(va) == 150 and len(tr) == 850
    assert not set(tr.tolist()) & set(va.tolist())
    assert torch.bincount(labels[va]).tolist() == [15] * 10
    va2 = data.stratified_split(labels, 0.15, seed=3)[1]
    assert torch.equal(va, va2)
    assert not torch.equal(va, data.stratified_split(labels, 0.15, seed=4)[1])


def test_train_val_split_uses_only_the_training_set(dataset_dir):
    train, val = data.load_train_val("mnist", 0.15, seed=0, data_dir=dataset_dir)
    assert len(train) == 51000 and len(val) == 9000
    counts = np.bincount(val.labels.numpy(), minlength=10) / np.bincount(
        data.load_split("mnist", data_dir=dataset_dir).labels.numpy(), minlength=10
    )
    assert np.allclose(counts, 0.15, atol=0.002)


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(ExplainerError, match="fashion_mnist"):
        data.dataset_info("cifar10")

"""insights: statistics, top-activating patches, embeddings and evolution against references."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from explainer.analysis.embedding_map import embedding, features, plot_embedding
from explainer.analysis.snapshots import evolution, plot_evolution
from explainer.analysis.strength import activation_strength, plot_activation_strength
from explainer.analysis.top_digits import plot_top_activating, receptive_field, top_activating
from explainer.errors import ExplainerError
from explainer.nets.architectures import build
from explainer.nets.checkpoints import make_payload, save_checkpoint
from explainer.tracing.batch import capture_batch


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build("tinyvgg").eval()


def test_activation_strength_matches_full_maps(tiny, sample):
    images = sample.images[:120]
    result = activation_strength(tiny, images)
    assert result.names == ["block1.relu1", "block1.relu2", "block2.relu1", "block2.relu2"]
    full = capture_batch(tiny, images, result.names, reduce="none")
    for s in result.layers:
        a = full[s.name]
        np.testing.assert_allclose(s.mean, a.mean(axis=(0, 2, 3)), rtol=1e-4, atol=1e-7)
        np.testing.assert_array_equal(s.dead, (a == 0).all(axis=(0, 2, 3)))
    assert result.layer_means.shape == (4,) and result.count == 120
    assert activation_strength(build("linear"), images).names == ["fc1", "fc2"]
    fig = plot_activation_strength(result)
    assert len(fig.axes) == 1 + 2 * 4  # summary + (bars, twin axis) per layer
    plt.close(fig)


def test_receptive_fields_follow_the_layer_arithmetic(tiny):
    rf = receptive_field(tiny, "block1.conv1")
    assert (rf.size, rf.jump, rf.start) == (3, 1, -1)
    assert rf.box(0, 0) == (0, 0, 2, 2) and rf.box(5, 7) == (4, 6, 7, 9)
    assert (
        receptive_field(tiny, "block1.pool").size,
        receptive_field(tiny, "block1.pool").jump,
    ) == (
        6,
        2,
    )
    rf = receptive_field(tiny, "block2.conv1")
    assert (rf.size, rf.jump, rf.start) == (10, 2, -4)
    rf = receptive_field(tiny, "block2.conv2")
    assert (rf.size, rf.jump, rf.start) == (14, 2, -6)
    basic = build("basic_cnn")
    assert (receptive_field(basic, "conv2").size, receptive_field(basic, "conv2").start) == (5, 0)


def _unit_patch(model: nn.Module, image: torch.Tensor, layer: str, ch: int, pos) -> tuple:
    """Bounding box of the pixels that change one activation (perturb each pixel in turn)."""
    shifted = image[0].repeat(28 * 28, 1, 1)
    shifted.view(28 * 28, -1)[torch.arange(28 * 28), torch.arange(28 * 28)] += 0.5
    batch = torch.cat([image[None], shifted[:, None]])
    out = capture_batch(model, batch, [layer], reduce="none")[layer][:, ch, pos[0], pos[1]]
    rows, cols = np.nonzero((out[1:] != out[0]).reshape(28, 28))
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


def test_top_activating_images_and_patches(tiny, sample):
    images = sample.floats()[:60]
    top = top_activating(tiny, images, "block1.relu2", channels=[0, 3], k=4, labels=sample.labels)
    full = capture_batch(tiny, images, ["block1.relu2"], reduce="none")["block1.relu2"]
    for row, c in enumerate([0, 3]):
        peaks = full[:, c].reshape(len(images), -1).max(1)
        np.testing.assert_array_equal(top.indices[row], np.argsort(-peaks, kind="stable")[:4])
        np.testing.assert_array_equal(top.values[row], peaks[top.indices[row]])
        i, (r, q) = top.indices[row, 0], top.positions[row, 0]
        assert full[i, c, r, q] == top.values[row, 0]
        np.testing.assert_array_equal(top.images[row, 0], images[i, 0].numpy())
    assert top.labels.shape == (2, 4)
    # the analytic box is exactly where the unit can see (checked by perturbing pixels,
    # away from the border so that padding does not clip the box)
    torch.manual_seed(3)
    rf = receptive_field(tiny, "block1.relu2")
    pos = (10, 12)
    assert rf.box(*pos) == _unit_patch(tiny, images[0], "block1.relu2", 0, pos)
    fig = plot_top_activating(top)
    assert len(fig.axes) == 2 * 5
    plt.close(fig)


class Wrapped(nn.Module):
    """Not a chain: boxes must come from the gradient."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def test_gradient_boxes_for_other_models(tiny, sample):
    images = sample.floats()[:20]
    wrapped = Wrapped(tiny).eval()
    assert receptive_field(wrapped, "inner.block1.conv2") is None
    a = top_activating(wrapped, images, "inner.block1.conv2", channels=[1], k=3)
    b = top_activating(tiny, images, "block1.conv2", channels=[1], k=3)
    np.testing.assert_array_equal(a.indices, b.indices)
    for (t, le, bo, r), (t2, le2, bo2, r2) in zip(a.boxes[0], b.boxes[0], strict=True):
        # gradient boxes lie inside the analytic field (a zero weight can shrink them)
        assert t >= t2 and le >= le2 and bo <= bo2 and r <= r2 and bo > t and r > le


def test_embedding_uses_the_penultimate_vector(tiny, sample):
    images, labels = sample.floats()[:80], sample.labels[:80]
    feats, logits, where = features(tiny, images)
    assert where == "input of classifier.fc" and feats.shape == (80, 490)
    with torch.no_grad():
        h = tiny.block2(tiny.block1(tiny.normalize(images))).flatten(1)
        np.testing.assert_allclose(feats, h.numpy(), rtol=1e-6)
        np.testing.assert_allclose(logits, tiny(images).numpy(), rtol=1e-5, atol=1e-6)
    emb = embedding(tiny, images, labels, method="pca", n=60)
    assert emb.points.shape == (60, 2) and emb.indices.tolist() == list(range(60))
    centred = feats[:60] - feats[:60].mean(0)
    top2 = np.linalg.svd(centred, full_matrices=False)[2][:2]
    np.testing.assert_allclose(np.abs(emb.points), np.abs(centred @ top2.T), rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(emb.wrong, logits[:60].argmax(1) != labels[:60].numpy())
    tsne = embedding(tiny, images, labels, method="tsne", n=40)
    assert tsne.points.shape == (40, 2) and np.isfinite(tsne.points).all()
    fig = plot_embedding(emb)
    plt.close(fig)
    with pytest.raises(ExplainerError, match="pca"):
        embedding(tiny, images, labels, method="umap")


def test_evolution_captures_each_snapshot(tmp_path, sample):
    paths = []
    for epoch in (0, 1, 2):
        torch.manual_seed(epoch)
        model = build("tinyvgg")
        payload = make_payload(
            model,
            dataset="mnist",
            class_names=[str(i) for i in range(10)],
            history=[{"epoch": epoch, "val_accuracy": 0.5 + epoch / 10}],
            epoch=epoch,
        )
        paths.append(save_checkpoint(tmp_path / f"m_epoch{epoch:02d}.pt", payload))
    image = sample.floats()[4, 0]
    traces = evolution(paths, image, label=int(sample.labels[4]))
    assert [t.meta["epoch"] for t in traces] == [0, 1, 2]
    assert traces[2].meta["val_accuracy"] == pytest.approx(0.7)
    for epoch, t in enumerate(traces):
        torch.manual_seed(epoch)
        with torch.no_grad():
            expected = build("tinyvgg").eval()(image[None, None])[0].numpy()
        np.testing.assert_allclose(t.logits, expected, rtol=1e-6)
        assert t.checkpoint == f"m_epoch{epoch:02d}"
    fig = plot_evolution(traces)
    assert sum(ax.get_visible() for ax in fig.axes) == 3 * 5 + 4  # + one colour bar per row
    plt.close(fig)

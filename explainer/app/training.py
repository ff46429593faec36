"""Page 6, Training: an epoch slider over the saved snapshots (kernels, feature maps and the
confusion matrix evolving), and "train a small model now" for class, in under 30 seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from explainer.analysis.arith import first_conv
from explainer.analysis.snapshots import snapshot_paths
from explainer.app import compute, digits, model_choice, visuals, words
from explainer.data import Split, dataset_info, load_sample, load_train_val
from explainer.nets.checkpoints import Checkpoint
from explainer.nets.inference import accuracy, predict_logits
from explainer.style import scale_for
from explainer.text import markdown_safe

LIVE_ARCH = "fast_cnn"
LIVE_SECONDS = 25.0
LIVE_IMAGES = 12_000
# Without the dataset, the 500 bundled test digits are split three ways: the model trains on
# the first, picks its best epoch on the next, and is scored on the rest, which it never saw.
SAMPLE_TRAIN, SAMPLE_VAL = 350, 50


@dataclass
class LiveCheckpoint(Checkpoint):
    """A model trained on this page: never written to disk, named by the learner's session."""

    label: str = "live"

    @property
    def name(self) -> str:
        return self.label


def snapshots_of(ckpt: Checkpoint) -> list[Path]:
    """The epoch snapshots of a checkpoint (without the final file), oldest first."""
    return snapshot_paths(ckpt, final=False, strict=False)


def epoch_view(name: str, snaps: list[Path]) -> None:
    epochs = [int(p.stem.rsplit("epoch", 1)[1]) for p in snaps]
    ep = st.select_slider(
        "Epoch",
        epochs,
        value=epochs[-1],
        key=f"snap_epoch_{name}",
        format_func=lambda e: "before training" if e == 0 else f"epoch {e}",
    )
    snap = compute.load_snapshot(str(snaps[epochs.index(ep)]))
    digit = digits.current_digit()
    tr = digits.trace_for(snap, digit)
    ev = compute.evaluation(snap)
    acc = ev.accuracy
    ds = snap.dataset
    said, sure = words.answer(tr.probs, snap.class_names)
    c1, c2, c3 = st.columns(3)
    c1.metric(f"Accuracy on the test {words.item(ds, plural=True)}", f"{acc:.1%}")
    c2.metric(
        f"Current {words.item(ds)} read as",
        said,
        f"{sure} sure",
        delta_color="off",
        delta_arrow="off",
    )
    hist = snap.history[-1] if snap.history else {}
    c3.metric("Training loss", f"{hist['train_loss']:.3f}" if "train_loss" in hist else "—")
    conv = first_conv(tr)
    left, right = st.columns([1.3, 1], gap="large")
    with left:
        if conv is not None and conv.weight is not None:
            st.markdown(f"**The first layer's {conv.weight.shape[0]} kernels** ({conv.name})")
            w = conv.weight[:, 0]
            sc = scale_for(w, "kernel")
            key = f"{model_choice.model_key(snap)}|{conv.name}|w"
            st.image(visuals.cached_mosaic(key, w, sc, 40))
            st.markdown(
                visuals.colorbar_html(sc, label="weight (blue < 0 < red)"), unsafe_allow_html=True
            )
            st.markdown(f"**What they see in the current {words.item(ds)}** ({conv.name} output)")
            sc2 = scale_for(conv.output, "conv")
            key2 = f"{model_choice.model_key(snap)}|{digit.key}|{conv.name}"
            st.image(visuals.cached_mosaic(key2, conv.output, sc2, 40))
            st.markdown(visuals.colorbar_html(sc2), unsafe_allow_html=True)
    with right:
        cm = ev.confusion
        st.markdown("**Confusion matrix** (off-diagonal: mistakes)")
        visuals.chart(visuals.confusion_spec(cm, snap.class_names))
    st.caption(measured_caption(snaps, epochs, ep, ev))


def measured_caption(snaps: list[Path], epochs: list[int], ep: int, ev) -> str:
    """What this epoch shows, measured: how far the first layer's kernels moved from where
    training started (cosine similarity), and how many test images get the commonest answer."""
    from explainer.analysis.report_figures import first_layer_weights

    counts = np.bincount(ev.predicted, minlength=len(ev.class_names))
    top = int(counts.argmax())
    n_items = words.item(ev.checkpoint.dataset, plural=True)
    when = "the start" if ep == 0 else f"epoch {ep}"
    text = (
        f"At {when}: {counts[top]:,} of the {len(ev.predicted):,} test {n_items} get the "
        f"commonest answer, {ev.class_names[top]}."
    )
    if ep == epochs[0]:
        return text
    a = first_layer_weights(compute.load_snapshot(str(snaps[0])).model)
    b = first_layer_weights(compute.load_snapshot(str(snaps[epochs.index(ep)])).model)
    if a is None or b is None or a[1].shape != b[1].shape:
        return text
    x, y = a[1].ravel().astype(np.float64), b[1].ravel().astype(np.float64)
    cos = float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))
    start = "before training" if epochs[0] == 0 else f"epoch {epochs[0]}"
    return (
        f"{text} The first layer's kernels ({a[0]}) compared with {start}: cosine "
        f"similarity {cos:.4f} (1 = unchanged)" + (": they barely moved." if cos > 0.99 else ".")
    )


@dataclass
class LiveData:
    """What a live model trains on, picks its best epoch on, and is scored on (never seen)."""

    train: Split
    val: Split
    test_images: np.ndarray
    test_labels: np.ndarray
    where: str  # "the official training set"
    scored: str  # "the 10,000 official test digits"


def training_data(dataset: str) -> LiveData:
    items = words.item(dataset, plural=True)
    if digits.has_test_set(dataset):
        train, val = load_train_val(dataset)
        gen = torch.Generator().manual_seed(0)
        pick = torch.randperm(len(train), generator=gen)[:LIVE_IMAGES]
        images, labels = digits.eval_set(dataset)[:2]
        return LiveData(train.subset(pick), val.subset(torch.arange(2000)), np.array(images),
                        np.array(labels), f"{LIVE_IMAGES:,} {items} of the official training set",
                        f"the {len(labels):,} official test {items}")  # fmt: skip
    s = load_sample(dataset)
    idx = torch.arange(len(s))
    test = s.subset(idx[SAMPLE_TRAIN + SAMPLE_VAL :])
    return LiveData(
        s.subset(idx[:SAMPLE_TRAIN]),
        s.subset(idx[SAMPLE_TRAIN : SAMPLE_TRAIN + SAMPLE_VAL]),
        test.images.numpy(),
        test.labels.numpy(),
        f"{SAMPLE_TRAIN} of the {len(s)} bundled {items}",
        f"the other {len(test)} bundled {items}, which it never saw",
    )


def live_training() -> None:
    from explainer.nets.train import fit
    from explainer.nets.train_config import TrainConfig

    ds = model_choice.current_dataset()
    st.subheader("Train a small model now")
    if msg := st.session_state.pop("live_msg", None):
        st.success(msg)
    has_data = digits.has_test_set(ds)
    st.markdown(
        f"Trains **{LIVE_ARCH}** (a 5×5 convolution, then three small blocks) for at most "
        f"{LIVE_SECONDS:.0f} seconds on the CPU, then it appears in the sidebar's model list "
        "and on every page. Nothing is written to disk."
    )
    if not has_data:
        n_items = words.item(ds, plural=True)
        st.info(
            f"Without the full dataset it trains on {SAMPLE_TRAIN} of the 500 bundled "
            f"{n_items}, picks its best epoch on {SAMPLE_VAL} more and is scored on the other "
            f"{500 - SAMPLE_TRAIN - SAMPLE_VAL}, which it never saw (expect far less than "
            "99%). " + words.data_hint(ds).split(". ", 1)[1]
        )
    c1, c2 = st.columns(2)
    epochs = c1.slider("Epochs", 1, 3, 1, key="live_epochs")
    lr = c2.select_slider("Learning rate", [0.001, 0.002, 0.004, 0.008], value=0.004, key="live_lr")
    if not st.button("Train now", type="primary", icon=":material/play_arrow:"):
        return
    data = training_data(ds)
    # 350 bundled images make a tiny epoch: more passes over them, in smaller batches
    passes, batch = (epochs, 128) if has_data else (epochs * 6, 32)
    bar = st.progress(0.0, text="starting…")
    t0 = time.perf_counter()
    state = {"last": 0.0}

    def on_batch(info: dict) -> None:
        now = time.perf_counter()
        if info.get("done") or now - state["last"] < 0.25:
            return
        state["last"] = now
        frac = ((info["epoch"] - 1) + info["batch"] / max(info["batches"], 1)) / passes
        bar.progress(
            min(frac, 1.0),
            text=f"epoch {info['epoch']}/{passes} · batch "
            f"{info['batch']}/{info['batches']} · loss {info['loss']:.3f} · "
            f"accuracy {info['accuracy']:.1%}",
        )

    cfg = TrainConfig(
        arch=LIVE_ARCH,
        dataset=ds,
        epochs=passes,
        lr=lr,
        batch_size=batch,
        max_seconds=LIVE_SECONDS,
        evaluate_test=False,
        progress=False,
        device="cpu",
        channels_last=False,
    )
    hist = fit(cfg, data=(data.train, data.val), callback=on_batch)
    secs = time.perf_counter() - t0
    n = len(live_models := model_choice.live_models()) + 1
    info = dataset_info(ds)
    test_acc = accuracy(  # only images it never trained on nor picked its epoch on
        predict_logits(hist.model, torch.from_numpy(data.test_images)),
        torch.from_numpy(data.test_labels),
    )
    label = f"live_{LIVE_ARCH}_{n}"
    live_models[label] = LiveCheckpoint(
        model=hist.model.eval(),
        architecture=LIVE_ARCH,
        dataset=ds,
        class_names=info.class_names,
        history=hist.epochs,
        metrics={"test_accuracy": test_acc},
        epoch=len(hist.epochs),
        train_seconds=secs,
        label=label,
    )
    bar.progress(1.0, text=f"done in {secs:.1f} s")
    model_choice.select_model(label)
    st.session_state["live_msg"] = (
        f"**{label}** trained on {data.where} in {secs:.1f} s: {test_acc:.1%} right on "
        f"{data.scored}. It is now the selected model on every page."
    )
    st.rerun()


st.title("Training")
ckpt = model_choice.current_model()
snaps = snapshots_of(ckpt)
owner = ckpt.name
if not snaps:
    for name, other in model_choice.shipped_models(model_choice.current_dataset()).items():
        if snapshots_of(other):
            owner, snaps = name, snapshots_of(other)
            break
if snaps:
    st.markdown(
        f"**{markdown_safe(owner)}** as it was saved during training: slide through the epochs."
    )
    epoch_view(owner, snaps)
else:
    st.info(
        f"None of the {dataset_info(ckpt.dataset).title} models here kept a copy of itself after "
        "each epoch, so there is no training to slide through. Press *Train now* below to watch "
        "a small model learn, epoch by epoch."
    )
st.divider()
live_training()

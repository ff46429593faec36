"""Training speed (issue #2 §7), measured in one run and printed as numbers and ratios.

1. The fast recipe: ``fast_cnn`` trained from scratch on the 51,000-image training split; its
   training seconds (evaluation excluded) and its accuracy on the 10,000 official test images.
   Goal: >= 99.0 % in <= 10 s on 2 CPU cores.
2. ``bn_cnn`` training and evaluation images/s on this machine: our path (the whole split as
   one in-memory tensor, batched affine augmentation, channels_last) against the plain path
   of the tutorials (torchvision dataset of PIL images, per-image transforms, DataLoader,
   channels-first), same model, same batch size, same number of batches.

Needs the dataset (EXPLAINER_DATA_DIR or --data-dir). Usage: python bench/bench_train.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from explainer.data import dataset_info, load_split, load_train_val, resolve_data_dir
from explainer.nets.architectures import build
from explainer.nets.augment import random_affine
from explainer.nets.train import fit
from explainer.nets.train_config import TrainConfig

FAST_RECIPE = dict(arch="fast_cnn", epochs=1, batch_size=64, lr=0.006)


def fast_recipe(data_dir: str | None) -> None:
    hist = fit(TrainConfig(**FAST_RECIPE, progress=False, data_dir=data_dir))
    train_s = sum(r["train_seconds"] for r in hist.epochs)  # validation excluded
    acc = hist.test_metrics["test_accuracy"]
    ok = acc >= 0.99 and train_s <= 10
    print(f"fast recipe {FAST_RECIPE}")
    print(
        f"  training {train_s:.1f} s (goal <= 10 s), test accuracy {acc:.4f} (goal >= 0.99)"
        f"  -> {'MET' if ok else 'NOT MET'}"
    )


def _train_steps(model, batches, channels_last: bool) -> list[float]:
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    model.train()
    times = []
    for x, y in batches():
        t = time.perf_counter()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return times


def throughput(data_dir: str | None, n_batches: int, batch_size: int) -> None:
    import torchvision.transforms as T
    from torchvision.datasets import MNIST

    info = dataset_info("mnist")
    train, _ = load_train_val("mnist", data_dir=data_dir)
    x_all, y_all = train.floats(), train.labels
    gen = torch.Generator().manual_seed(0)

    def fast_batches():
        perm = torch.randperm(len(x_all), generator=gen)
        for i in range(n_batches):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            yield random_affine(x_all[idx], generator=gen), y_all[idx]

    plain_ds = MNIST(
        str(resolve_data_dir(data_dir)),
        train=True,
        download=False,
        transform=T.Compose([T.RandomAffine(10, (0.1, 0.1), (0.9, 1.1)), T.ToTensor()]),
    )
    loader = torch.utils.data.DataLoader(plain_ds, batch_size=batch_size, shuffle=True)

    def plain_batches():
        for i, (x, y) in enumerate(loader):
            if i == n_batches:
                break
            yield x, y

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    torch.manual_seed(0)
    fast_model = build("bn_cnn", mean=info.mean, std=info.std).to(memory_format=torch.channels_last)
    plain_model = build("bn_cnn", mean=info.mean, std=info.std)
    _train_steps(fast_model, lambda: iter([next(fast_batches())]), True)  # warm-up
    _train_steps(plain_model, lambda: iter([next(plain_batches())]), False)
    fast_s = timed(lambda: _train_steps(fast_model, fast_batches, True))
    plain_s = timed(lambda: _train_steps(plain_model, plain_batches, False))
    n = n_batches * batch_size
    print(f"bn_cnn training, {n_batches} batches of {batch_size} with augmentation:")
    print(f"  in-memory + channels_last: {n / fast_s:8.0f} images/s")
    print(f"  DataLoader + channels-first: {n / plain_s:6.0f} images/s")
    print(f"  ratio: {plain_s / fast_s:.2f}x faster")

    test = load_split("mnist", train=False, data_dir=data_dir)
    xt = test.floats()[:5000]
    fast_model.eval()
    plain_model.eval()
    plain_test = MNIST(str(resolve_data_dir(data_dir)), train=False, transform=T.ToTensor())
    plain_test = torch.utils.data.Subset(plain_test, range(5000))

    @torch.inference_mode()
    def eval_fast():
        for i in range(0, len(xt), 1000):
            fast_model(xt[i : i + 1000].contiguous(memory_format=torch.channels_last))

    @torch.inference_mode()
    def eval_plain():
        for x, _ in torch.utils.data.DataLoader(plain_test, batch_size=1000):
            plain_model(x)

    ef = statistics.median(timed(eval_fast) for _ in range(3))
    ep = statistics.median(timed(eval_plain) for _ in range(3))
    print("bn_cnn evaluation, 5,000 test images (median of 3):")
    print(f"  in-memory + channels_last: {len(xt) / ef:8.0f} images/s")
    print(f"  DataLoader + channels-first: {len(xt) / ep:6.0f} images/s")
    print(f"  ratio: {ep / ef:.2f}x faster")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--skip-fast", action="store_true")
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_fast:
        fast_recipe(args.data_dir)
    throughput(args.data_dir, args.batches, args.batch_size)


if __name__ == "__main__":
    main()

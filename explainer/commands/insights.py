"""``explainer insights CHECKPOINT --out DIR``: figures of what is inside a trained network."""

from __future__ import annotations

import argparse

HELP = "write figures of what a network learned: activations, filters' favourite digits, maps"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from explainer.commands import add_checkpoint, add_data_dir, add_snapshots

    add_checkpoint(p)
    p.add_argument("--out", required=True, help="folder for the PNG figures and insights.json")
    p.add_argument(
        "-n",
        "--images",
        type=int,
        default=2000,
        help="test digits for the statistics (default 2000; the bundled 500 without the dataset)",
    )
    p.add_argument(
        "--embedding",
        nargs="*",
        choices=["pca", "tsne"],
        default=["pca", "tsne"],
        help="projections of the penultimate layer to draw (default: pca tsne; t-SNE takes "
        "~10 s per 1000 digits)",
    )
    p.add_argument("--embedding-size", type=int, default=1000, help="digits in the map (1000)")
    p.add_argument("--index", type=int, default=0, help="which loaded digit to explain (0)")
    p.add_argument("--theme", choices=["light", "dark"], default="light")
    p.add_argument("--dpi", type=int, default=100)
    add_snapshots(p)
    add_data_dir(p)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from explainer.commands import draw_to_files

    draw_to_files()  # before pyplot draws its first figure
    import matplotlib.pyplot as plt

    from explainer.analysis import attribution
    from explainer.analysis.embedding_map import embedding, plot_embedding
    from explainer.analysis.snapshots import evolution, plot_evolution
    from explainer.analysis.strength import activation_strength, plot_activation_strength
    from explainer.analysis.top_digits import plot_top_activating, top_activating
    from explainer.commands import snapshot_files
    from explainer.data import load_test_or_sample
    from explainer.errors import ExplainerError
    from explainer.io import atomic_write, check_writable, write_text_atomic
    from explainer.nets.calibration import temperature_of
    from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint

    if args.images < 1:
        raise ExplainerError("--images must be at least 1")
    check_writable(args.out, folder=True)
    ckpt = load_checkpoint(resolve_checkpoint(args.checkpoint), code=args.code)
    snapshots = snapshot_files(args.snapshots, ckpt) if args.snapshots else None
    split, full = load_test_or_sample(ckpt.dataset, args.data_dir)
    n = min(args.images, len(split))
    images, labels = split.images[:n], split.labels[:n]
    if not 0 <= args.index < n:
        raise ExplainerError(f"--index {args.index} is out of range: 0 to {n - 1}")
    out = Path(args.out)
    where = "test digits" if full else "bundled sample digits (no dataset found)"
    print(f"{ckpt.name}: {n} {where}")
    written: list[Path] = []
    summary: dict = {"checkpoint": ckpt.name, "images": n, "full_test_set": full}

    def save(fig, name: str) -> None:
        path = out / name
        with atomic_write(path) as tmp:
            fig.savefig(tmp, dpi=args.dpi, facecolor=fig.get_facecolor())
        plt.close(fig)
        written.append(path)
        print(f"  wrote {path}")

    strength = activation_strength(ckpt.model, images)
    save(plot_activation_strength(strength, theme=args.theme), "activation_strength.png")
    summary["layers"] = [
        {
            "name": s.name,
            "channels": s.channels,
            "mean": round(float(s.mean.mean()), 5),
            "zero_fraction": round(float(s.zero_fraction.mean()), 4),
            "dead_channels": int(s.dead.sum()),
        }
        for s in strength.layers
    ]

    convs = attribution.conv_module_names(ckpt.model)
    for layer in dict.fromkeys([*convs[:1], *convs[-1:]]):
        top = top_activating(ckpt.model, images, layer, channels=range(8), k=9, labels=labels)
        fig = plot_top_activating(top, class_names=ckpt.class_names, theme=args.theme)
        save(fig, f"top_activating_{layer.replace('.', '_')}.png")

    image = images[args.index].float().numpy() / 255.0
    t = temperature_of(ckpt.raw or {})
    maps = [
        attribution.saliency(ckpt.model, image, temperature=t),
        attribution.saliency(ckpt.model, image, smooth=32, temperature=t),
    ]
    if convs:
        maps.append(attribution.grad_cam(ckpt.model, image, temperature=t))
    title = f"{ckpt.name}: digit {args.index} (label {ckpt.class_names[int(labels[args.index])]})"
    fig = attribution.plot_attributions(
        maps, class_names=ckpt.class_names, title=title, theme=args.theme
    )
    save(fig, "attribution.png")
    if convs:
        fig = attribution.plot_class_evidence(
            attribution.grad_cam_all(ckpt.model, image, temperature=t),
            class_names=ckpt.class_names,
            theme=args.theme,
        )
        save(fig, "class_evidence.png")

    for method in args.embedding:
        emb = embedding(ckpt.model, images, labels, method=method, n=args.embedding_size)
        fig = plot_embedding(emb, class_names=ckpt.class_names, theme=args.theme)
        save(fig, f"embedding_{method}.png")
        summary[f"embedding_{method}_misclassified"] = int(emb.wrong.sum())

    try:
        paths = snapshots or snapshot_files(None, ckpt)
    except (ImportError, ExplainerError) as exc:
        print(f"  no training evolution: {exc}")
    else:
        traces = evolution(paths, image, label=int(labels[args.index]), code=args.code)
        save(plot_evolution(traces, theme=args.theme), "evolution.png")

    write_text_atomic(out / "insights.json", json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(written)} figures and {out / 'insights.json'}")
    return 0

"""``export_page``: a model as one static folder in which learners draw and watch it think.

The folder holds ``index.html`` and its assets, nothing else: the page's script and styles,
the library's preprocessing ported to JavaScript (``preprocess.js``), the network as an ONNX
graph whose outputs are every layer's value (``model.js``, see
:mod:`explainer.webpage.onnx_export`) and onnxruntime-web's single-threaded wasm runtime
(``ort.wasm.min.js`` and ``runtime.js``), vendored into the package at build time
(``make vendor-web``). The graph and the wasm travel inside ``.js`` files, so the page works
from any static host and from ``file://`` alike, with no network at all.

Everything is computed and checked before the first file is written: a model the page cannot
compute is one line naming the operation, and the folder is left as it was.
"""

from __future__ import annotations

import base64
import html
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from torch import nn

from explainer.errors import ExplainerError
from explainer.io import atomic_write, check_writable
from explainer.nets.checkpoints import Checkpoint, load_checkpoint
from explainer.nets.not_a_digit import Detector, detector_for
from explainer.nets.ood import OodRule
from explainer.tracing.capture import capture, capture_checkpoint
from explainer.tracing.trace import Trace
from explainer.webpage.manifest import manifest
from explainer.webpage.onnx_export import detector_model, onnx_model

__all__ = ["ASSETS", "ModelLike", "export_page", "page_files"]

ModelLike = str | os.PathLike | Checkpoint | nn.Module
ASSETS = ("page.js", "page.css", "preprocess.js")  # copied as they are
VENDOR = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm.gz")


def _package_file(*parts: str) -> bytes:
    return resources.files("explainer.webpage").joinpath(*parts).read_bytes()


def _vendor(name: str) -> bytes:
    try:
        return _package_file("vendor", name)
    except FileNotFoundError:
        raise ExplainerError(
            f"the browser runtime is missing from this install (explainer/webpage/vendor/{name});"
            " run `make vendor-web` in the repository, or reinstall mnist-explainer"
        ) from None


def _script(variable: str, value: dict[str, Any]) -> str:
    """A ``.js`` file that sets ``window.<variable>``: the page loads it with a plain
    ``<script>`` tag, which works from ``file://`` where ``fetch`` of a local file does not."""
    text = json.dumps(value, separators=(",", ":")).replace("</", "<\\/")
    return f"window.{variable} = {text};\n"


def _trace(
    model: ModelLike, code: str | None
) -> tuple[nn.Module, Trace, OodRule | None, Detector | None]:
    """The model, its Trace of a bundled test digit, and its "not a digit" rule and detector
    (each ``None`` when the model has none), as :class:`~explainer.reading.predict.Predictor`
    finds them."""
    from explainer.data import load_sample

    if isinstance(model, (str, os.PathLike)):
        model = load_checkpoint(model, code=code)
    if isinstance(model, Checkpoint):
        image = load_sample(model.dataset).floats()[0, 0]
        raw = model.raw or {}
        ood, detector = OodRule.from_raw(raw), detector_for(model)
        return model.model, capture_checkpoint(model, image), ood, detector
    if not isinstance(model, nn.Module):
        raise ExplainerError(
            f"export_page takes a checkpoint path, a shipped model's name, a Checkpoint or an "
            f"nn.Module, not a {type(model).__name__}"
        )
    return model, capture(model.eval(), load_sample().floats()[0, 0]), None, None


def page_files(
    model: ModelLike, *, title: str | None = None, code: str | None = None
) -> dict[str, str | bytes]:
    """Every file of the page, by its name in the folder (nothing is written)."""
    net, trace, ood, detector = _trace(model, code)
    graph = onnx_model(net, trace)
    name = trace.checkpoint or trace.architecture
    title = title or f"How {name} reads {'a digit' if trace.dataset == 'mnist' else 'a picture'}"
    info = manifest(trace, title=title, ood=ood, detector=detector)
    scripts = {"manifest": info, "onnx": base64.b64encode(graph).decode("ascii")}
    if detector is not None:
        found = detector_model(detector.net, trace.image)
        scripts["detector"] = base64.b64encode(found).decode("ascii")
    files: dict[str, str | bytes] = {a: _package_file("assets", a) for a in ASSETS}
    index = _package_file("assets", "index.html").decode("utf-8")
    files["index.html"] = index.replace("{{TITLE}}", html.escape(title))
    files["model.js"] = _script("EXPLAINER_MODEL", scripts)
    files["runtime.js"] = _script(
        "EXPLAINER_RUNTIME",
        {
            "version": _vendor("VERSION").decode("ascii").strip(),
            "glue": _vendor(VENDOR[1]).decode("utf-8"),
            "wasm_gz": base64.b64encode(_vendor(VENDOR[2])).decode("ascii"),
        },
    )
    files[VENDOR[0]] = _vendor(VENDOR[0])
    files["LICENSE-onnxruntime-web.txt"] = _vendor("LICENSE")
    return files


def export_page(
    model: ModelLike,
    out: str | os.PathLike = "site",
    *,
    title: str | None = None,
    code: str | None = None,
) -> Path:
    """Write the interactive page of ``model`` into the folder ``out``; returns
    ``out/index.html``.

    ``model``: a checkpoint path or shipped name (``"mnist_bn_cnn"``; ``code`` imports a
    user's class as :func:`~explainer.nets.checkpoints.load_checkpoint` does), a loaded
    Checkpoint (its calibration temperature and "not a digit" rule go along) or any
    ``nn.Module`` taking ``(N, 1, 28, 28)`` digits in [0, 1]. Files of the same names in
    ``out`` are replaced; nothing is written when the model cannot be exported.

    Example:

    >>> import tempfile
    >>> from explainer import export_page
    >>> index = export_page("mnist_fast_cnn", tempfile.mkdtemp())
    >>> index.name, sorted(p.name for p in index.parent.glob("*.js"))[:3]
    ('index.html', ['model.js', 'ort.wasm.min.js', 'page.js'])
    """
    folder = check_writable(out, folder=True)
    files = page_files(model, title=title, code=code)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        with atomic_write(folder / name) as tmp:
            tmp.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return folder / "index.html"

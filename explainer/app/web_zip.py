"""The Export page's web page: the chosen model's interactive page
(:func:`explainer.webpage.exporter.export_page`) as one ``.zip`` to download (a helper module,
not a page).

The folder is built in a temporary directory and zipped in memory, with ``index.html`` at the
zip's root (as an LMS's "upload and extract" wants it). Zips are kept with
``st.cache_resource`` keyed by the checkpoint's sha256 and name, at most :data:`KEPT` of them
(each well under :data:`MAX_BYTES`), so a rerun never rebuilds one and twenty sessions
exporting the same model share one copy; a model the page cannot compute is kept as its
one-line refusal, never retried on each rerun.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from explainer.errors import ExplainerError
from explainer.extras import require
from explainer.nets.checkpoints import Checkpoint

KEPT = 3  # zips kept by the process
MAX_BYTES = 20 * 1024 * 1024  # a larger page is refused here: the command line writes it


def model_sha256(ckpt: Checkpoint) -> str:
    """The sha256 the page of ``ckpt`` is cached under: its file's (a shipped model, or
    ``EXPLAINER_APP_MODEL``), its upload's bytes', else its weights' (a model trained here)."""
    if ckpt.sha256:
        return ckpt.sha256
    key = ckpt.__dict__.get("_app_key", "")
    if key.startswith("upload:"):
        return key
    h = hashlib.sha256(ckpt.architecture.encode())
    for name, tensor in ckpt.model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def zipped(folder: Path) -> bytes:
    """Every file of ``folder`` (flat), in a zip held in memory, deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, path.name)
    return buf.getvalue()


@st.cache_resource(max_entries=KEPT, show_spinner=False)
def _page_zip(sha256: str, name: str, _ckpt: Checkpoint) -> bytes | str:
    from explainer.webpage.exporter import export_page

    with tempfile.TemporaryDirectory(prefix="explainer-page-") as tmp:
        try:
            index = export_page(_ckpt, Path(tmp) / "site")
        except ExplainerError as exc:
            return str(exc)
        data = zipped(index.parent)
    if len(data) > MAX_BYTES:
        return (
            f"the page of {name} is {len(data) / 2**20:.0f} MB zipped, more than the app hands "
            f"out ({MAX_BYTES / 2**20:.0f} MB); write it with `explainer export-page`"
        )
    return data


def page_zip(ckpt: Checkpoint) -> bytes:
    """The zipped page of ``ckpt`` (built once per checkpoint version, see the module's doc);
    a one-line :class:`~explainer.errors.ExplainerError` when the ``web`` extra is missing or
    the page cannot compute the model (naming the operation)."""
    require("web", "The web page export")
    got = _page_zip(model_sha256(ckpt), ckpt.name, ckpt)
    if isinstance(got, str):
        raise ExplainerError(got)
    return got

"""``notebooks/walkthrough.ipynb`` runs top to bottom offline on the bundled sample (any cell
error fails the test) and shows its pictures inline: the Trace's own HTML, the animations, the
figures.

The executed copy and every picture it showed go to ``test-artifacts/notebook/`` for review.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "walkthrough.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "notebook"


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if kind in o]


def _keep(nb, seconds: float) -> None:
    import nbformat

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, ARTIFACTS / NOTEBOOK.name)
    n = 0
    for i, c in enumerate(nb.cells):
        for o in c.get("outputs", []):
            png = o.get("data", {}).get("image/png")
            if png:
                n += 1
                (ARTIFACTS / f"cell{i:02d}_{n}.png").write_bytes(base64.b64decode(png))
    (ARTIFACTS / "seconds.txt").write_text(f"{seconds:.1f}\n")


def test_walkthrough_runs_offline_and_shows_its_pictures(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # offline, on the bundled sample: no dataset folder, nothing written into the checkout
    monkeypatch.setenv("EXPLAINER_DATA_DIR", str(tmp_path / "no-data"))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.delenv("EXPLAINER_MODELS_DIR", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not _outputs(nb, "output_type"), "commit the notebook without outputs"
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    start = time.monotonic()
    client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.monotonic() - start
    _keep(nb, seconds)

    html = [o["data"]["text/html"] for o in _outputs(nb, "data") if "text/html" in o["data"]]
    traces = [h for h in html if "<table" in h and "block1.conv1" in h]
    assert traces, "a Trace at the end of a cell shows its HTML table"
    assert "data:image/png;base64," in traces[0]
    gifs = [h for h in html if h.startswith("<img src=\"data:image/gif;base64,")]
    assert len(gifs) >= 3, "forward, convolution and the own model's forward animations"
    figures = [o for o in _outputs(nb, "data") if "image/png" in o["data"]]
    assert len(figures) >= 6
    errors = [o for o in _outputs(nb, "output_type") if o["output_type"] == "error"]
    assert errors == []
    assert not any(os.scandir(tmp_path / "no-data")) if (tmp_path / "no-data").exists() else True
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["no-data"])

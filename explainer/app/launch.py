"""What the app does at launch and for long work (a helper module, not a page).

- :func:`page_icon`: the browser tab's icon, drawn here from a bundled digit (a Material icon
  would be fetched from fonts.gstatic.com: no internet, no icon);
- :func:`first_page_first`: the warm-up waits while the first page after launch is drawn;
- :func:`warm_up`: queue :mod:`explainer.app.warmup` for the sidebar's model (once per checkpoint
  file version and process, ahead of any other model's) and show its progress in the sidebar,
  refreshed every 2 s until done; called by the router on every run;
- :func:`render`: an animation rendered with visible progress (``st.status``: preparing the
  data, drawing, then a bar over the frames written).

``EXPLAINER_WARMUP=0`` turns the background warm-up off (pages then compute on first view).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image

from explainer.app import compute, model_choice, warmup
from explainer.errors import ExplainerError
from explainer.nets.checkpoints import Checkpoint

_started: set[str] = set()  # per process: model keys already queued
_first_page_shown = False  # per process: the first page after launch has been drawn


def enabled() -> bool:
    return os.environ.get("EXPLAINER_WARMUP", "1").strip().lower() not in ("0", "no", "off")


def training_snapshots(ckpt: Checkpoint) -> list[Path]:
    """The snapshots the Training page shows for ``ckpt``: its own, else those of the first
    shipped model of its dataset that has some."""
    from explainer.analysis.snapshots import snapshot_paths

    if ckpt.path is not None and (own := snapshot_paths(ckpt, final=False, strict=False)):
        return own
    for other in model_choice.shipped_models(ckpt.dataset).values():
        if found := snapshot_paths(other, final=False, strict=False):
            return found
    return []


def start(ckpt: Checkpoint) -> None:
    """Queue everything the slow pages need about ``ckpt`` (first in line), once."""
    if not enabled() or ckpt.path is None:
        return
    key = model_choice.model_key(ckpt)
    if key in _started:
        return
    _started.add(key)
    try:
        tasks = warmup.app_tasks(
            ckpt, training_snapshots(ckpt), top_k=compute.TOP_K, embed_n=compute.EMBED_MAX
        )
    except ExplainerError:
        return  # a model the warm-up cannot plan for: its pages compute on first view
    warmup.submit(tasks, first=True)


@contextmanager
def first_page_first() -> Iterator[None]:
    """Around the router's run: the process's first run (the page a teacher opens after
    launch) holds the warm-up, so its tasks start when that page is drawn instead of taking
    turns with it on the CPU (one core: about a fifth of the Draw page's first view)."""
    global _first_page_shown
    if _first_page_shown:
        yield
        return
    warmup.WARMUP.hold()
    try:
        yield
    finally:
        _first_page_shown = True
        warmup.WARMUP.release()


def warm_up() -> None:
    """Start the warm-up of the sidebar's model (see :func:`start`) and show its progress;
    called after ``common.sidebar()``, so the bar sits under the dataset switch, the model
    picker and the presenter toggle (a teacher finds them where they always are)."""
    models = model_choice.all_models(model_choice.current_dataset())
    wanted = st.session_state.get("model") or os.environ.get("EXPLAINER_APP_MODEL", "")
    wanted = Path(wanted).stem if wanted.endswith(".pt") else wanted  # as common.sidebar()
    ckpt = models.get(wanted) or next(iter(models.values()), None)
    if ckpt is not None:
        start(ckpt)
    sidebar_progress()


def sidebar_progress() -> None:
    """While the warm-up runs: a progress bar in the sidebar (refreshed every 2 s); when it
    ends, one rerun of the page, which then reads the results."""
    if enabled() and not warmup.progress().finished:
        with st.sidebar:
            _live_progress()


@st.fragment(run_every=2.0)
def _live_progress() -> None:
    p = warmup.progress()
    if p.finished:
        st.rerun()
    # one short line: the picker above stays where it is while the count goes up
    st.progress(p.fraction, text=f"Preparing the pages: {min(p.done + 1, p.total)} of {p.total}")


@st.cache_resource(show_spinner=False)
def page_icon() -> Image.Image:
    """A 64×64 icon: a bundled test digit in the app's accent colour, on transparent."""
    from explainer.data import load_sample
    from explainer.style import THEMES, hex_to_rgb

    s = load_sample("mnist")
    ink = s.images[int((s.labels == 7).nonzero()[0, 0])].numpy()
    ink = np.kron(np.pad(ink, 2), np.ones((2, 2), np.uint8))
    rgba = np.zeros((*ink.shape, 4), np.uint8)
    rgba[..., :3] = hex_to_rgb(THEMES["light"].accent)
    rgba[..., 3] = ink
    return Image.fromarray(rgba, "RGBA")


class _ReportingReel:
    """A reel whose frames, when read, move a progress callback ``(done, total)``."""

    def __init__(self, reel: Any, report: Callable[[int, int], None]) -> None:
        self._reel, self._report = reel, report

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reel, name)

    def _counted(self, frames: Iterator) -> Iterator:
        n = self._reel.n_frames
        for i, frame in enumerate(frames):
            self._report(i, n)
            yield frame
        self._report(n, n)

    def frames(self) -> Iterator:
        return self._counted(self._reel.frames())

    def indexed_frames(self) -> Iterator:
        return self._counted(self._reel.indexed_frames())


def render(
    kind: str,
    trace: Any,
    out: Path,
    *,
    prepare: Callable[[], dict] | None = None,
    **kwargs: Any,
) -> float:
    """Render the ``kind`` animation to ``out`` (as
    :func:`explainer.animate.render_animation`, ``kwargs`` included) inside an ``st.status``
    that says each step: ``prepare()`` (the options the animation reads, e.g. a training
    evolution), drawing, and a bar over the frames written. Returns the seconds taken."""
    from explainer.animate import build_animation
    from explainer.animate.writer import check_extension, save

    check_extension(out)
    t0 = time.perf_counter()
    with st.status("Rendering…", expanded=True) as status:
        if prepare is not None:
            st.write("Preparing the numbers the animation shows…")
            kwargs.update(prepare())
        st.write("Drawing the pictures…")
        reel = build_animation(kind, trace, **kwargs)
        bar = st.progress(0.0, text=f"writing {reel.n_frames} frames…")
        last = [0.0]

        def report(done: int, total: int) -> None:
            now = time.perf_counter()
            if done < total and now - last[0] < 0.3:
                return
            last[0] = now
            text = f"frame {done} of {total}" if done < total else "compressing the file…"
            bar.progress(done / max(total, 1), text=text)

        save(_ReportingReel(reel, report), out)
        secs = time.perf_counter() - t0
        status.update(label=f"Rendered in {secs:.1f} s", state="complete", expanded=False)
    return secs

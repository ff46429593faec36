"""Compute in the background what the app's slow pages need, so they open at once.

One worker thread per process (started by the first :func:`submit`) runs :class:`Task`\\ s in
order; each computes a result through :mod:`explainer.analysis.cache`, so it lands on disk, keyed
by the
checkpoint's hash, and the next launch only reads it. :func:`app_tasks` lists what the app's
pages ask for about one checkpoint (its test-set evaluation for Mistakes, the top digits of
every conv layer and the embedding maps for Inside the filters, the evaluation of each epoch
snapshot for Training and its GIF); :func:`progress` says how far it is, for ``st.progress``.

A page that asks for a result the worker is computing waits for it (the cache computes each
key once), so the worker keeps the normal CPU priority: at ``nice`` 10 on the busy 2-core
development machine it got a small share of the CPU (36 s in 7 minutes) and such a page
waited with it (``Warmup(nice=10)`` still lowers it, on Linux). A task that fails is
logged and skipped: the page that needs the result computes it itself and shows its own
message.

When the process exits (a Streamlit server stopped, an ``AppTest`` script ending) the worker
is stopped first: the tasks not started are dropped and the running one is interrupted, so no
thread is inside torch while Python finalizes (that aborted the process with status 134).

``python -m explainer.app.warmup [--model NAME ...]`` fills the cache ahead of time (e.g. before a
class), with a progress line.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from explainer.analysis import cache, results

if TYPE_CHECKING:
    from explainer.nets.checkpoints import Checkpoint

TOP_K = 6  # the Inside-the-filters page's digits per filter
EMBED_MAX = 2000  # its embedding map's points
METHODS = ("pca", "tsne")
STOP_TIMEOUT = 30.0  # seconds the exit waits for an interrupted task to give the thread back
NICE = 0  # no lower CPU priority by default: a page waiting for a result must not wait longer

log = logging.getLogger(__name__)


@dataclass
class Task:
    """One unit of warm-up: ``run()`` computes (and caches) something; ``key`` makes a task
    submitted twice run once; ``label`` is what the progress bar says meanwhile."""

    key: str
    label: str
    run: Callable[[], Any]


@dataclass
class Progress:
    """``done`` of ``total`` tasks run (``failed`` of them failed), ``current`` the running
    task's label (empty when idle), ``seconds`` from the first task of this round of work to
    the last one's end (or to now, while it runs)."""

    done: int
    total: int
    current: str
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return self.done >= self.total

    @property
    def fraction(self) -> float:
        return 1.0 if self.total == 0 else min(1.0, self.done / self.total)

    def text(self) -> str:
        if self.finished:
            return f"Pages ready ({self.total} results prepared)"
        doing = f": {self.current}" if self.current else ""
        return f"Preparing the pages ({self.done + 1}/{self.total}){doing}…"


class Warmup:
    """A queue of :class:`Task` run by one daemon thread, started on the first submit and
    stopped (:meth:`stop`) at interpreter exit."""

    def __init__(self, nice: int = NICE) -> None:
        self.nice = nice
        self._cond = threading.Condition()
        self._queue: deque[Task] = deque()
        self._seen: set[str] = set()
        self._thread: threading.Thread | None = None
        self._done = self._total = 0
        self._current = ""
        self._failed: list[str] = []
        self._since = time.monotonic()
        self._took = 0.0
        self._stopping = False
        self._held = 0  # holds taken (hold/release): no new task starts while any is held

    def submit(self, tasks: Iterable[Task], *, first: bool = False) -> int:
        """Queue the tasks not submitted before, in order, after those waiting (before them
        when ``first``: the model a learner just picked goes ahead); how many were new."""
        with self._cond:
            if self._stopping:
                return 0
            new = [t for t in tasks if t.key not in self._seen]
            if new and self.progress().finished:
                self._done = self._total = 0
                self._since = time.monotonic()
            self._seen.update(t.key for t in new)
            if first:
                self._queue.extendleft(reversed(new))
            else:
                self._queue.extend(new)
            self._total += len(new)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="warmup", daemon=True)
                self._thread.start()
                atexit.register(self.stop)
            self._cond.notify_all()
            return len(new)

    def hold(self) -> None:
        """Start no new task until :meth:`release` (a task already running finishes): the
        app holds the warm-up while the first page after launch is drawn."""
        with self._cond:
            self._held += 1

    def release(self) -> None:
        """Undo one :meth:`hold`; the queue goes on when none is left."""
        with self._cond:
            self._held = max(0, self._held - 1)
            self._cond.notify_all()

    def progress(self) -> Progress:
        with self._cond:
            busy = self._done < self._total
            took = time.monotonic() - self._since if busy else self._took
            return Progress(self._done, self._total, self._current, list(self._failed), took)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every submitted task has run (True), or ``timeout`` seconds (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._done < self._total:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _lower_priority(self) -> None:
        if self.nice and hasattr(os, "setpriority") and hasattr(threading, "get_native_id"):
            with contextlib.suppress(OSError):  # per thread on Linux; elsewhere best effort
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self.nice)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """End the worker: drop the tasks not started, interrupt the one running (a
        :class:`WarmupStopped` raised in the worker at its next Python instruction) and join
        the thread. Run at interpreter exit (the first submit registers it): a worker still
        inside torch while Python finalizes aborts the process ("terminate called without an
        active exception", status 134) instead of letting it exit with its own status."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            thread = self._thread
            if thread is not None and self._current:
                _interrupt(thread, WarmupStopped)
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        self._lower_priority()
        try:
            while (task := self._next()) is not None:
                self._run(task)
        except WarmupStopped:
            pass  # stop() ended the running task: the process is exiting
        finally:
            with self._cond:
                self._current = ""
                self._total = self._done  # the dropped tasks will not run: nobody waits for them
                self._cond.notify_all()

    def _next(self) -> Task | None:
        """The next task, waiting for one; ``None`` once stopping."""
        with self._cond:
            while (not self._queue or self._held) and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            task = self._queue.popleft()
            self._current = task.label
            return task

    def _run(self, task: Task) -> None:
        try:
            task.run()
        except Exception as exc:  # a failed warm-up only means the page computes it
            why = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            log.warning("warm-up: %s failed: %s", task.label, why)
            with self._cond:
                self._failed.append(f"{task.label}: {why}")
        with self._cond:
            self._done += 1
            self._current = ""
            self._took = time.monotonic() - self._since
            self._cond.notify_all()


class WarmupStopped(BaseException):
    """Raised inside the worker thread by :meth:`Warmup.stop` to end the running task (a
    ``BaseException``, so a task's ``except Exception`` does not swallow it)."""


def _interrupt(thread: threading.Thread, exc: type[BaseException]) -> None:
    """Raise ``exc`` in ``thread`` at its next Python instruction (CPython's
    ``PyThreadState_SetAsyncExc``): the way to end a task that knows nothing of stopping."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exc))


WARMUP = Warmup()


def submit(tasks: Iterable[Task], *, first: bool = False) -> int:
    """:meth:`Warmup.submit` on the process's warm-up (started on first use)."""
    return WARMUP.submit(tasks, first=first)


def progress() -> Progress:
    """How far the process's warm-up is."""
    return WARMUP.progress()


# --- what the app's pages need -------------------------------------------------------------


def eval_arrays(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """The digits the app's pages use: the official test set's images ``(N, 28, 28)`` uint8
    and labels when on disk, else the bundled sample's (same values as the app's
    ``common.eval_set``, so the cache keys match)."""
    from explainer.data import load_test_or_sample

    split, _ = load_test_or_sample(dataset)
    return split.images.numpy(), split.labels.numpy()


def filter_page_layers(ckpt: Checkpoint) -> list[str]:
    """Names of the conv layers the Inside-the-filters page offers, in order."""
    from explainer.analysis.arith import conv_records
    from explainer.tracing.capture import capture_checkpoint

    return [r.name for r in conv_records(capture_checkpoint(ckpt, np.zeros((28, 28), np.float32)))]


def _count(dataset: str) -> str:
    from explainer.app.words import item
    from explainer.data import find_data_dir

    items = item(dataset, plural=True)  # "digits", or "items" for Fashion-MNIST
    return f"10,000 test {items}" if find_data_dir(dataset) is not None else f"500 bundled {items}"


def app_tasks(
    ckpt: Checkpoint,
    snapshots: Sequence[str | os.PathLike] = (),
    *,
    top_k: int = TOP_K,
    embed_n: int = EMBED_MAX,
    methods: Sequence[str] = METHODS,
) -> list[Task]:
    """What the slow pages compute for ``ckpt`` (and its epoch ``snapshots``), most needed
    first: the evaluation (Mistakes, the mistakes GIF), the first conv layer's top digits and
    the PCA map (Inside the filters), the newest snapshot then the others (Training, the
    training GIF), the other conv layers, t-SNE. Empty for a checkpoint without a file."""
    sha = ckpt.sha256 if ckpt.path is not None else ""
    if not sha:
        return []
    ds, name, n = ckpt.dataset, ckpt.name, _count(ckpt.dataset)

    def top(layer: str) -> Task:
        def run() -> None:
            images, labels = eval_arrays(ds)
            results.top_activating(ckpt, images, layer, k=top_k, labels=labels)

        what = f"the {n.split()[-1]} exciting {name}'s {layer}"  # digits, or items
        return Task(f"{sha}|top|{layer}|{top_k}", what, run)

    def emb(method: str) -> Task:
        def run() -> None:
            images, labels = eval_arrays(ds)
            results.embedding(ckpt, images, labels, method, embed_n)

        label = f"{name}'s {'PCA' if method == 'pca' else 't-SNE'} map"
        return Task(f"{sha}|emb|{method}|{embed_n}", label, run)

    def snap(path: Path) -> Task:
        def run() -> None:
            from explainer.nets.checkpoints import load_checkpoint

            results.evaluation(load_checkpoint(path))

        return Task(f"snap|{path}|{path.stat().st_mtime_ns}", f"scoring {path.stem} on {n}", run)

    convs = filter_page_layers(ckpt)
    snaps = [Path(p) for p in snapshots]
    tasks = [
        Task(f"data|{ds}", f"reading the {n}", lambda: eval_arrays(ds)),
        Task(f"{sha}|evaluate", f"running {name} on {n}", lambda: results.evaluation(ckpt)),
    ]
    tasks += [top(convs[0])] if convs else []
    tasks += [emb(m) for m in methods[:1]]
    tasks += [snap(p) for p in snaps[-1:] + snaps[:-1]]
    tasks += [top(c) for c in convs[1:]] + [emb(m) for m in methods[1:]]
    return tasks


def main(argv: list[str] | None = None) -> int:
    """``python -m explainer.app.warmup``: fill the results cache for shipped models."""
    from explainer.analysis.snapshots import snapshot_paths
    from explainer.errors import ExplainerError
    from explainer.nets.checkpoints import load_checkpoint, resolve_checkpoint

    ap = argparse.ArgumentParser(prog="python -m explainer.app.warmup", description=__doc__)
    ap.add_argument("--model", action="append", default=[], help="checkpoint name or path")
    args = ap.parse_args(argv)
    try:
        for spec in args.model or ["mnist_bn_cnn"]:
            ckpt = load_checkpoint(resolve_checkpoint(spec))
            snaps = snapshot_paths(ckpt, final=False, strict=False)
            submit(app_tasks(ckpt, snaps))
        while not WARMUP.wait(1.0):
            print(f"\r{progress().text()[:110]:110s}", end="", file=sys.stderr, flush=True)
    except ExplainerError as exc:
        print(f"explainer: error: {exc}", file=sys.stderr)
        return 2
    p = progress()
    print(f"\r{p.text()} in {p.seconds:.0f} s; cache: {cache.cache_dir()}", file=sys.stderr)
    for line in p.failed:
        print(f"  failed: {line}", file=sys.stderr)
    return 1 if p.failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The app server's memory while learners upload checkpoints, good and hostile (issue 23).

A real server (``explainer app``: ``streamlit run`` of the app, warm-up on, the official test
sets when ``EXPLAINER_DATA_DIR`` holds them) and learners that speak the browser's protocol
over the websocket (no browser: 20 chromiums would measure the browsers). Each learner opens
the app, uploads its checkpoint in the sidebar (the browser's way: ask for an upload URL, PUT
the file, rerun with the uploader's state), then visits every page once with that model, and
leaves (the websocket closes). The resident memory of the server process and its children
(psutil) is sampled every 0.1 s throughout.

Three measurements, in one server:

1. one learner at a time uploads each file of the hostile set (``tests/test_hostile_app.py``'s
   damaged checkpoints, a good one, and perturbed copies of the shipped models, the biggest
   5 MB) and visits every page: the peak over all of them (goal: under 1.5 GB);
2. ``--learners`` (20) learners at once, each uploading a file of its own (a distinct model
   each, or a hostile one), each visiting every page: the peak (goal: under 2 GB);
3. after they leave: the memory ``--ttl`` + 15 s later (Streamlit drops a closed session's
   state after ``server.disconnectedSessionTTL``, default 120 s; the bench sets it to ``--ttl``,
   default 20 s), compared with the memory before the first learner came (goal: given back).

Usage: ``python bench/bench_memory.py [--learners 20] [--ttl 20] [--only one|class]``.
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
from bench_class import free_port, wait_healthy  # noqa: E402
from learners import Session  # noqa: E402

GOAL_ONE_MB, GOAL_CLASS_MB = 1536, 2048


# --- the files learners upload -----------------------------------------------------------------


def good_payload() -> dict:
    """tests/conftest.py's good checkpoint: fast_cnn with a history, metrics and a config."""
    from explainer.nets.architectures import build
    from explainer.nets.checkpoints import save_checkpoint

    torch.manual_seed(0)
    model = build("fast_cnn").eval()
    history = [{"epoch": 1, "train_loss": 0.3, "val_accuracy": 0.9, "lr": 1e-3}]
    metrics = {"test_accuracy": 0.9, "test_errors": 1000, "per_class_accuracy": [0.9] * 10}
    with tempfile.TemporaryDirectory() as tmp:
        path = save_checkpoint(Path(tmp) / "good.pt", model, history=history,
                               metrics=metrics, config={"lr": 1e-3, "epochs": 1})  # fmt: skip
        return torch.load(path, weights_only=True)


def to_bytes(payload: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def perturbed_shipped(name: str, seed: int) -> bytes:
    """A shipped checkpoint with its first weight tensor nudged: another model (another
    sha256), as a learner's own training of that architecture would be."""
    from explainer.nets.checkpoints import models_dir

    raw = torch.load(models_dir() / f"{name}.pt", map_location="cpu", weights_only=True)
    state = dict(raw["state_dict"])
    first = next(k for k, v in state.items() if v.is_floating_point())
    gen = torch.Generator().manual_seed(seed)
    state[first] = state[first] + 1e-3 * torch.randn(state[first].shape, generator=gen)
    return to_bytes({**raw, "state_dict": state})


def hostile_files() -> list[tuple[str, bytes]]:
    """``(file name, bytes)``: every damaged checkpoint of tests/test_hostile_app.py, the
    undamaged one, and a perturbed copy of every shipped CNN (the biggest is 5 MB)."""
    from test_hostile_app import UPLOAD_DAMAGE

    good = good_payload()
    files = [(f"bad{i:02d}.pt", to_bytes({**good, **change}))
             for i, (_, change) in enumerate(UPLOAD_DAMAGE)]  # fmt: skip
    files.append(("good.pt", to_bytes(good)))
    for i, name in enumerate(["mnist_basic_cnn", "mnist_bn_cnn", "mnist_cnn3_fc3",
                              "fashion_mnist_bn_cnn", "mnist_tinyvgg", "mnist_mlp"]):  # fmt: skip
        files.append((f"own_{name}.pt", perturbed_shipped(name, seed=i)))
    return files


def class_files(n: int, hostile: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """``n`` uploads for a class at once: every other learner a distinct model of its own (a
    perturbed copy of a shipped model, cycling through them), the others a damaged file."""
    names = ["mnist_bn_cnn", "mnist_basic_cnn", "mnist_fast_cnn", "mnist_cnn3_fc3",
             "fashion_mnist_bn_cnn", "mnist_tinyvgg"]  # fmt: skip
    bad = [f for f in hostile if f[0].startswith("bad")]
    out = []
    for i in range(n):
        if i % 2 == 0:
            name = names[(i // 2) % len(names)]
            out.append((f"learner{i:02d}_{name}.pt", perturbed_shipped(name, seed=100 + i)))
        else:
            out.append(bad[(i // 2) % len(bad)])
    return out


# --- the server and its memory -----------------------------------------------------------------


def start_server(port: int, ttl: int, log: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "explainer", "app", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        "--server.enableXsrfProtection", "false", "--server.disconnectedSessionTTL", str(ttl),
    ]  # fmt: skip
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


class Sampler(threading.Thread):
    """RSS of a process and its children, every ``every`` seconds; :meth:`peak` since a mark."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.proc, self.every = psutil.Process(pid), every
        self.samples: list[tuple[float, float]] = []
        self.stopped = threading.Event()

    def rss_mb(self) -> float:
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):  # a child that just ended
                total += p.memory_info().rss
        return total / 2**20

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append((time.monotonic(), self.rss_mb()))
            time.sleep(self.every)

    def peak(self, since: float) -> float:
        return max((mb for t, mb in self.samples if t >= since), default=0.0)


# --- a learner: the browser's protocol over the websocket (bench/learners.py) --------------------


@dataclass
class Learner(Session):
    """One browser session: ``upload`` a file, then visit every page."""

    name: str = ""
    data: bytes = b""
    warnings: list[str] = field(default_factory=list)
    uploader: str = ""
    upload_state: object = None
    models: set[str] = field(default_factory=set)  # the sidebar's model label after the upload

    async def run(self, visit: bool = True) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.Common_pb2 import FileURLsRequest

        async with self.connect() as ws:
            self.ws = ws
            await self.rerun("")
            msg = BackMsg(file_urls_request=FileURLsRequest(
                request_id="up1", file_names=[self.name], session_id=self.session))  # fmt: skip
            await ws.send(msg.SerializeToString())
            urls = await self.until("file_urls_response")
            file_urls = urls.file_urls_response.file_urls[0]
            await asyncio.to_thread(self.put, file_urls.upload_url)
            self.upload_state = (file_urls, len(self.data))
            await self.rerun("")
            for path, page in list(self.pages.items()) if visit else []:
                await self.rerun(page, path)

    def put(self, upload_url: str) -> None:
        files = {"file": (self.name, self.data, "application/octet-stream")}
        got = requests.put(self.base + upload_url, files=files, timeout=120)
        if got.status_code >= 300:
            self.warnings.append(f"upload refused by the server: HTTP {got.status_code}")

    def more_states(self) -> list:
        from streamlit.proto.Common_pb2 import FileUploaderState, UploadedFileInfo
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        if self.upload_state is None or not self.uploader:
            return []
        file_urls, size = self.upload_state
        info = UploadedFileInfo(file_id=file_urls.file_id, name=self.name, size=size,
                                file_urls=file_urls)  # fmt: skip
        files = FileUploaderState(uploaded_file_info=[info])
        return [WidgetState(id=self.uploader, file_uploader_state_value=files)]

    def note(self, el, page: str) -> None:
        super().note(el, page)
        what = el.WhichOneof("type")
        if what == "file_uploader":
            self.uploader = el.file_uploader.id
        elif what == "alert" and el.alert.format == 2 and Path(self.name).stem in el.alert.body:
            # a warning naming the file: the upload refused
            self.warnings.append(el.alert.body[:120])
        elif what in ("selectbox", "radio"):
            box = getattr(el, what)
            if box.label == "Model" and page != "draw":
                self.models.add(self.choices[box.id])


async def learners_at_once(base: str, files: list[tuple[str, bytes]]) -> list[Learner]:
    group = [Learner(base, name=name, data=data) for name, data in files]
    done = await asyncio.gather(*(lr.run() for lr in group), return_exceptions=True)
    for lr, res in zip(group, done, strict=True):
        if isinstance(res, BaseException):
            lr.errors.append(f"client: {type(res).__name__}: {str(res)[:120]}")
    return group


# --- the report --------------------------------------------------------------------------------


def settle(sampler: Sampler, seconds: float) -> float:
    """The memory after ``seconds`` of quiet (the last sample)."""
    time.sleep(seconds)
    return sampler.rss_mb()


def report_errors(group: list[Learner]) -> int:
    bad = [(lr.name, e) for lr in group for e in lr.errors]
    for lr in group:  # a good file must have become the model every page showed
        mine = f"{Path(lr.name).stem} (uploaded)"
        if not lr.warnings and not (lr.models and all(m.startswith(mine) for m in lr.models)):
            bad.append((lr.name, f"pages showed {sorted(lr.models)}, not {mine}"))
    for name, e in bad[:10]:
        print(f"    ERROR {name}: {e}")
    return len(bad)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--learners", type=int, default=20)
    ap.add_argument("--ttl", type=int, default=20, help="server.disconnectedSessionTTL, seconds")
    ap.add_argument("--only", choices=["one", "class"], help="only one of the two runs")
    args = ap.parse_args()
    hostile = hostile_files()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp()) / "server.log"
    server = start_server(port, args.ttl, log)
    ok = True
    try:
        wait_healthy(base, server, log)
        sampler = Sampler(server.pid)
        sampler.start()
        asyncio.run(learners_at_once(base, [("good.pt", to_bytes(good_payload()))]))
        idle = settle(sampler, args.ttl + 15)  # the server warmed up, the session gone
        load = os.getloadavg()[0]
        print(f"server memory (RSS, with children); load average {load:.1f} at start, "
              f"{os.cpu_count()} CPUs; idle after one visit: {idle:.0f} MB")  # fmt: skip
        if args.only in (None, "one"):
            start, worst, refused, errors = time.monotonic(), ("", 0.0), 0, 0
            for name, data in hostile:
                t = time.monotonic()
                (lr,) = asyncio.run(learners_at_once(base, [(name, data)]))
                peak = sampler.peak(t)
                worst = max(worst, (name, peak), key=lambda w: w[1])
                refused += bool(lr.warnings)
                errors += report_errors([lr])
            peak = sampler.peak(start)
            ok &= peak < GOAL_ONE_MB and errors == 0
            print(f"  one learner at a time, {len(hostile)} files ({refused} refused in one "
                  f"line), every page: peak {peak:.0f} MB (worst: {worst[0]}); goal < "
                  f"{GOAL_ONE_MB} MB: {'ok' if peak < GOAL_ONE_MB else 'MISSED'}; "
                  f"{errors} page errors")  # fmt: skip
            after = settle(sampler, args.ttl + 15)
            print(f"  {args.ttl + 15} s after the last one left: {after:.0f} MB")
        if args.only in (None, "class"):
            before = sampler.rss_mb()
            start = time.monotonic()
            group = asyncio.run(learners_at_once(base, class_files(args.learners, hostile)))
            took = time.monotonic() - start
            peak = sampler.peak(start)
            errors = report_errors(group)
            after = settle(sampler, args.ttl + 15)
            ok &= peak < GOAL_CLASS_MB and errors == 0 and after < before + 150
            print(f"  {args.learners} learners at once (a model of their own or a damaged file "
                  f"each), every page, {took:.0f} s: before {before:.0f} MB, peak {peak:.0f} MB; "
                  f"goal < {GOAL_CLASS_MB} MB: {'ok' if peak < GOAL_CLASS_MB else 'MISSED'}; "
                  f"{errors} page errors")  # fmt: skip
            print(f"  {args.ttl + 15} s after they left: {after:.0f} MB "
                  f"({after - before:+.0f} MB against before they came)")  # fmt: skip
        sampler.stopped.set()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

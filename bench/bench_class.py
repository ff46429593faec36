"""Serving a class: N learners drawing at once on the app served by one process (issue 14).

Learners are, by default (``--clients protocol``), websocket clients that speak the browser's
protocol (bench/learners.py, shared with bench_memory.py): each opens Draw & predict, then every
``--every`` seconds for ``--seconds`` seconds sends a new drawing exactly as the canvas component
does on mouse-up (its Fabric JSON and PNG as the component's state, with a rerun), a 1, 7, 0, 2,
3 or 5, each learner in its own order, never the same digit twice in a row. The time from
sending to the delta that shows the new prediction is measured. With ``--clients browser`` each
learner is a browser context of one headless chromium (Debian's, driven by Playwright as in
tests/test_browser.py) that clears the canvas and draws with the mouse; the time from mouse-up
to the page showing the prediction is measured (it includes the canvas's 200 ms debounce and
the browser's own work: ten chromiums saturate a core, so that mode measures the browsers).
A prediction that is not the digit this learner just drew (another session's digit, or a stale
one) counts as an error, and so does a timeout or an exception on the page. The server's
resident memory is sampled throughout.

Reported per N (``--learners 1,5,10,20,30``): median and 95th-percentile latency, errors, the
server's memory before, at its peak and after the learners left, the server's CPU time per
drawing and, from it, how many learners drawing every ``--every`` seconds one core holds.
Goal at N = 10 (issues 14 and 20): p95 <= 1.5 s, no error, server memory <= 2 GB.

``--nginx K`` runs K app processes behind nginx with deploy/nginx.conf (ports rewritten) and
checks that every browser stayed on one process (sticky sessions: use it with ``--clients
browser``; a protocol client keeps no cookie, its one websocket is its whole session).

The server is pinned to one core and the clients (with this script) to the other
(``taskset``; ``--server-cpus``/``--browser-cpus``), so the clients' work does not count as
the server's. The load average, the server's CPU time per drawing and the clients' CPU time
are printed beside the figures. The app's background warm-up (:mod:`explainer.app.warmup`) is
off unless ``--warmup``: before a class, ``python -m explainer.app.warmup`` fills its cache.

Usage: ``python bench/bench_class.py [--learners 1,5,10] [--seconds 60] [--clients browser]
[--nginx 2] [--server-cpus 0] [--browser-cpus 1]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from learners import ORDER, SHAPES, Drawer, canvas_state  # noqa: E402

CHROMIUM = os.environ.get("EXPLAINER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
GOAL_P95_S, GOAL_MEMORY_MB = 1.5, 2048
WAIT_S = 20.0  # a prediction later than this is an error
SHOWN_JS = """() => {
  const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
    .find(e => e.innerText.includes('Prediction'));
  const v = m && m.querySelector('[data-testid="stMetricValue"]');
  return v ? v.innerText.trim() : null;
}"""
SHOWS_JS = f"(expected) => ({SHOWN_JS})() === expected"


# --- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc=None, log: Path | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:] if log else ""
            raise SystemExit(f"the app exited with status {proc.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer its health check within {timeout:.0f} s")


def start_app(port: int, model: str, log: Path, warmup: bool, cpus: str) -> subprocess.Popen:
    """``explainer app`` on ``port`` pinned to ``cpus`` (one process: ``taskset`` and the
    command exec Streamlit, so the pid is the server's)."""
    cmd = [
        "taskset", "-c", cpus, sys.executable, "-m", "explainer", "app", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true",
        "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    env = dict(os.environ, EXPLAINER_APP_MODEL=model, EXPLAINER_WARMUP="1" if warmup else "0")
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def rss_mb(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    m = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(m.group(1)) / 1024 if m else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    """Every living process below ``root`` (the browsers and Playwright's driver)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            found.append(c)
            todo.append(c)
    return found


class MemoryWatch(threading.Thread):
    """Samples the resident memory of ``pids`` (summed) twice a second."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids, self.samples, self.stop = pids, [], threading.Event()

    def now(self) -> float:
        return sum(rss_mb(p) for p in self.pids)

    def run(self) -> None:
        self.browser_cpu: dict[int, float] = {}
        while not self.stop.wait(0.5):
            self.samples.append(self.now())
            for pid in descendants(os.getpid()):  # last reading of each browser process
                if pid not in self.pids:
                    self.browser_cpu[pid] = cpu_seconds(pid)


def start_nginx(tmp: Path, listen: int, backends: list[int]) -> subprocess.Popen:
    """nginx in the foreground with deploy/nginx.conf, its ports rewritten, logging each
    request's route cookie and upstream so stickiness can be checked."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = site.replace("listen 80;", f"listen {listen};").replace("listen [::]:80;", "")
    servers = "".join(f"    server 127.0.0.1:{p};\n" for p in backends)
    site = re.sub(r"(    server 127\.0\.0\.1:\d+;\n)+", servers, site)
    (tmp / "site.conf").write_text(site)
    (tmp / "nginx.conf").write_text(
        f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\n"
        "events { worker_connections 1024; }\nhttp {\n"
        "  log_format route '$explainer_route $upstream_addr $request_uri';\n"
        f"  access_log {tmp}/access.log route;\n"
        f"  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy;\n"
        f"  include {tmp}/site.conf;\n}}\n"
    )
    return subprocess.Popen(
        ["nginx", "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"]
    )


def sticky_report(log: Path) -> tuple[int, int, dict[str, int]]:
    """``(browsers, browsers seen on more than one process, stream connections per process)``
    from the nginx access log (WebSocket and media requests only)."""
    routes: dict[str, set[str]] = {}
    streams: dict[str, int] = {}
    for line in log.read_text().splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] == "-" or not parts[2].startswith(("/_stcore/", "/media")):
            continue
        routes.setdefault(parts[0], set()).add(parts[1])
        if parts[2].startswith("/_stcore/stream"):
            streams[parts[1]] = streams.get(parts[1], 0) + 1
    return len(routes), sum(len(v) > 1 for v in routes.values()), streams


# --- learners ------------------------------------------------------------------------------------


@dataclass
class Learner:
    index: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def open_app(browser, url: str) -> tuple:
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await ctx.new_page()
    await page.goto(url, timeout=180_000)
    canvas = page.locator("canvas.upper-canvas").first
    await canvas.wait_for(timeout=180_000)
    await page.get_by_text("The canvas is empty").first.wait_for(timeout=180_000)
    return ctx, page, canvas


async def draw(page, canvas, digit: str) -> float:
    """Draw ``digit``'s stroke; returns the monotonic time of the mouse-up."""
    box = await canvas.bounding_box()
    x0, y0, w = box["x"], box["y"], box["width"]
    pts = SHAPES[digit]
    await page.mouse.move(x0 + pts[0][0] * w, y0 + pts[0][1] * w)
    await page.mouse.down()
    for fx, fy in pts[1:]:
        await page.mouse.move(x0 + fx * w, y0 + fy * w, steps=4)
    t0 = time.monotonic()
    await page.mouse.up()
    return t0


async def wait_prediction(page, expected: str) -> str | None:
    """Wait (polling inside the page every 20 ms) until it shows ``expected``; returns what it
    shows then, or at the timeout."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_function(SHOWS_JS, arg=expected, polling=20, timeout=WAIT_S * 1000)
        return expected
    except PlaywrightTimeout:
        return await page.evaluate(SHOWN_JS)


async def clear(page) -> None:
    await page.get_by_role("button", name="Clear").first.click()  # the app's own Clear
    await page.get_by_text("The canvas is empty").first.wait_for(timeout=WAIT_S * 1000)


async def paced(start: float, stop: float, every: float):
    """Turn numbers 0, 1, 2... at ``start``, ``start + every``... until ``stop``, each after
    the turn before has finished; a turn that ends after the next slot skips that slot."""
    slot, k = start, 0
    while slot < stop:
        await asyncio.sleep(max(0.0, slot - time.monotonic()))
        yield k
        k += 1
        slot = max(slot + every, time.monotonic())


async def learn(page, canvas, me: Learner, start: float, stop: float, every: float) -> None:
    async for k in paced(start, stop, every):
        digit = ORDER[(me.index + k) % len(ORDER)]
        try:
            if k:
                await clear(page)
            t0 = await draw(page, canvas, digit)
            shown = await wait_prediction(page, digit)
            if shown == digit:
                me.latencies.append(time.monotonic() - t0)
            else:
                me.errors.append(f"drew {digit}, page showed {shown!r} after {WAIT_S:.0f} s")
            if await page.locator('[data-testid="stException"]').count():
                me.errors.append("an exception on the page")
        except Exception as exc:  # a browser-side failure is a measured error, not a crash
            me.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")


async def classroom(
    url: str, n: int, seconds: float, every: float, server_pids: list[int]
) -> tuple[list[Learner], float]:
    """The learners' results, and the servers' CPU seconds while they drew (first page loads
    and the app's cold start excluded)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        opened = []
        for _ in range(n):  # one by one, as a class arrives; the first load is not measured
            opened.append(await open_app(browser, url))
        learners = [Learner(i) for i in range(n)]
        cpu0 = sum(cpu_seconds(p) for p in server_pids)
        start = time.monotonic() + 1.0
        await asyncio.gather(
            *[
                learn(page, canvas, me, start + me.index * every / n, start + seconds, every)
                for (_ctx, page, canvas), me in zip(opened, learners, strict=True)
            ]
        )
        server_cpu = sum(cpu_seconds(p) for p in server_pids) - cpu0
        for ctx, _page, _canvas in opened:
            await ctx.close()
        await browser.close()
    return learners, server_cpu


def drawings(index: int, count: int) -> list[tuple[str, str]]:
    """Learner ``index``'s ``count`` drawings, ``(digit, canvas state)``: its own order of
    digits, each picture its own (drawn ahead, so the clients' core is free while timing)."""
    digits = [ORDER[(index + k) % len(ORDER)] for k in range(count)]
    return [(d, canvas_state(d, seed=index * 1000 + k)) for k, d in enumerate(digits)]


async def protocol_learn(me: Drawer, todo: list, start: float, stop: float, every: float) -> None:
    """Every ``every`` s a new drawing, sent as the canvas sends it; waits for its answer."""
    async for k in paced(start, stop, every):
        if k >= len(todo):
            return
        digit, state = todo[k]
        try:
            await me.draw(digit, state, WAIT_S)
        except (TimeoutError, OSError, websockets.WebSocketException) as exc:
            me.errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            return  # the session is lost, as a browser's would be


async def protocol_classroom(
    url: str, n: int, seconds: float, every: float, server_pids: list[int]
) -> tuple[list[Drawer], float]:
    """As :func:`classroom`, with learners that speak the browser's protocol (bench/learners.py)
    instead of browsers: each opens Draw & predict, then sends a drawing every ``every`` s."""
    count = math.ceil(seconds / every) + 1
    todo = [drawings(i, count) for i in range(n)]
    learners = [Drawer(url, index=i) for i in range(n)]
    async with contextlib.AsyncExitStack() as stack:
        for me in learners:  # one by one, as a class arrives; the first load is not measured
            me.ws = await stack.enter_async_context(me.connect())
            await me.rerun()
            if not me.canvas:
                me.errors.append("the Draw & predict page showed no canvas")
        cpu0 = sum(cpu_seconds(p) for p in server_pids)
        start = time.monotonic() + 1.0
        await asyncio.gather(*[
            protocol_learn(me, todo[me.index], start + me.index * every / n, start + seconds, every)
            for me in learners if me.canvas
        ])  # fmt: skip
        server_cpu = sum(cpu_seconds(p) for p in server_pids) - cpu0
    return learners, server_cpu


# --- one run -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def run_once(n: int, args: argparse.Namespace) -> dict:
    """N learners against a fresh server (or ``--nginx`` servers); returns the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-class-"))
    ports = [free_port() for _ in range(max(1, args.nginx))]
    apps = [
        start_app(p, args.model, tmp / f"app{p}.log", args.warmup, args.server_cpus) for p in ports
    ]
    load_before = os.getloadavg()[0]
    proxy = None
    try:
        for p, proc in zip(ports, apps, strict=True):
            wait_healthy(f"http://127.0.0.1:{p}", proc, tmp / f"app{p}.log")
        url = f"http://127.0.0.1:{ports[0]}"
        if args.nginx:
            listen = free_port()
            proxy = start_nginx(tmp, listen, ports)
            url = f"http://127.0.0.1:{listen}"
            wait_healthy(url)
        watch = MemoryWatch([a.pid for a in apps])
        before = watch.now()
        watch.start()
        t = time.monotonic()
        pids = [a.pid for a in apps]
        room = protocol_classroom if args.clients == "protocol" else classroom
        own0 = cpu_seconds(os.getpid())
        learners, server_cpu = asyncio.run(room(url, n, args.seconds, args.every, pids))
        clients_cpu = sum(watch.browser_cpu.values()) + cpu_seconds(os.getpid()) - own0
        wall = time.monotonic() - t
        time.sleep(args.settle)
        watch.stop.set()
        after = watch.now()
        result = summarize(n, learners, before, max(watch.samples, default=before), after, wall)
        result |= {
            "load_before": load_before,
            "server_cpu_s": round(server_cpu, 1),
            "clients_cpu_s": round(clients_cpu, 1),
        }
        if args.nginx:
            browsers, split, streams = sticky_report(tmp / "access.log")
            result |= {"browsers": browsers, "not_sticky": split, "streams": streams}
        return result
    finally:
        for proc in [*apps, *([proxy] if proxy else [])]:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def summarize(n, learners, before, peak, after, wall) -> dict:
    lat = [x for me in learners for x in me.latencies]
    errors = [e for me in learners for e in me.errors]
    return {
        "learners": n,
        "predictions": len(lat),
        "median_s": statistics.median(lat) if lat else float("nan"),
        "p95_s": percentile(lat, 0.95),
        "max_s": max(lat, default=float("nan")),
        "errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "memory_before_mb": round(before),
        "memory_peak_mb": round(peak),
        "memory_after_mb": round(after),
        "wall_s": round(wall, 1),
        "load": os.getloadavg()[0],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--learners", default="1,5,10,20,30", help="comma-separated N values")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--every", type=float, default=2.0, help="seconds between drawings")
    p.add_argument("--model", default="mnist_bn_cnn", help="the app's model (the default one)")
    p.add_argument("--nginx", type=int, default=0, help="K app processes behind nginx")
    p.add_argument("--settle", type=float, default=5.0, help="seconds before memory 'after'")
    p.add_argument(
        "--warmup",
        action="store_true",
        help="leave the app's background warm-up on (default off: a class starts after "
        "`python -m explainer.app.warmup` has filled the cache)",
    )
    p.add_argument(
        "--clients",
        choices=["protocol", "browser"],
        default="protocol",
        help="learners as websocket clients speaking the browser's protocol (default: one core "
        "holds many) or as headless chromiums (ten of them saturate a core)",
    )
    p.add_argument("--server-cpus", default="0", help="taskset CPU list of the app server(s)")
    p.add_argument("--browser-cpus", default="1", help="CPU list of the browsers and this script")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    os.sched_setaffinity(0, cpu_list(args.browser_cpus))  # the browsers inherit it
    if args.clients == "browser" and not Path(CHROMIUM).exists():
        print(f"no chromium at {CHROMIUM}: apt-get install chromium", file=sys.stderr)
        return 2
    if args.nginx and not shutil.which("nginx"):
        print("nginx is not installed: apt-get install nginx (or EXPLAINER_NGINX=1 make setup)",
              file=sys.stderr)  # fmt: skip
        return 2
    results, ok = [], True
    for n in [int(x) for x in args.learners.split(",")]:
        r = run_once(n, args)
        results.append(r)
        print(json.dumps(r), flush=True)
        if n == 10:
            ok &= r["p95_s"] <= GOAL_P95_S and not r["errors"]
            ok &= r["memory_peak_mb"] <= GOAL_MEMORY_MB
    print(f"\nlearners: {args.clients} clients on CPUs {args.browser_cpus}, server on CPUs "
          f"{args.server_cpus}; uptime: {os.popen('uptime').read().strip()}")  # fmt: skip
    print_table(results, args.every)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if ok else 1


def cpu_list(text: str) -> set[int]:
    """``"1"``, ``"0,2"`` or ``"2-3"`` as a set of CPU numbers (taskset's list form)."""
    cpus: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def print_table(results: list[dict], every: float) -> None:
    print(
        "\n| learners | drawings answered | median | p95 (ratio to 1.5 s) | errors "
        "| server memory before / peak / after (ratio of peak to 2 GB) "
        "| server CPU per drawing | clients' CPU | load before / after |"
    )
    print("|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in results:
        per = r["server_cpu_s"] / max(1, r["predictions"])
        print(
            f"| {r['learners']} | {r['predictions']} | {r['median_s']:.2f} s "
            f"| {r['p95_s']:.2f} s ({r['p95_s'] / GOAL_P95_S:.2f}) | {r['errors']} "
            f"| {r['memory_before_mb']} / {r['memory_peak_mb']} / {r['memory_after_mb']} MB "
            f"({r['memory_peak_mb'] / GOAL_MEMORY_MB:.2f}) | {per * 1000:.0f} ms "
            f"| {r['clients_cpu_s']:.0f} s | {r['load_before']:.1f} / {r['load']:.1f} |"
        )
    busy = [r for r in results if r["predictions"]]
    if busy:
        r = max(busy, key=lambda r: r["learners"] if r["learners"] <= 10 else 0)
        per = r["server_cpu_s"] / r["predictions"]
        print(
            f"\nfrom N = {r['learners']}: {per * 1000:.0f} ms of server CPU per drawing, so one "
            f"core holds about {every / per:.0f} learners drawing every {every:g} s "
            f"({1 / per:.1f} drawings per second)"
        )


if __name__ == "__main__":
    sys.exit(main())

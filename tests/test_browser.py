"""A real browser (Debian's chromium driven by Playwright) against a real ``streamlit run``:
draw a stroke on the canvas, see a prediction, visit every page with no error element.

Screenshots go to ``test-artifacts/screenshots/`` (or ``$EXPLAINER_SCREENSHOTS``, e.g.
``docs/screenshots`` to refresh the README's pictures)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("EXPLAINER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
PAGES = [
    ("Layer by layer", "layers"),
    ("Mistakes", "mistakes"),
    ("Compare architectures", "compare"),
    ("Inside the filters", "filters"),
    ("Training", "training"),
    ("Export", "export"),
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    pytest.importorskip("playwright.sync_api")
    port = _free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    # the small fast CNN keeps the test quick; EXPLAINER_APP_MODEL picks another for screenshots
    env = dict(os.environ)
    env.setdefault("EXPLAINER_APP_MODEL", "mnist_fast_cnn")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("streamlit did not start within 30 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _settle(page, title: str | None = None, timeout: float = 60.0) -> None:
    """Wait for the page's title, then until the script run is over (the 'Running...'
    indicator has been gone for a while) and every picture has loaded."""
    if title:
        page.locator("h1").filter(has_text=title).first.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 4:
        state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
        busy = state == "running" or page.locator('[data-testid="stSpinner"]').count() > 0
        quiet = 0 if busy else quiet + 1
        page.wait_for_timeout(250)
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=10_000)


def _errors(page) -> list[str]:
    sel = '[data-testid="stException"], [data-testid="stAlertContentError"]'
    return [e.inner_text()[:300] for e in page.locator(sel).all()]


def test_draw_and_visit_every_page(app_url):
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("EXPLAINER_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app_url)
        page.get_by_text("Draw & predict").first.wait_for(timeout=30_000)
        canvas = page.locator("canvas.upper-canvas").first
        canvas.wait_for(timeout=30_000)
        _settle(page, "Draw & predict")
        box = canvas.bounding_box()
        # a "7": a top bar, then a diagonal down to the bottom left
        x0, y0, w = box["x"], box["y"], box["width"]
        points = [(0.25, 0.22), (0.75, 0.22), (0.62, 0.45), (0.48, 0.80)]
        page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * w)
        page.mouse.down()
        for fx, fy in points[1:]:
            page.mouse.move(x0 + fx * w, y0 + fy * w, steps=12)
        page.mouse.up()
        metric = page.locator('[data-testid="stMetric"]').filter(has_text="Prediction")
        metric.wait_for(timeout=60_000)
        _settle(page)
        assert metric.inner_text().strip()
        assert _errors(page) == []

        _shoot(page, shots, "draw")

        # an upload that is not an image gets a friendly message, not a traceback
        page.get_by_text("Upload a picture", exact=True).click()
        _settle(page)
        page.locator('input[type="file"]').set_input_files(
            files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}]
        )
        warning = page.locator('[data-testid="stAlertContentWarning"]')
        warning.wait_for(timeout=20_000)
        assert "not a readable image" in warning.inner_text()
        assert _errors(page) == []
        page.get_by_text("Draw", exact=True).click()
        _settle(page)

        for title, slug in PAGES:
            page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            page.wait_for_url(f"**/{slug}", timeout=15_000)
            _settle(page, title)
            if slug == "layers":  # show a convolution: the lesson's richest step
                page.get_by_role("button", name="Next ▶").click()
                _settle(page, title)
            assert _errors(page) == [], f"{title}: {_errors(page)}"
            _shoot(page, shots, slug)
        browser.close()


def _shoot(page, folder: Path, name: str) -> None:
    """The first screen as ``folder/name.png`` (the README's picture) and the whole page,
    however long, as ``test-artifacts/screenshots/name_full.png`` (for review)."""
    page.screenshot(path=str(folder / f"{name}.png"))
    height = page.evaluate(
        "Math.max(...Array.from(document.querySelectorAll('[data-testid=\"stMain\"] *'))"
        ".map(e => e.scrollHeight), 1000)"
    )
    page.set_viewport_size({"width": 1400, "height": min(int(height) + 80, 6000)})
    page.wait_for_timeout(500)
    full = ROOT / "test-artifacts" / "screenshots"
    full.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(full / f"{name}_full.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})

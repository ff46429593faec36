"""A real browser (Debian's chromium driven by Playwright) against a real ``streamlit run``,
at a projector's 1280×720.

- ``test_canvas_draw_undo_clear``: a stroke on the canvas gives a prediction; the canvas's own
  toolbar (its unlabeled "Edit" pencil) is hidden; *Undo stroke* brings back the previous
  drawing and its prediction, *Clear* empties the canvas; a non-image upload gets a message.
- ``test_the_model_picker_shows_every_name_whole``: a model trained on the Training page and an
  upload with a long file name read whole in the sidebar's model picker (slow).
- ``test_every_page_reads``: every page of the sidebar, with the learner's drawing and
  without, in normal and presenter mode, for MNIST and Fashion-MNIST, at 1280×720 and
  1920×1080: no error element, no text clipped (wider than its box, or cut by the box around
  it, or a chart label shortened with "…"), no text cut with an ellipsis (CSS text-overflow, a
  select's value wider than its box, a word followed by "…"), no text under 14 px in the page
  or the sidebar, no two texts overlapping, no word broken over two lines, no chart number
  outside its cell, nothing scrolling sideways
  (``tests/browser_layout.js``), in presenter mode type that reads from the back of a room
  (the title and the metrics the largest), and the lesson's canvas and key picture on the
  first screen. One combination (Fashion-MNIST, 1280×720, presenter mode, a drawing; every
  lesson step) is the fast subset; the other fifteen are marked slow.

The app runs on the bundled 500-digit samples (``EXPLAINER_DATA_DIR`` is an empty folder): the
same pictures on every machine, and no minute-long warm-up on the full test sets. Screenshots
go to ``test-artifacts/screenshots/``; ``EXPLAINER_SCREENSHOTS=docs/screenshots`` also writes
the README's pictures (MNIST with a drawing at 1280×720, ``<page>.png`` and
``<page>_presenter.png``, palette PNGs)."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("EXPLAINER_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
VIEWPORT = {"width": 1280, "height": 720}
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
LAYOUT_JS = (Path(__file__).with_name("browser_layout.js")).read_text()
# font sizes in px of the page's main area: the title, the largest metric value, body text
# (paragraphs and list items outside captions and alerts), and the smallest HTML / chart text
TYPE_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const px = (el) => parseFloat(getComputedStyle(el).fontSize);
  const shown = (el) => el.checkVisibility() && el.textContent.trim();
  const all = (sel) => Array.from(main.querySelectorAll(sel)).filter(shown);
  const sizes = (sel) => all(sel).map(px);
  const h1 = sizes('h1');
  const body = all('[data-testid="stMarkdown"] p, [data-testid="stMarkdown"] li')
    .filter((e) => !e.closest('[data-testid="stCaptionContainer"], [data-testid="stAlert"], '
      + '[data-testid="stMetric"], button, label, [data-testid="stTooltipContent"]'))
    .map(px);
  const text = all('p, li, span, td, th, label, h1, h2, h3, h4, h5, h6')
    .filter((e) => !e.closest('[data-testid="stIconMaterial"], '
      + '[data-testid="stHeaderActionElements"]'))
    .filter((e) => Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.nodeValue.trim()))
    .map(px);
  return {
    h1: Math.max(0, ...h1),
    metric: Math.max(0, ...sizes('[data-testid="stMetricValue"]')),
    body: body.length ? Math.min(...body) : null,
    smallest: text.length ? Math.min(...text) : null,
    chart: Math.min(Infinity, ...sizes('svg text')),
    root: parseFloat(getComputedStyle(document.documentElement).fontSize),
  };
}"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no chromium at {CHROMIUM}"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    pytest.importorskip("playwright.sync_api")
    port = _free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
        "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    # the small fast CNN keeps the test quick; EXPLAINER_APP_MODEL picks another for screenshots
    env = dict(os.environ, EXPLAINER_DATA_DIR=str(tmp_path_factory.mktemp("no_dataset")))
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


@pytest.fixture
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        tab = browser.new_page(viewport=VIEWPORT)
        tab.goto(app_url)
        tab.locator("h1").filter(has_text="Draw & predict").first.wait_for(timeout=60_000)
        _settle(tab)
        yield tab
        browser.close()


def _settle(page, title: str | None = None, timeout: float = 60.0) -> None:
    """Wait for the page's title, then until the script run is over (the 'Running...'
    indicator has been gone for a while) and every picture has loaded."""
    if title:
        page.locator("h1").filter(has_text=title).first.wait_for(timeout=timeout * 1000)
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline and quiet < 3:
        state = page.locator('[data-testid="stApp"]').get_attribute("data-test-script-state")
        busy = state == "running" or page.locator('[data-testid="stSpinner"]').count() > 0
        quiet = 0 if busy else quiet + 1
        page.wait_for_timeout(200)
    page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=10_000)


def _errors(page) -> list[str]:
    sel = '[data-testid="stException"], [data-testid="stAlertContentError"]'
    return [e.inner_text()[:300] for e in page.locator(sel).all()]


def _drag(page, points: list[tuple[float, float]]) -> None:
    """One stroke through ``points``, given as fractions of the canvas."""
    box = page.locator("canvas.upper-canvas").first.bounding_box()
    x0, y0, w = box["x"], box["y"], box["width"]
    page.mouse.move(x0 + points[0][0] * w, y0 + points[0][1] * w)
    page.mouse.down()
    for fx, fy in points[1:]:
        page.mouse.move(x0 + fx * w, y0 + fy * w, steps=12)
    page.mouse.up()


def _prediction(page) -> str:
    """The Prediction metric's text, once it shows."""
    metric = page.locator('[data-testid="stMetric"]').filter(has_text="Prediction").first
    metric.wait_for(timeout=60_000)
    _settle(page)
    return metric.inner_text().strip()


def _digit_picture(page, before: str | None) -> str:
    """The address of the sidebar's current-digit picture (the 28×28 every page explains; named
    by a hash of its pixels) once it differs from ``before``."""
    img = page.locator('[data-testid="stSidebar"] [data-testid="stImage"] img').last
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        _settle(page)
        if (src := img.get_attribute("src")) != before:
            return src
        page.wait_for_timeout(300)
    pytest.fail("the current digit did not change")


def test_canvas_draw_undo_clear(page):
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    toolbar = page.locator(".dc-toolbar")  # inside the component's shadow root
    assert toolbar.count() == 1 and not toolbar.is_visible()
    assert not page.get_by_role("button", name="Edit", exact=True).is_visible()
    undo = page.get_by_role("button", name=re.compile("Undo stroke"))
    clear = page.get_by_role("button", name=re.compile("Clear"))
    assert undo.is_disabled() and clear.is_disabled()
    start = _digit_picture(page, None)

    _drag(page, [(0.25, 0.22), (0.75, 0.22), (0.62, 0.45), (0.48, 0.80)])  # a 7
    first = _digit_picture(page, start)
    assert _prediction(page)
    assert _errors(page) == []
    _shoot(page, "draw_canvas", drawn=True)
    _drag(page, [(0.30, 0.55), (0.70, 0.55)])  # a bar across it
    second = _digit_picture(page, first)
    undo.click()  # the first stroke alone again: the same 28×28 picture
    assert _digit_picture(page, second) == first
    assert _prediction(page)
    clear.click()
    page.get_by_text("The canvas is empty").wait_for(timeout=30_000)
    assert page.locator('[data-testid="stMetric"]').filter(has_text="Prediction").count() == 0
    assert undo.is_disabled() and clear.is_disabled()

    # an upload that is not an image gets a friendly message, not a traceback
    page.get_by_text("Upload a picture", exact=True).click()
    _settle(page)
    page.locator('input[type="file"]').last.set_input_files(
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}]
    )
    warning = page.locator('[data-testid="stAlertContentWarning"]')
    warning.wait_for(timeout=20_000)
    assert "not a readable image" in warning.inner_text()
    assert _errors(page) == []


def _picker(page) -> tuple[str, str, list[str]]:
    """The sidebar's model picker: the value in its box, the note under it ("" when none) and
    the layout faults of the page (``tests/browser_layout.js``: a value wider than its box)."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    value = sidebar.locator('[data-testid="stSelectbox"] input').first.input_value()
    note = sidebar.locator('[data-testid="stElementContainer"]:has([data-testid="stSelectbox"])'
                           ' + * [data-testid="stCaptionContainer"]')  # fmt: skip
    said = note.first.inner_text().replace("\u200b", "") if note.count() else ""
    return value, said, page.evaluate(LAYOUT_JS)


@pytest.mark.slow  # a model trained in the page: about half a minute
def test_the_model_picker_shows_every_name_whole(page, tmp_path):
    """A model trained on the Training page and an upload with a long file name: the picker's
    box holds each whole (with its test accuracy where there is room), in normal and presenter
    mode, and the line under it says what the box left out."""
    from explainer.nets.architectures import build
    from explainer.nets.checkpoints import save_checkpoint

    name = "fast_cnn_trained_by_our_class_on_monday_morning"
    ckpt = save_checkpoint(tmp_path / f"{name}.pt", build("fast_cnn").eval(),
                           metrics={"test_accuracy": 0.8531})  # fmt: skip
    page.get_by_text("Your own model (for teachers)").click()
    page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(str(ckpt))
    page.wait_for_function(  # the upload became the chosen model
        """() => Array.from(document.querySelectorAll('[data-testid="stSidebar"] input'))
                   .some((i) => i.value.includes('(uploaded)'))""",
        timeout=30_000,
    )
    _settle(page)
    value, note, faults = _picker(page)
    _shoot(page, "picker_upload")
    assert faults == [], faults
    assert value.startswith(name[:6]) and "(uploaded)" in value and "…" in value, value
    assert f"{name} (uploaded)" in note and "85.31% right on its test set" in note, note

    page.locator('[data-testid="stSidebarNav"] a[href$="/training"]').click()
    _settle(page, "Training")
    page.get_by_role("button", name=re.compile("Train now")).click()
    page.get_by_text("It is now the selected model").wait_for(timeout=120_000)
    _settle(page)
    value, note, faults = _picker(page)
    _shoot(page, "picker_live")
    assert re.fullmatch(r"live_fast_cnn_1( · \d+\.\d\d%)?", value), value
    assert note.startswith("trained here on the Training page"), note
    assert ("%" in value) != ("% right on its test set" in note), (value, note)
    assert faults == [], faults
    page.locator('[data-testid="stSidebar"]').get_by_text("Presenter mode", exact=True).click()
    page.wait_for_function("getComputedStyle(document.documentElement).fontSize === '22px'")
    _settle(page)
    shown, note, faults = _picker(page)  # larger type in a box not much wider
    _shoot(page, "picker_live", mode="presenter")
    assert shown == value and note == "", (shown, note)
    assert faults == [], faults


def _pages(page) -> list[tuple[str, str]]:
    """(href, slug) of every page in the sidebar's navigation, in order."""
    links = page.locator('[data-testid="stSidebarNav"] a')
    hrefs = [a.get_attribute("href") for a in links.all()]
    return [(h, urlparse(h).path.strip("/") or "draw") for h in hrefs]


def _visit(page, href: str, slug: str, drawn: bool) -> None:
    page.locator(f'[data-testid="stSidebarNav"] a[href="{href}"]').click()
    page.wait_for_url(href, timeout=15_000)
    _settle(page)
    if slug == "draw" and not drawn:  # a test digit: the prediction shows without drawing
        page.get_by_text(re.compile(r"^Pick a test (digit|item)$")).click()  # Fashion: item
        _prediction(page)
    if slug == "draw" and drawn:  # the drawing is still there and predicted
        _prediction(page)
    if slug == "layers":  # show a convolution: the lesson's richest step
        page.locator(".st-key-layer_step").click()
        page.get_by_role("option").filter(has_text=re.compile(r" — conv")).first.click()
        page.get_by_text("One output number, by hand").wait_for(timeout=30_000)
        _settle(page)


def _type_faults(sizes: dict) -> list[str]:
    """Presenter mode: what a 1280×720 projector needs, in px."""
    want = [
        ("the page font", sizes["root"], 22),
        ("the title", sizes["h1"], 56),
        ("body text", sizes["body"], 21),
        ("the smallest text", sizes["smallest"], 17),
        ("the smallest chart text", sizes["chart"], 15),
    ]
    faults = [f"{what} is {got:.1f} px (< {low})" for what, got, low in want if got and got < low]
    if sizes["metric"] and sizes["metric"] >= sizes["h1"]:
        faults.append(f"a metric ({sizes['metric']:.1f} px) is larger than the title")
    if sizes["metric"] and sizes["metric"] < 2 * (sizes["body"] or 0):
        faults.append(f"the metrics ({sizes['metric']:.1f} px) are not twice the body text")
    return faults


# the key picture of a lesson step: the canvas on the first step, else the first picture or
# chart of the step's left column
KEY_PICTURE_JS = """() => {
  const box = document.querySelector('.st-key-lesson_picture');
  const pic = box && box.querySelector('[data-testid="stBidiComponentIsolated"], '
    + '[data-testid="stImage"] img, [data-testid="stVegaLiteChart"] canvas, '
    + '[data-testid="stVegaLiteChart"] svg');
  if (!pic) return null;
  const b = pic.getBoundingClientRect();  // the canvas: its component's box
  return { what: pic.matches('[data-testid="stBidiComponentIsolated"]') ? 'the canvas'
    : 'the picture', top: b.top, bottom: b.bottom, height: window.innerHeight };
}"""


def _key_picture_faults(page, where: str) -> list[str]:
    """A lesson step at a projector's size: its key picture wholly on the first screen."""
    box = page.evaluate(KEY_PICTURE_JS)
    if box is None:
        return [f"{where}: no picture in the step's left column"]
    if box["bottom"] > box["height"] + 1:
        return [f"{where}: {box['what']} ends at y = {box['bottom']:.0f}, below the "
                f"{box['height']} px screen"]  # fmt: skip
    return []


def _lesson_steps(page, everyone: bool, shoot) -> list[str]:
    """Walk the lesson from its first step (all of them, or the first two) checking each;
    ``shoot(name)`` takes a screenshot of each."""
    faults = []
    n = 0
    while True:
        n += 1
        where = f"lesson step {n}"
        faults += [f"{where}: {f}" for f in _errors(page) + page.evaluate(LAYOUT_JS)]
        faults += _key_picture_faults(page, where)
        shoot(f"lesson_step{n:02d}")
        nxt = page.get_by_role("button", name="Next ▶")
        if (not everyone and n >= 2) or nxt.is_disabled() or n > 20:
            break
        nxt.click()
        page.get_by_text(f"step {n + 1} of").first.wait_for(timeout=30_000)
        _settle(page)
    return faults


def _draw_a_digit(page) -> None:
    """On Draw & predict: one stroke of a 7, then wait for its prediction."""
    page.get_by_text("Draw", exact=True).first.click()
    _settle(page)
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(timeout=30_000)
    canvas.scroll_into_view_if_needed()
    _drag(page, [(0.25, 0.22), (0.75, 0.22), (0.62, 0.45), (0.48, 0.80)])
    _prediction(page)


SIZES = {"1280x720": {"width": 1280, "height": 720}, "1920x1080": {"width": 1920, "height": 1080}}
# the fast subset: what a class sees at its worst (a projector, large type, the learner's own
# drawing, the longer names of Fashion-MNIST); every other combination is marked slow
FAST = ("Fashion-MNIST", "1280x720", "presenter", True)
COMBOS = [
    pytest.param(*c, marks=[] if c == FAST else [pytest.mark.slow],
                 id=f"{c[0]}-{c[1]}-{c[2]}-{'drawing' if c[3] else 'no-drawing'}")
    for c in [(d, z, m, w) for d in ("MNIST", "Fashion-MNIST") for z in SIZES
              for m in ("presenter", "normal") for w in (True, False)]
]  # fmt: skip


@pytest.mark.parametrize(("dataset", "size", "mode", "drawn"), COMBOS)
def test_every_page_reads(app_url, dataset, size, mode, drawn):
    """Every page of the sidebar (and every lesson step in the fast subset), with the
    learner's drawing or without, in normal or presenter mode, on MNIST or Fashion-MNIST, at
    1280×720 or 1920×1080: no error, nothing clipped or cut (an ellipsis included), no text
    under 14 px, no two texts overlapping, no word broken over two lines, no chart number
    outside its cell, presenter type that reads from the back of a room, and the lesson's key
    picture on the first screen."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=SIZES[size])
        page.goto(app_url)
        page.locator("h1").filter(has_text="Draw & predict").first.wait_for(timeout=60_000)
        _settle(page)
        sidebar = page.locator('[data-testid="stSidebar"]')
        if not sidebar.get_by_text(dataset, exact=True).count():
            pytest.skip(f"no {dataset} model")
        sidebar.get_by_text(dataset, exact=True).click()
        _settle(page)
        if mode == "presenter":
            sidebar.get_by_text("Presenter mode", exact=True).click()
            _settle(page)
        if drawn:
            _draw_a_digit(page)
        faults: list[str] = []
        visited = 0
        for href, slug in _pages(page):
            _visit(page, href, slug, drawn)
            found = _errors(page) + page.evaluate(LAYOUT_JS)
            if mode == "presenter":
                found += _type_faults(page.evaluate(TYPE_JS))
            if slug == "lesson":
                found += _lesson_steps(
                    page,
                    (dataset, size, mode, drawn) == FAST,
                    lambda name: _shoot(page, name, dataset, size, mode, drawn),
                )
            faults += [f"{slug}: {f}" for f in found]
            _shoot(page, slug, dataset, size, mode, drawn)
            visited += 1
        browser.close()
    assert visited >= 9, f"only {visited} page visits"
    assert not faults, f"{len(faults)} layout faults:\n" + "\n".join(faults[:80])


# docs/screenshots: the README's pictures, the learner's drawing at a projector's size
DOCS_SHOTS = {("MNIST", "1280x720", "normal", True): "", ("MNIST", "1280x720", "presenter", True):
              "_presenter"}  # fmt: skip


def _shoot(page, slug: str, dataset: str = "MNIST", size: str = "1280x720",
           mode: str = "normal", drawn: bool = False) -> None:  # fmt: skip
    """The first screen as ``test-artifacts/screenshots/<dataset>_<size>_<mode>[_drawing]_
    <slug>.png``; for the README's combinations (:data:`DOCS_SHOTS`) also into
    ``$EXPLAINER_SCREENSHOTS`` as ``<slug>[_presenter].png``, a small palette PNG."""
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = page.screenshot()
    name = f"{dataset.lower()}_{size}_{mode}{'_drawing' if drawn else ''}_{slug}.png"
    (ARTIFACTS / name).write_bytes(png)
    docs = os.environ.get("EXPLAINER_SCREENSHOTS")
    suffix = DOCS_SHOTS.get((dataset, size, mode, drawn))
    if docs and suffix is not None and not slug.startswith("lesson_step"):
        Path(docs).mkdir(parents=True, exist_ok=True)
        small = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128)
        small.save(Path(docs) / f"{slug}{suffix}.png", optimize=True)

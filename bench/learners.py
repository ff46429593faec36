"""Learners without a browser: websocket clients that speak Streamlit's browser protocol.

A :class:`Session` opens the app's stream (``/_stcore/stream``), reruns pages with the widget
values a browser would send (every selectbox and radio as last shown, plus what a subclass adds)
and reads the server's messages, noting the pages, the session id and any exception shown.
Used by ``bench_memory.py`` (learners that upload a checkpoint) and ``bench_class.py``
(:class:`Drawer`: learners that draw on the Draw & predict canvas), so that the benches measure
the server, not N chromiums.

The canvas (streamlit-drawable-canvas, a Streamlit v2 component) sends, 200 ms after each
mouse-up, ``setStateValue("drawing", {"raw": canvas.toObject(), "data": canvas.toDataURL(png)})``;
Streamlit's frontend merges it into the component's state and sends the whole state as the
widget's ``json_value`` with a rerun. :class:`Drawer` sends exactly that: the Fabric 7 JSON of one
freehand stroke (as Fabric's PencilBrush makes it: a smoothed path, white, 22 px, round caps) and
the canvas's PNG (the stroke drawn antialiased, white on the black background).
"""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import math
import random
import time
from dataclasses import dataclass, field

import websockets

PAGE_TIMEOUT_S = 600.0
# Single strokes, in canvas fractions, each read as its digit by every shipped MNIST model.
SHAPES = {
    "1": [(0.52, 0.15), (0.50, 0.85)],
    "7": [(0.25, 0.22), (0.75, 0.22), (0.62, 0.45), (0.48, 0.80)],
    "0": [
        (0.5 + 0.2 * math.sin(2 * math.pi * k / 24), 0.5 - 0.3 * math.cos(2 * math.pi * k / 24))
        for k in range(25)
    ],
    "2": [(0.28, 0.30), (0.40, 0.18), (0.60, 0.18), (0.70, 0.32), (0.62, 0.50), (0.30, 0.82),
          (0.75, 0.82)],
    "3": [(0.30, 0.20), (0.62, 0.18), (0.68, 0.32), (0.48, 0.48), (0.70, 0.62), (0.64, 0.80),
          (0.30, 0.82)],
    "5": [(0.70, 0.18), (0.35, 0.18), (0.32, 0.45), (0.60, 0.45), (0.70, 0.62), (0.60, 0.80),
          (0.30, 0.80)],
}  # fmt: skip
ORDER = list(SHAPES)


@dataclass
class Session:
    """One browser session over the websocket: :meth:`rerun` a page, :meth:`until` a message."""

    base: str
    errors: list[str] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)  # url path -> page script hash
    session: str = ""
    choices: dict[str, str] = field(default_factory=dict)  # selectbox/radio id -> shown option

    def connect(self):
        url = self.base.replace("http", "ws") + "/_stcore/stream"
        return websockets.connect(url, subprotocols=["streamlit"], max_size=None)

    def more_states(self) -> list:
        """Widget states a subclass adds to every rerun (an uploader's, a canvas's)."""
        return []

    def widget_states(self):
        from streamlit.proto.WidgetStates_pb2 import WidgetState, WidgetStates

        # as a browser: every choice as it was last shown (the script may have set it)
        states = [WidgetState(id=i, string_value=v) for i, v in self.choices.items()]
        return WidgetStates(widgets=states + self.more_states())

    async def send_rerun(self, page_hash: str = "", path: str = "") -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ClientState_pb2 import ClientState, ContextInfo

        state = ClientState(query_string="", widget_states=self.widget_states(),
                            page_script_hash=page_hash, page_name=path,
                            context_info=ContextInfo(timezone="UTC", locale="en-US"))  # fmt: skip
        await self.ws.send(BackMsg(rerun_script=state).SerializeToString())

    async def rerun(self, page_hash: str = "", path: str = "") -> None:
        await self.send_rerun(page_hash, path)
        await self.until("script_finished", page=path or "draw")

    async def until(self, kind: str, page: str = "", timeout: float = PAGE_TIMEOUT_S):
        """Read messages (noting the pages, the session and every new element) until one of
        ``kind`` (for a script run: one that finished the whole run)."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            which = msg.WhichOneof("type")
            if which == "new_session":
                self.session = msg.new_session.initialize.session_id
            elif which == "navigation":
                self.pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
            elif which == "delta" and msg.delta.WhichOneof("type") == "new_element":
                self.note(msg.delta.new_element, page)
            if which == kind and (kind != "script_finished" or msg.script_finished in (0, 1)):
                return msg

    def note(self, el, page: str) -> None:
        """An element the page showed: exceptions are errors, choices are kept."""
        what = el.WhichOneof("type")
        if what == "exception":
            self.errors.append(f"{page}: {el.exception.type}: {el.exception.message[:100]}")
        elif what in ("selectbox", "radio"):
            box = getattr(el, what)
            shown = box.raw_value if box.set_value else ""
            if not box.set_value and box.HasField("default") and box.options:
                shown = box.options[box.default]
            if box.id not in self.choices or box.set_value:  # else the browser keeps its own
                self.choices[box.id] = shown


# --- a learner drawing on the canvas -------------------------------------------------------------


def stroke_points(digit: str, size: int, seed: int | None = None) -> list[tuple[float, float]]:
    """``digit``'s stroke in canvas pixels, sampled as a mouse moving in 4 steps per segment
    (what bench_class's browsers do), ``(n, 2)`` points. With a ``seed``, a hand's variation:
    the whole stroke moved by up to 8 px and each corner by up to 1.5% of the canvas, so no two
    learners' drawings are the same picture (the app caches results by picture)."""
    rng = random.Random(seed)
    wobble = 0.015 if seed is not None else 0.0
    dx, dy = (rng.uniform(-8, 8), rng.uniform(-8, 8)) if seed is not None else (0.0, 0.0)
    pts = [((x + rng.uniform(-wobble, wobble)) * size + dx,
            (y + rng.uniform(-wobble, wobble)) * size + dy) for x, y in SHAPES[digit]]  # fmt: skip
    out = [pts[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        out += [(x0 + (x1 - x0) * k / 4, y0 + (y1 - y0) * k / 4) for k in range(1, 5)]
    return out


def fabric_path(points: list[tuple[float, float]], width: int) -> dict:
    """The Fabric 7 object PencilBrush makes of a freehand stroke through ``points``: a path
    of quadratic curves through the midpoints, positioned by its centre (Fabric 7's origin)."""
    path = [["M", *points[0]]]
    for p, q in itertools.pairwise(points):
        path.append(["Q", *p, (p[0] + q[0]) / 2, (p[1] + q[1]) / 2])
    path.append(["L", *points[-1]])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    locks = ["lockMovementX", "lockMovementY", "lockRotation", "lockScalingX", "lockScalingY",
             "lockSkewingX", "lockSkewingY", "lockScalingFlip"]  # fmt: skip
    return {
        **dict.fromkeys(locks, False), "type": "Path", "version": "7.4.0",
        "originX": "center", "originY": "center",
        "left": (min(xs) + max(xs)) / 2, "top": (min(ys) + max(ys)) / 2,
        "width": max(xs) - min(xs), "height": max(ys) - min(ys), "fill": None,
        "stroke": "#FFFFFF", "strokeWidth": width, "strokeDashArray": None,
        "strokeLineCap": "round", "strokeDashOffset": 0, "strokeLineJoin": "round",
        "strokeUniform": False, "strokeMiterLimit": 10, "scaleX": 1, "scaleY": 1, "angle": 0,
        "flipX": False, "flipY": False, "opacity": 1, "shadow": None, "visible": True,
        "backgroundColor": "", "fillRule": "nonzero", "paintFirst": "fill",
        "globalCompositeOperation": "source-over", "skewX": 0, "skewY": 0, "path": path,
    }  # fmt: skip


def canvas_png(points: list[tuple[float, float]], size: int, width: int) -> str:
    """The canvas's ``toDataURL("png")``: the stroke white (round caps and joins, antialiased:
    drawn 2× and shrunk) on the opaque black background, ``size`` px square, as a data URL."""
    from PIL import Image, ImageDraw

    k = 2
    img = Image.new("RGBA", (size * k, size * k), (0, 0, 0, 255))
    pen = ImageDraw.Draw(img)
    big = [(x * k, y * k) for x, y in points]
    pen.line(big, fill=(255, 255, 255, 255), width=width * k, joint="curve")
    r = width * k / 2
    for x, y in (big[0], big[-1]):
        pen.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255, 255))
    buf = io.BytesIO()
    img.resize((size, size), Image.Resampling.BOX).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def canvas_state(digit: str, seed: int | None = None, size: int = 280, width: int = 22) -> str:
    """The component state the browser sends after ``digit`` is drawn on an empty canvas
    (Draw & predict's: 280 px, stroke 22 px; varied by ``seed``, see :func:`stroke_points`):
    ``{"drawing": {"raw", "data"}}`` as JSON."""
    points = stroke_points(digit, size, seed)
    raw = {"version": "7.4.0", "objects": [fabric_path(points, width)], "background": "#000000"}
    return json.dumps({"drawing": {"raw": raw, "data": canvas_png(points, size, width)}})


@dataclass
class Drawer(Session):
    """A learner on Draw & predict: :meth:`draw` sends a digit as the canvas does and times the
    answer (from sending to the Prediction metric showing that digit)."""

    index: int = 0
    canvas: str = ""  # the canvas component's widget id, once the page showed it
    drawing: str = ""  # the canvas's state as JSON, sent with every rerun once drawn
    shown: str | None = None  # the Prediction metric's value in the run being read
    latencies: list[float] = field(default_factory=list)

    def more_states(self) -> list:
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        if not (self.canvas and self.drawing):
            return []
        return [WidgetState(id=self.canvas, json_value=self.drawing)]

    def note(self, el, page: str) -> None:
        super().note(el, page)
        what = el.WhichOneof("type")
        if what == "bidi_component" and not self.canvas:
            self.canvas = el.bidi_component.id
        elif what == "metric" and el.metric.label == "Prediction":
            self.shown = el.metric.body

    async def draw(self, digit: str, state: str, wait_s: float) -> None:
        """Send ``digit`` (``state``: its canvas state); note the latency or the error."""
        self.drawing, self.shown = state, None
        t0 = time.monotonic()
        await self.send_rerun()
        deadline = t0 + wait_s
        while self.shown != digit:
            left = deadline - time.monotonic()
            if left <= 0:
                self.errors.append(f"drew {digit}, page showed {self.shown!r} after {wait_s:.0f} s")
                return
            await self.until("delta", timeout=left)
        self.latencies.append(time.monotonic() - t0)
        await self.until(
            "script_finished", page="draw", timeout=max(1.0, deadline - time.monotonic())
        )

"""The app's drawing canvas, with labelled Undo and Clear buttons in place of its toolbar.

The canvas component's toolbar (an unlabeled "Edit" pencil that stops drawing and lets a drag
push the digit off the canvas, undo, redo, a bin) is hidden (:func:`hide_canvas_toolbars`);
labelled Undo / Clear buttons replace it. Both hand the canvas a new initial drawing (every
stroke but the last, or none), numbered so that it always differs from the one before: the
canvas then reloads it and sends it back, and the prediction follows.

The drawing is the learner's until they clear it: each canvas's last strokes and picture are
kept in session state (:func:`kept_drawing`), so when the canvas comes back (another page, a
lesson step, and back again) it is handed its strokes as its initial drawing and the page reads
the kept picture until the canvas sends a new one. A drawing made on another canvas (Draw &
predict's 280 px, the Lesson's 420 px) is handed over rescaled to this canvas's size
(:func:`rescaled`), so the Lesson shows the digit drawn on Draw & predict, and back.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

_HIDE_CANVAS_TOOLBARS = """<script>
(() => {
  // every custom component's shadow root (the canvas may not have drawn its toolbar yet)
  const hosts = '[data-testid="stBidiComponentIsolated"]';
  const hide = () => document.querySelectorAll(hosts).forEach((el) => {
    const root = el.shadowRoot;
    if (root && !root.getElementById("no-toolbar")) {
      const style = document.createElement("style");
      style.id = "no-toolbar";
      style.textContent = ".dc-toolbar { display: none !important; }";
      root.appendChild(style);
    }
  });
  hide();
  new MutationObserver(hide).observe(document.body, { childList: true, subtree: true });
})();
</script>"""


def hide_canvas_toolbars() -> None:
    """Hide the toolbar of every drawing canvas on the page (streamlit-drawable-canvas draws it
    inside its shadow root, out of reach of the page's CSS; its unlabeled "Edit" pencil stops
    drawing and lets a drag push the digit off the canvas). Give the canvas labelled buttons
    instead (see :func:`canvas_buttons`)."""
    st.html(_HIDE_CANVAS_TOOLBARS, unsafe_allow_javascript=True)


def canvas_start(name: str) -> dict | None:
    """The initial drawing to hand the canvas ``name`` (after Undo or Clear), if any."""
    return st.session_state.get(f"_{name}_start")


def kept_drawing(name: str) -> dict | None:
    """The last drawing the canvas ``name`` sent: ``{"objects": Fabric objects, "image":
    (H, W, 4) uint8 RGBA, "size": the canvas's side in px}``, or None once it is cleared (or
    before anything was drawn)."""
    return st.session_state.get(f"_{name}_kept")


_SCALED_KEYS = ("left", "top", "scaleX", "scaleY")


def rescaled(objects: list[dict], factor: float) -> list[dict]:
    """Fabric ``objects`` drawn on one canvas as they lie on a canvas ``factor`` times as
    large: each object's position (``left``, ``top``) and scale (``scaleX``, ``scaleY``, which
    Fabric also applies to the stroke width) multiplied by ``factor``; its path is unchanged
    (it is drawn relative to the object's box)."""
    out = []
    for obj in objects:
        new = dict(obj)
        for key in _SCALED_KEYS:
            default = 1.0 if key.startswith("scale") else 0.0
            new[key] = float(obj.get(key, default)) * factor
        out.append(new)
    return out


def _keep(name: str, objects: list, image: np.ndarray | None, size: int = 0) -> np.ndarray | None:
    """Remember what the canvas sent; the picture to read: the one sent, else (the canvas just
    mounted again, holding its kept strokes, with no picture sent yet) the kept one."""
    kept = kept_drawing(name)
    if not objects:
        st.session_state.pop(f"_{name}_kept", None)
        return None
    if image is not None:
        st.session_state[f"_{name}_kept"] = {"objects": objects, "image": image, "size": size}
        st.session_state["_drawn_last_on"] = name
        return image
    return kept["image"] if kept and kept["objects"] == objects else None


def _restore(name: str, size: int) -> None:
    """Hand the canvas ``name`` (``size`` px square) the learner's latest drawing: its own
    kept strokes, or, when the learner has since drawn on another canvas (the Lesson's, Draw &
    predict's), that newer drawing rescaled to this canvas."""
    last = st.session_state.get("_drawn_last_on")
    newest = kept_drawing(last) if last else None
    if last != name:
        st.session_state.pop(f"_{name}_kept", None)
    if not newest:
        return
    factor = size / newest["size"] if last != name and newest.get("size") else 1.0
    objects = rescaled(newest["objects"], factor) if factor != 1.0 else newest["objects"]
    if last != name:  # this canvas reads the newer picture until it sends its own
        st.session_state[f"_{name}_kept"] = {"objects": objects, "image": newest["image"],
                                             "size": size}  # fmt: skip
    _restart_canvas(name, objects)


def _restart_canvas(name: str, objects: list) -> None:
    n = st.session_state.get(f"_{name}_n", 0) + 1
    st.session_state[f"_{name}_n"] = n
    st.session_state[f"_{name}_start"] = {"objects": objects, "revision": n}


def clear(name: str) -> None:
    """Empty the canvas ``name`` and forget the learner's drawing (it shows empty when it
    comes back); the current digit stays until something new is drawn."""
    st.session_state.pop(f"_{name}_kept", None)
    st.session_state.pop("_drawn_last_on", None)
    _restart_canvas(name, [])


def canvas_buttons(name: str, objects: list) -> None:
    """Undo (the last stroke) and Clear under the canvas ``name``, in place of its toolbar."""
    hide_canvas_toolbars()
    undo, clear = st.columns(2)
    for column, label, icon, keep in (
        (undo, "Undo stroke", ":material/undo:", objects[:-1]),
        (clear, "Clear", ":material/delete:", []),
    ):
        column.button(
            label,
            icon=icon,
            on_click=_restart_canvas,
            args=(name, keep),
            disabled=not objects,
            width="stretch",
            key=f"{name}_{label.split()[0].lower()}",
        )


def drawing_canvas(name: str, size: int, stroke_width: int) -> tuple[np.ndarray | None, list]:
    """A square white-on-black drawing canvas (its toolbar replaced by :func:`canvas_buttons`):
    ``(RGBA image data or None, the strokes drawn)``."""
    from streamlit_drawable_canvas import st_canvas

    if name not in st.session_state:  # mounted (again): hand it the learner's strokes
        _restore(name, size)
    result = st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        height=size,
        width=size,
        drawing_mode="freedraw",
        initial_drawing=canvas_start(name),
        return_image_data=True,
        key=name,
    )
    objects = (result.json_data or {}).get("objects", [])
    image = _keep(name, objects, result.image_data, size)
    canvas_buttons(name, objects)
    return image, objects

"""How a :class:`~explainer.tracing.trace.Trace` shows itself in Jupyter, Colab and VS Code.

A Trace left at the end of a cell shows the digit, the prediction with its top classes, and a
compact table of the layers (``_repr_html_``); ``_repr_png_`` gives the digit and its
probability bars as one picture; ``trace.show()`` displays it from anywhere in a cell (plain
text outside a notebook).
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

DIGIT_SCALE = 4  # the 28×28 digit is drawn 112 px wide


def show_in_notebook(obj: Any) -> bool:
    """``IPython.display.display(obj)`` when running under IPython; ``False`` otherwise."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    display(obj)
    return True


def digit_png(image: np.ndarray, scale: int = DIGIT_SCALE) -> bytes:
    """A ``(28, 28)`` image (floats in [0, 1] or uint8) as a PNG, ``scale`` × larger, sharp."""
    from PIL import Image

    a = np.asarray(image, dtype=np.float32).reshape(image.shape[-2:])
    if a.max(initial=0) > 1.0:
        a = a / 255.0
    pixels = (np.clip(np.nan_to_num(a), 0, 1) * 255).round().astype(np.uint8)
    img = Image.fromarray(pixels, "L")
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _top(trace: TraceDisplay, k: int = 3) -> list[tuple[str, float, bool]]:
    probs = trace.probs
    names = trace.class_names or [str(i) for i in range(len(probs))]
    order = np.argsort(probs)[::-1][:k]
    return [(names[i], float(probs[i]), int(i) == trace.prediction) for i in order]


def _bars_html(trace: TraceDisplay) -> str:
    from explainer.nets.calibration import confidence_text
    from explainer.style import HIGHLIGHT_COLOR
    from explainer.tracing.verdict import bar_colours

    rows = []
    top, rest = bar_colours(trace, HIGHLIGHT_COLOR, "#9ab")
    for name, p, best in _top(trace):
        color = top if best else rest
        rows.append(
            f"<div style='display:flex;align-items:center;gap:6px;font-size:12px'>"
            f"<span style='width:5em;text-align:right'>{html.escape(name)}</span>"
            f"<span style='display:inline-block;height:10px;width:{max(1, round(p * 120))}px;"
            f"background:{color}'></span><span>{confidence_text(p)}</span></div>"
        )
    return "".join(rows)


def _said_first(trace: TraceDisplay) -> str:
    """The not-a-digit verdict and its reason, above everything else ("" for a digit)."""
    t: Any = trace
    if not t.not_a_digit:
        return ""
    return (
        f"<div style='font-size:14px;font-weight:600;margin-bottom:4px'>"
        f"{html.escape(t.said_first)}</div><div style='font-size:12px;color:#777'>"
        f"({html.escape(t.not_a_digit)})</div>"
    )


def _verdict(trace: TraceDisplay) -> str:
    from explainer.style import CORRECT_COLOR, WRONG_COLOR

    if trace.label is None:
        return ""
    names = trace.class_names or [str(i) for i in range(len(trace.logits))]
    ok = trace.correct
    color, word = (CORRECT_COLOR, "right") if ok else (WRONG_COLOR, "wrong")
    return (
        f" <span style='color:{color};font-weight:600'>{word}</span>"
        f" (label {html.escape(names[trace.label])})"
    )


def _layer_rows(trace: TraceDisplay) -> str:
    from explainer.style import KIND_COLORS

    rows = []
    for r in trace.layers:
        lo, hi = (float(r.output.min()), float(r.output.max())) if r.output.size else (0.0, 0.0)
        dot = KIND_COLORS.get(r.kind, KIND_COLORS["other"])
        cells = [
            f"<code>{html.escape(r.name)}</code>",
            f"<span style='color:{dot}'>&#9632;</span> {html.escape(r.kind)}",
            html.escape(r.description),
            html.escape(r.shape_text),
            f"{lo:.3g} … {hi:.3g}",
        ]
        td = "<td style='padding:1px 10px 1px 0;text-align:left'>"
        rows.append("<tr>" + "".join(f"{td}{c}</td>" for c in cells) + "</tr>")
    return "".join(rows)


def trace_html(trace: TraceDisplay) -> str:
    """The HTML a notebook shows for a Trace: digit, prediction, top classes, layer table."""
    src = base64.b64encode(digit_png(trace.image)).decode("ascii")
    who = html.escape(trace.checkpoint or trace.architecture)
    head = (
        f"<div style='font-size:14px'><b>{who}</b> reads "
        f"<b style='font-size:18px'>{html.escape(trace.predicted_name)}</b> "
        f"({trace.confidence_text}){_verdict(trace)}</div>"
    )
    source = f"<div style='font-size:11px;color:#777'>{html.escape(trace.source)}</div>"
    th = "".join(
        f"<th style='text-align:left;padding-right:10px'>{h}</th>"
        for h in ("layer", "kind", "what it does", "output", "range")
    )
    table = (
        f"<table style='font-size:12px;border-collapse:collapse;margin-top:6px'>"
        f"<thead><tr>{th}</tr></thead><tbody>{_layer_rows(trace)}</tbody></table>"
    )
    return (
        "<div style='display:flex;gap:16px;align-items:flex-start'>"
        f"<img src='data:image/png;base64,{src}' width='112' height='112' "
        "style='image-rendering:pixelated;border:1px solid #ccc' alt='the digit'>"
        f"<div>{_said_first(trace)}{head}{source if trace.source else ''}{_bars_html(trace)}"
        f"{table}</div></div>"
    )


def trace_png(trace: TraceDisplay) -> bytes:
    """The digit beside its class probabilities, as one PNG (no pyplot state touched)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from explainer.style import HIGHLIGHT_COLOR, INPUT_CMAP
    from explainer.tracing.verdict import bar_colours, verdict_lines

    probs = trace.probs
    names = trace.class_names or [str(i) for i in range(len(probs))]
    fig = Figure(figsize=(6.4, 2.6), dpi=100)
    FigureCanvasAgg(fig)
    ax_img, ax_bar = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.6]})
    ax_img.imshow(np.asarray(trace.image).reshape(28, 28), cmap=INPUT_CMAP, vmin=0, vmax=1)
    ax_img.set_axis_off()
    ax_img.set_title(trace.source or "input", fontsize=9)
    top, rest = bar_colours(trace, HIGHLIGHT_COLOR, "#9ab")
    colors = [top if i == trace.prediction else rest for i in range(len(probs))]
    ax_bar.barh(range(len(probs)), probs, color=colors)
    ax_bar.set_yticks(range(len(probs)), [n[:12] for n in names], fontsize=8)
    ax_bar.invert_yaxis()
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("probability", fontsize=9)
    flagged = getattr(trace, "not_a_digit", None)  # the verdict's two sentences, one a line
    title = "\n".join(verdict_lines(trace.predicted_name)) if flagged else trace.title
    ax_bar.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class TraceDisplay:
    """Mixed into :class:`~explainer.tracing.trace.Trace`: how a Trace shows itself in a
    notebook. (The functions above take the Trace as this, its base, so that this module
    needs nothing from the Trace's own.)"""

    def _repr_html_(self) -> str:
        return trace_html(self)  # type: ignore[arg-type]

    def _repr_png_(self) -> bytes:
        return trace_png(self)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        t: Any = self
        return f"<Trace {t.title}; {len(t.layers)} layers>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text form (what a notebook stores beside the HTML): the summary
        table, not every array."""
        printer.text("Trace(...)" if cycle else self.summary())  # type: ignore[attr-defined]

    def show(self) -> None:
        """Display the Trace in a notebook; print its summary anywhere else."""
        if not show_in_notebook(self):
            print(self.summary())  # type: ignore[attr-defined]

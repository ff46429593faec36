"""``mistakes``: a reel of test digits the model gets wrong, with its top-2 probabilities.

It draws a :class:`~explainer.evaluate.MistakeReport` (from
:func:`explainer.evaluate.mistake_report` of :func:`explainer.evaluate.evaluate`): the most
confident mistakes first (those say the most about the model), on the official test set when
it was on disk, else the 500 bundled test digits. It loads nothing and runs no model.
"""

from __future__ import annotations

from explainer import style
from explainer.animate.canvas import Sketch
from explainer.animate.reel import Paste, Reel
from explainer.arith import confidence_text
from explainer.errors import ExplainerError
from explainer.evaluate import MistakeReport


def build_mistakes(
    *,
    report: MistakeReport,
    fps: float = 10,
    seconds: float = 12,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
    per_page: int = 4,
) -> Reel:
    """Pages of ``per_page`` mistakes, each card appearing in turn; ``reel.meta["mistakes"]``."""
    if not isinstance(report, MistakeReport):
        raise ExplainerError(
            "the mistakes animation needs report=mistake_report(evaluate(checkpoint)) "
            "(explainer.evaluate)"
        )
    mistakes, checked, full = report.mistakes, report.checked, report.official
    if not mistakes:
        raise ExplainerError(
            f"{report.model} classifies all {checked} test digits correctly: no mistakes to show"
        )
    W, H = size
    u = min(W / 800, H / 450)
    t = style.theme(theme)
    n_frames = round(fps * seconds)
    card_frames = max(2, round(fps * 0.5))
    page_hold = max(2, round(fps * 1.2))
    per_page_frames = per_page * card_frames + page_hold
    pages = max(1, min(-(-len(mistakes) // per_page), n_frames // per_page_frames))
    shown = mistakes[: pages * per_page]
    names = report.class_names or [str(i) for i in range(len(mistakes[0].probs))]
    where = "official test digits" if full else "bundled test digits"

    base = Sketch(size, theme)
    base.text(16 * u, 18 * u, f"Mistakes of {report.model}", 11.5, bold=True)
    base.text(16 * u, 38 * u, f"{report.errors} of the {checked} {where} misclassified "
              f"({report.accuracy:.1%} accuracy); the most confident mistakes first.",
              8.5, color=t.muted)  # fmt: skip
    base.text(W - 16 * u, 18 * u, "", 9)
    card_w = (W - 32 * u) / per_page
    img_f = max(1, int(min(card_w - 40 * u, 250 * u) // 28))
    reel = Reel(base.array(), fps, title=f"mistakes: {report.model}")
    card_boxes = []
    for p in range(pages):
        page = Sketch.on(reel.sheets[0], theme)
        page.text(W - 16 * u, 18 * u, f"page {p + 1} of {pages}", 9, anchor="rm", color=t.muted)
        for j, m in enumerate(shown[p * per_page : (p + 1) * per_page]):
            x0 = int(16 * u + j * card_w)
            x1 = int(16 * u + (j + 1) * card_w) - int(10 * u)
            y0 = int(60 * u)
            card_y1 = y0 + int(12 * u) + 28 * img_f + int(140 * u)
            page.draw.rounded_rectangle((x0, y0, x1, card_y1), radius=8, fill=t.panel)
            ix = (x0 + x1) // 2 - 14 * img_f
            box = (y0 + int(12 * u), y0 + int(12 * u) + 28 * img_f, ix, ix + 28 * img_f)
            page.paste(box, style.colorize(m.image, style.scale_for(m.image, "input")))
            ty = box[1] + int(18 * u)
            page.text(
                (x0 + x1) / 2,
                ty,
                f"true {names[m.label]}  →  predicted {names[m.top2[0]]}",
                9.5,
                bold=True,
                anchor="mm",
                color=style.WRONG_COLOR,
            )
            page.text(
                (x0 + x1) / 2, ty + 17 * u, f"test digit #{m.index}", 8, anchor="mm", color=t.muted
            )
            for r, cls in enumerate(m.top2):
                by = ty + int(38 * u) + r * int(22 * u)
                bx0, bx1 = x0 + int(56 * u), x1 - int(58 * u)
                colour = (
                    style.WRONG_COLOR
                    if r == 0
                    else (style.CORRECT_COLOR if cls == m.label else t.muted)
                )
                page.text(bx0 - 6 * u, by, names[cls][:8], 8.5, anchor="rm")
                page.draw.rectangle((bx0, by - 7 * u, bx1, by + 7 * u), fill=t.background)
                page.draw.rectangle(
                    (bx0, by - 7 * u, bx0 + max(1, (bx1 - bx0) * float(m.probs[cls])), by + 7 * u),
                    fill=colour,
                )
                page.text(bx1 + 4 * u, by, confidence_text(float(m.probs[cls])), 8.5)
            if m.label not in m.top2:
                page.text(
                    (x0 + x1) / 2,
                    ty + int(86 * u),
                    f"true class {names[m.label]}: {confidence_text(float(m.probs[m.label]))}",
                    8,
                    anchor="mm",
                    color=t.muted,
                )
            card_boxes.append((y0, card_y1 + 1, x0, x1 + 1))
        page.text(
            W / 2,
            H - 24 * u,
            "Bars: the model's two most likely classes (red: its answer, green: the true class).",
            8.5,
            anchor="mm",
            color=t.muted,
        )
        sid = reel.add_sheet(page.array())
        first = True
        for j in range(len(shown[p * per_page : (p + 1) * per_page])):
            pastes = [Paste(sid, card_boxes[p * per_page + j])]
            if first:
                pastes.append(Paste(sid, (0, int(30 * u), W // 2, W)))
                pastes.append(Paste(sid, (H - int(40 * u), H, 0, W)))
            reel.frame(pastes, reset=first)
            first = False
            reel.hold(card_frames - 1)
        reel.hold(page_hold)
    reel.hold(n_frames - reel.n_frames)
    reel.meta = {"mistakes": shown, "checked": checked}
    return reel

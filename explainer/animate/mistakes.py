"""``mistakes``: a reel of test images the model gets wrong, with its top-2 probabilities.

It draws a :class:`~explainer.analysis.evaluate.MistakeReport` (from
:func:`explainer.analysis.evaluate.mistake_report` of
:func:`explainer.analysis.evaluate.evaluate`): the most
confident mistakes first (those say the most about the model), on the official test set when
it was on disk, else the 500 bundled test images. It loads nothing and runs no model. At
``pace="class"`` each card stays 3 s on its own before the next one appears.
"""

from __future__ import annotations

from explainer import style
from explainer.analysis.arith import confidence_text
from explainer.analysis.evaluate import MistakeReport
from explainer.analysis.flowgraph import item_word, tied_classes
from explainer.animate.canvas import Sketch
from explainer.animate.reel import Paste, Reel
from explainer.errors import ExplainerError

# seconds each card stays alone before the next appears, and the extra pause on a full page
PACES = {"class": (3.0, 2.0), "readme": (0.5, 1.2)}
CLASS_PAGES = 3  # pages a class-paced reel shows by default


def _pace(pace: str) -> tuple[float, float]:
    if pace not in PACES:
        raise ExplainerError(f"unknown pace {pace!r}; choose one of: {', '.join(PACES)}")
    return PACES[pace]


def default_seconds(report: MistakeReport, fps: float = 10, pace: str = "class",
                    per_page: int = 4) -> float:  # fmt: skip
    """class: 3 s per card and 2 s per full page, up to 3 pages; readme: 12 s."""
    if pace == "readme":
        return 12.0
    card, page = _pace(pace)
    pages = max(1, min(CLASS_PAGES, -(-len(report.mistakes) // per_page)))
    cards = min(len(report.mistakes), pages * per_page)
    return float(max(1, round(cards * card + pages * page)))


def _frames(n_frames: int, fps: float, pace: str, per_page: int, n: int) -> tuple[int, int, int]:
    """``(pages, frames per card, pause frames per page)`` filling ``n_frames``."""
    card_s, page_s = _pace(pace)
    card, page = max(1, round(fps * card_s)), max(1, round(fps * page_s))
    m = min(per_page, n)  # cards on a full page
    pages = max(1, min(-(-n // per_page), n_frames // (m * card + page)))
    per = n_frames // pages
    if per < m * card + page:  # a shorter --seconds: shorter cards, same proportions
        card = max(1, round(per * card / (m * card + page)))
    page = max(0, per - m * card)
    return pages, card, page


def build_mistakes(
    *,
    report: MistakeReport,
    fps: float = 10,
    seconds: float | None = None,
    size: tuple[int, int] = (800, 450),
    theme: str = "light",
    per_page: int = 4,
    pace: str = "class",
) -> Reel:
    """Pages of ``per_page`` mistakes, each card appearing in turn (at class pace each card
    stays 3 s before the next); ``reel.meta["mistakes"]`` lists the cards shown and
    ``reel.meta["cards"]`` the frame where each appears."""
    if not isinstance(report, MistakeReport):
        raise ExplainerError(
            "the mistakes animation needs report=mistake_report(evaluate(checkpoint)) "
            "(explainer.analysis.evaluate)"
        )
    mistakes, checked, full = report.mistakes, report.checked, report.official
    items = item_word(class_names=report.class_names, plural=True)
    if not mistakes:
        raise ExplainerError(
            f"{report.model} classifies all {checked} test {items} correctly: no mistakes to show"
        )
    if seconds is None:
        seconds = default_seconds(report, fps, pace, per_page)
    W, H = size
    u = min(W / 800, H / 450)
    k = max(0.7, u)
    t = style.theme(theme)
    n_frames = round(fps * seconds)
    pages, card_frames, page_hold = _frames(n_frames, fps, pace, per_page, len(mistakes))
    shown = mistakes[: pages * per_page]
    names = report.class_names or [str(i) for i in range(len(mistakes[0].probs))]
    where = f"official test {items}" if full else f"bundled test {items}"
    accuracy = confidence_text(report.accuracy)

    base = Sketch(size, theme)
    base.fitted(16 * u, 18 * u, f"Mistakes of {report.model}", 11.5 * k, W * 0.7, bold=True)
    base.fitted(16 * u, 38 * u, f"{report.errors} of the {checked} {where} misclassified "
                f"({accuracy} accuracy); the most confident mistakes first.", 8.5 * k,
                W - 32 * u, color=t.muted)  # fmt: skip
    card_w = (W - 32 * u) / per_page
    reel = Reel(base.array(), fps, title=f"mistakes: {report.model}")
    card_boxes = []
    starts: list[int] = []
    word = item_word(class_names=report.class_names)
    for p in range(pages):
        page = Sketch.on(reel.sheets[0], theme)
        page.text(W - 16 * u, 18 * u, f"page {p + 1} of {pages}", 9 * k, anchor="rm",
                  color=t.muted)  # fmt: skip
        on_page = shown[p * per_page : (p + 1) * per_page]
        for j, m in enumerate(on_page):
            x0 = int(16 * u + j * card_w)
            x1 = int(16 * u + (j + 1) * card_w) - int(10 * u)
            card_boxes.append(_card(page, m, names, word, (x0, x1), u, k))
        page.fitted(W / 2, H - 22 * u, "Bars: the model's two most likely classes (red: its "
                    "answer, green: the true class).", 8.5 * k, W - 32 * u, anchor="mm",
                    color=t.muted)  # fmt: skip
        sid = reel.add_sheet(page.array())
        for j in range(len(on_page)):
            pastes = [Paste(sid, card_boxes[p * per_page + j])]
            if j == 0:
                pastes.append(Paste(sid, (0, int(30 * u), W // 2, W)))
                pastes.append(Paste(sid, (H - int(40 * u), H, 0, W)))
            starts.append(reel.n_frames)
            reel.frame(pastes, reset=j == 0)
            reel.hold(card_frames - 1)
        reel.hold(page_hold)
    reel.hold(n_frames - reel.n_frames)
    reel.meta = {"mistakes": shown, "checked": checked, "cards": starts, "pace": pace}
    return reel


def _card(page: Sketch, m, names: list[str], word: str, xs: tuple[int, int], u: float,
          k: float) -> tuple[int, int, int, int]:  # fmt: skip
    """One mistake: the image, what it is and what the model said, its two likeliest classes
    as bars with the name above each; returns the card's box."""
    t = page.theme
    x0, x1 = xs
    H = page.height
    inner = x1 - x0 - int(16 * u)
    y0 = int(58 * u)
    img_f = max(1, int(min(inner, 120 * u, H - 260 * u) // 28))
    card_y1 = min(H - int(40 * u), y0 + int(12 * u) + 28 * img_f + int(150 * u))
    page.draw.rounded_rectangle((x0, y0, x1, card_y1), radius=8, fill=t.panel)
    ix = (x0 + x1) // 2 - 14 * img_f
    box = (y0 + int(12 * u), y0 + int(12 * u) + 28 * img_f, ix, ix + 28 * img_f)
    page.paste(box, style.colorize(m.image, style.scale_for(m.image, "input")))
    cx, left = (x0 + x1) / 2, x0 + 8 * u
    ty = box[1] + int(16 * u)
    page.fitted(cx, ty, f"true: {names[m.label]}", 9.5 * k, inner, bold=True, anchor="mm")
    tied = tied_classes(m.probs)
    said = names[m.top2[0]] if len(tied) == 1 else f"a tie of {len(tied)} classes"
    page.fitted(cx, ty + 17 * u, f"predicted: {said}", 9.5 * k, inner, bold=True, anchor="mm",
                color=style.WRONG_COLOR)  # fmt: skip
    page.fitted(cx, ty + 33 * u, f"test {word} #{m.index}", 8 * k, inner, anchor="mm",
                color=t.muted)  # fmt: skip
    for r, cls in enumerate(m.top2):
        by = ty + int(52 * u) + r * int(30 * u)
        colour = style.WRONG_COLOR if r == 0 else (
            style.CORRECT_COLOR if cls == m.label else t.muted
        )  # fmt: skip
        pct = confidence_text(float(m.probs[cls]))
        w_pct = page.text_width(pct, 8.5 * k)
        page.fitted(left, by, names[cls], 8.5 * k, inner - w_pct - 6 * u)
        page.text(x1 - 8 * u, by, pct, 8.5 * k, anchor="rm")
        bx0, bx1 = left, x1 - 8 * u
        page.draw.rectangle((bx0, by + 8 * u, bx1, by + 16 * u), fill=t.background)
        page.draw.rectangle(
            (bx0, by + 8 * u, bx0 + max(1, (bx1 - bx0) * float(m.probs[cls])), by + 16 * u),
            fill=colour,
        )
    if m.label not in m.top2:
        page.fitted(cx, ty + int(116 * u), f"true class {names[m.label]}: "
                    f"{confidence_text(float(m.probs[m.label]))}", 8 * k, inner, anchor="mm",
                    color=t.muted)  # fmt: skip
    return (y0, card_y1 + 1, x0, x1 + 1)

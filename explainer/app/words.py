"""The words the app's pages use for what they show, right for the dataset chosen: a
Fashion-MNIST ankle boot is a "test item", never a "test digit"; a probability of 0.9999979
reads "> 99.9%", never "100.0%"; ten classes tied at 10% are a tie, not a prediction of 0.

No Streamlit here: plain functions of the dataset name, the probabilities and the class names
(from :mod:`explainer.analysis.flowgraph` and :mod:`explainer.analysis.arith`, as the GIFs and
scenes word them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from explainer.analysis.arith import confidence_text
from explainer.analysis.flowgraph import item_word, tied_classes, verdict
from explainer.data import DATASETS, dataset_info


def item(dataset: str, plural: bool = False) -> str:
    """``"digit"`` for MNIST, ``"item"`` for Fashion-MNIST (``plural``: with an ``s``)."""
    return item_word(dataset, plural=plural)


def count(n: int, dataset: str) -> str:
    """``"1 digit"``, ``"91 items"``, with a thousands separator."""
    return f"{n:,} {item(dataset, plural=n != 1)}"


def a(name: str) -> str:
    """``name`` with its article, as said aloud: "a 3", "an 8", "an Ankle boot"."""
    spoken = str(name).lower()
    vowel = spoken[:1] in ("a", "e", "i", "o", "u", "8") or spoken in ("11", "18")
    return f"{'an' if vowel else 'a'} {name}"


def percent(p: float) -> str:
    """A probability as the learner reads it: ``"> 99.9%"``, ``"< 0.1%"``, ``"97.3%"``."""
    return confidence_text(float(p))


def answer(probs: np.ndarray, class_names: Sequence[str]) -> tuple[str, str]:
    """What the model answered, as ``(answer, how sure)``: ``("7", "> 99.9%")``, or, when
    several classes share the highest probability, ``("tie: 10 classes", "10.0% each")``."""
    tied = tied_classes(probs)
    p = float(np.asarray(probs).ravel()[tied[0]])
    names = [breakable(n) for n in class_names]
    if len(tied) > 1:
        who = " and ".join(names[i] for i in tied) if len(tied) <= 3 else f"{len(tied)} classes"
        return f"tie: {who}", f"{percent(p)} each"
    return names[tied[0]], percent(p)


def breakable(name: object) -> str:
    """A class name as large type shows it: a zero-width space after each "/" so that
    "T-shirt/top" may wrap after the slash in a narrow column, never inside "top"."""
    return str(name).replace("/", "/\u200b")


def answer_line(probs: np.ndarray, class_names: Sequence[str], label: int | None = None) -> str:
    """One line: ``"prediction: 7  > 99.9%  ✓ correct"`` or ``"tie: 10 classes at 10.0% each
    the label is 0"`` (:func:`explainer.analysis.flowgraph.verdict`)."""
    return verdict(probs, class_names, label).line


def data_hint(dataset: str) -> str:
    """What to do when the full test set is missing, naming the dataset actually chosen."""
    info = dataset_info(dataset) if dataset in DATASETS else None
    title = info.title if info else dataset
    folder = info.folder if info else dataset
    n = "10,000"
    return (
        f"The full {title} test set is not on this machine, so this page uses the 500 bundled "
        f"test {item(dataset, plural=True)}. For all {n}: `explainer data download --dataset "
        f"{dataset}` (or point `EXPLAINER_DATA_DIR` at a folder holding `{folder}/raw/`), "
        "then restart the app."
    )


def similarity_story(
    layers: Sequence[str], green: Sequence[float], red: Sequence[float], true: str, pred: str
) -> str:
    """What the Mistakes page's two similarity lines show, layer by layer (``layers``, one value
    of each line per layer): the mistaken item against a correct ``true`` (green) and a correct
    ``pred`` (red). Says whether red ever rises above green, where, and how it ends."""
    above = [float(r) > float(g) for g, r in zip(green, red, strict=True)]
    if not any(above):
        return (
            f"Red stays below green at every layer, the last one included: all the way through, "
            f"the activations look more like the correct {true} than the correct {pred}; the "
            f"answer {pred} comes from details this overall likeness does not show."
        )
    first = above.index(True)
    if all(above[first:]):
        where = "from the first layer on" if first == 0 else f"at **{layers[first]}**"
        return (
            f"Red overtakes green {where} and stays above it to the end: from there on the "
            f"activations look more like {a(pred)} than {a(true)}."
        )
    back = above.index(False, first)
    ends = "ends above it" if above[-1] else "ends below it"
    return (
        f"Red rises above green at **{layers[first]}**, falls back below it at "
        f"**{layers[back]}** and {ends}: red is above at {sum(above)} of the {len(above)} "
        f"layers ({', '.join(n for n, up in zip(layers, above, strict=True) if up)})."
    )

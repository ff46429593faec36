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
    if len(tied) > 1:
        who = (
            " and ".join(class_names[i] for i in tied) if len(tied) <= 3 else f"{len(tied)} classes"
        )
        return f"tie: {who}", f"{percent(p)} each"
    return str(class_names[tied[0]]), percent(p)


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

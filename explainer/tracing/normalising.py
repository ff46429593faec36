"""A normalisation written inside a model's ``forward``, read back from its records.

``x = (x - 0.1307) / 0.3081`` (or ``x.sub(m).div(s)``, ``(x - m) * (1 / s)``) is recorded as a
subtraction and a division of the model's input by plain numbers. :func:`normalisation` finds
that pair and gives its mean and standard deviation, so a picture can say "normalise: mean
0.1307, std 0.3081" instead of "subtract + ÷ 0.3081".

Example:

>>> from explainer.tracing.trace import LayerRecord
>>> import numpy as np
>>> sub = LayerRecord("sub", "add", np.zeros((1, 2, 2)), {"function": "sub",
...     "call": {"args": [{"ref": "input"}, 0.1307]}}, inputs=["input"])
>>> div = LayerRecord("div", "mul", np.zeros((1, 2, 2)), {"function": "div",
...     "call": {"args": [{"ref": "sub"}, 0.3081]}}, inputs=["sub"])
>>> normalisation([sub, div])
(0.1307, 0.3081)
>>> normalisation_words(0.1307, 0.3081)
'normalise: mean 0.1307, std 0.3081'
"""

from __future__ import annotations

from collections.abc import Sequence

from explainer.tracing.trace import LayerRecord


def _number(rec: LayerRecord) -> float | None:
    """The one plain number a one-tensor call used, when the tensor comes first."""
    args = rec.params.get("call", {}).get("args", [])
    if len(args) != 2 or not isinstance(args[0], dict) or isinstance(args[1], bool):
        return None
    return float(args[1]) if isinstance(args[1], (int, float)) else None


def normalisation(records: Sequence[LayerRecord]) -> tuple[float, float] | None:
    """``(mean, std)`` when ``records`` start with ``x - mean`` followed by ``÷ std`` (or
    ``× 1/std``) of its result; ``None`` otherwise."""
    if len(records) < 2:
        return None
    sub, scale = records[0], records[1]
    if sub.kind != "add" or sub.params.get("function") != "sub" or len(sub.inputs) != 1:
        return None
    if scale.kind != "mul" or scale.inputs != [sub.name]:
        return None
    mean, factor = _number(sub), _number(scale)
    if mean is None or not factor:
        return None
    return mean, factor if scale.params.get("function") == "div" else 1.0 / factor


def normalisation_words(mean: float, std: float) -> str:
    """``"normalise: mean 0.1307, std 0.3081"``."""
    return f"normalise: mean {mean:.4g}, std {std:.4g}"

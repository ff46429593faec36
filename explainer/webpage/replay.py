"""A network rebuilt from its Trace so that every record's value is an output of one graph.

:class:`Replay` runs a captured Trace's records again, in order, each on the values of the
records it names in ``inputs``: module records call the model's own module again (so a
subclass or a custom module behaves as it did in the capture), function-call records redo the
recorded call (:func:`explainer.tracing.calls.replay`, the whitelisted functions only). Its
``forward`` returns the value of every record, so an exported graph (ONNX, see
:mod:`explainer.webpage.onnx_export`) hands the browser every layer's maps with one run.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from explainer.errors import ExplainerError
from explainer.tracing import calls
from explainer.tracing.layers import plan_of
from explainer.tracing.recompute import unreplayable
from explainer.tracing.trace import INPUT, LayerRecord, Trace

__all__ = ["NotExportable", "Replay", "logits_record"]


class NotExportable(ExplainerError):
    """A record of the model that the exported page could not compute."""


class Replay(nn.Module):
    """``forward(x)``: ``x`` ``(1, 1, 28, 28)`` → a tuple with every record's value as float32
    (batch axis kept unless the record was captured whole), in the Trace's order; ``upto``:
    only the first ``upto`` records."""

    def __init__(self, model: nn.Module, trace: Trace, upto: int | None = None) -> None:
        super().__init__()
        bad = unreplayable(trace.layers)
        if bad:
            raise NotExportable(_cannot(trace.layer(bad[0])))
        named = plan_of(model).named
        self.records = list(trace.layers[:upto])
        self.steps = nn.ModuleList()  # the model's modules again, so they travel with us
        self.where: list[int] = []  # record i -> its module's index in steps (-1: a call)
        for r in self.records:
            if "call" in r.params:
                self.where.append(-1)
                continue
            module = named.get(r.name.split("#")[0])
            if module is None:
                raise NotExportable(f"{r.name}: no module of the model has that name")
            self.steps.append(module)
            self.where.append(len(self.steps) - 1)
        self.consts = [{k: np.asarray(v) for k, v in r.arrays.items()} for r in self.records]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values: dict[str, torch.Tensor] = {INPUT: x}
        for i, r in enumerate(self.records):
            module = self.steps[self.where[i]] if self.where[i] >= 0 else None
            args = [_fresh(values[n], r, module) for n in r.inputs]
            if module is not None:
                out = module(*args)
            else:
                refs = dict(zip(r.inputs, args, strict=True))
                out = calls.replay(r.params["call"], refs, self.consts[i])
            if "element" in r.params:
                out = calls.element(out, r.params["element"])
            values[r.name] = out
        return tuple(values[r.name].float() for r in self.records)


def _fresh(t: torch.Tensor, r: LayerRecord, module: nn.Module | None) -> torch.Tensor:
    """``t`` itself, or a copy for an operation that writes into its input (``+=``,
    ``ReLU(inplace=True)``): the record that made ``t`` must keep its own value."""
    key = r.params.get("call", {}).get("key", "")
    name = key.split(".", 1)[-1]
    inplace = getattr(module, "inplace", False) or name.startswith("__i") or name.endswith("_")
    return t.clone() if inplace else t


def _cannot(r: LayerRecord) -> str:
    what = r.params.get("function") or r.params.get("type") or r.kind
    return (
        f"the page cannot compute {r.name} ({what}): it is an operation this project cannot "
        "replay; write it with standard torch layers or functions"
    )


def logits_record(trace: Trace) -> int:
    """The index of the last record whose value is the model's logits ``(K,)`` (the model
    returned it); a one-line :class:`NotExportable` when no record holds them."""
    for i in range(len(trace.layers) - 1, -1, -1):
        out = trace.layers[i].output
        if out.shape == trace.logits.shape and np.array_equal(out, trace.logits):
            return i
    raise NotExportable(
        "the model's output is not the value of any recorded layer, so the page could not show "
        "its prediction; return the last layer's output from forward"
    )

"""Capturing one forward pass into a :class:`~explainer.tracing.trace.Trace`, and checking it.

- :mod:`~explainer.tracing.capture`: ``capture(model, image)``, the entry point.
- :mod:`~explainer.tracing.recorder`, :mod:`~explainer.tracing.calls`,
  :mod:`~explainer.tracing.layers`: how modules and torch calls become records.
- :mod:`~explainer.tracing.trace`: the Trace, its records and its file format.
- :mod:`~explainer.tracing.checks`, :mod:`~explainer.tracing.recompute`: is a Trace
  consistent, and does every record replay from its inputs.
- :mod:`~explainer.tracing.notebook`: how a Trace shows itself in a notebook.
"""

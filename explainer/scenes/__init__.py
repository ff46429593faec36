"""Manim scenes drawn from real Traces: ``manim -ql scenes/forward_pass.py ForwardPassScene``.

``explainer.scenes.mobjects`` and ``explainer.scenes.vectors`` hold the reusable pieces
(feature maps, kernels, neurons, probability bars), ``explainer.scenes.inputs`` picks the
Trace a scene shows (``EXPLAINER_TRACE`` or a bundled digit through the shipped model), and
one module per scene draws it.
"""

"""``manim -ql scenes/data_flow.py DataFlowScene``; the scene itself is
:class:`explainer.scenes.data_flow.DataFlowScene`."""

from explainer.scenes import data_flow


class DataFlowScene(data_flow.DataFlowScene):
    """Defined here so that manim finds it in this file."""

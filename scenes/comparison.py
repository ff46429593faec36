"""``manim -ql scenes/comparison.py ArchitectureComparisonScene``; the scene itself is
:class:`explainer.scenes.comparison.ArchitectureComparisonScene`."""

from explainer.scenes import comparison


class ArchitectureComparisonScene(comparison.ArchitectureComparisonScene):
    """Defined here so that manim finds it in this file."""

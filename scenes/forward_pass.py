"""``manim -ql scenes/forward_pass.py ForwardPassScene``; the scene itself is
:class:`explainer.scenes.forward_pass.ForwardPassScene`."""

from explainer.scenes import forward_pass


class ForwardPassScene(forward_pass.ForwardPassScene):
    """Defined here so that manim finds it in this file."""

"""``manim -ql scenes/convolution.py ConvolutionScene``; the scene itself is
:class:`explainer.scenes.convolution.ConvolutionScene`."""

from explainer.scenes import convolution


class ConvolutionScene(convolution.ConvolutionScene):
    """Defined here so that manim finds it in this file."""

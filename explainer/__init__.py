"""mnist-explainer: see how a convolutional network reads a handwritten digit."""

__version__ = "0.1.0"

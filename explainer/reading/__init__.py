"""Reading real pictures: photos and drawings to 28×28, predictions on files, test families.

- :mod:`~explainer.reading.preprocess`: any picture of a digit to an MNIST-style image.
  Its steps: :mod:`~explainer.reading.images` (reading any picture to grey levels),
  :mod:`~explainer.reading.cleaning` (the background) and :mod:`~explainer.reading.geometry`
  (MNIST's crop, stroke width, 20×20 fit and centring).
- :mod:`~explainer.reading.predict`: :class:`~explainer.reading.predict.Predictor`.
- :mod:`~explainer.reading.testsets`: synthetic digits and non-digits the way learners bring them.
"""

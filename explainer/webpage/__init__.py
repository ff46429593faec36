"""A model as one static web page: learners draw a digit and watch that model read it, in
their browser, with no Python and no server (:func:`~explainer.webpage.exporter.export_page`,
``explainer export-page``).

:mod:`~explainer.webpage.replay` rebuilds the network from its Trace so every record is an
output, :mod:`~explainer.webpage.onnx_export` turns that into a checked ONNX graph,
:mod:`~explainer.webpage.manifest` describes the layers for the page, and
:mod:`~explainer.webpage.exporter` writes the folder (the page's own files are in
``assets/``, onnxruntime-web's in ``vendor/``).
"""

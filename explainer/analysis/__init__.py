"""What views read besides a Trace: hand arithmetic, graphs, reports over many digits.

- :mod:`~explainer.analysis.arith`: every number a view works out by hand, verified.
- :mod:`~explainer.analysis.flowgraph`: the Trace as blocks and edges, as pictures draw it.
- :mod:`~explainer.analysis.strength`, :mod:`~explainer.analysis.top_digits`,
  :mod:`~explainer.analysis.embedding_map`, :mod:`~explainer.analysis.snapshots` (what they
  share: :mod:`~explainer.analysis.insights`), :mod:`~explainer.analysis.attribution`: what is
  inside a trained network; which pixels made it decide.
- :mod:`~explainer.analysis.evaluate` (its report folder: :mod:`~explainer.analysis.report`,
  :mod:`~explainer.analysis.report_figures`), :mod:`~explainer.analysis.compare`: reports on
  the test set, one model or all side by side.
- :mod:`~explainer.analysis.cache`: slow results kept on disk by checkpoint hash.
"""

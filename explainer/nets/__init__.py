"""Networks, their checkpoints, and training them.

- :mod:`~explainer.nets.architectures`: the registry of named networks.
- :mod:`~explainer.nets.checkpoints`, :mod:`~explainer.nets.checkpoint_fields`,
  :mod:`~explainer.nets.user_code`: one ``.pt`` file per model, checked before use; your own
  classes, imported only on request.
- :mod:`~explainer.nets.train`, :mod:`~explainer.nets.augment`, :mod:`~explainer.nets.sweep`:
  training and hyperparameter sweeps.
- :mod:`~explainer.nets.inference`: batched forward passes.
- :mod:`~explainer.nets.calibration`, :mod:`~explainer.nets.ood`: honest confidence and the
  "not a digit" rule.
"""

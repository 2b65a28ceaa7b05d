"""K-fold training of a timm model over the store's folds, with TTA predictions.

:func:`train_image_model` is the library entry (the ``base-models image`` command is a thin
wrapper over it). The two pieces it is made of work on any dataset of tensors:

- :func:`fit_fold` trains one model (AdamW, cosine schedule with linear warm-up, label
  smoothing, AMP on CUDA, best epoch kept by validation metric) and saves a resumable
  checkpoint after every epoch;
- :func:`inner_split` holds out a stratified, seeded part of a fold's training rows: the
  validation set on which the epoch is selected. The fold's own rows, whose predictions
  become OOF, are never used to choose anything unless ``select_epoch_on="oof"`` is asked
  for (then the manifest records it, and ``oof ls`` and ``blend report`` flag the model).
- :func:`predict_views` returns the model's logits under every TTA view,
  ``(n_views, n, n_classes)``.
"""

from oof_common.lazy import lazy_attributes

# imported on first use: ``base-models image --help`` reads SELECT_BY without numpy (issue 22)
_LAZY = {
    "TrainConfig": "base_models.image.trainer._config",
    "FoldFit": "base_models.image.trainer._config",
    "SELECT_BY": "base_models.image.trainer._config",
    "SELECT_EPOCH_ON": "base_models.image.trainer._config",
    "fit_fold": "base_models.image.trainer._epochs",
    "inner_split": "base_models.image.trainer._split",
    "predict_views": "base_models.image.trainer._predict",
    "train_image_model": "base_models.image.trainer._train",
    "default_work_dir": "base_models.image.trainer._workdir",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = list(_LAZY)

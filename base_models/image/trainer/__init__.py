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

from ._config import SELECT_BY, SELECT_EPOCH_ON, FoldFit, TrainConfig
from ._epochs import fit_fold
from ._predict import predict_views
from ._split import inner_split
from ._train import train_image_model
from ._workdir import default_work_dir

__all__ = [
    "TrainConfig",
    "FoldFit",
    "SELECT_BY",
    "SELECT_EPOCH_ON",
    "fit_fold",
    "inner_split",
    "predict_views",
    "train_image_model",
    "default_work_dir",
]

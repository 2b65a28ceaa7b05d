"""Image base models: K-fold timm training with TTA, writing OOF and test logits.

torch and timm are imported only when a function here needs them, so importing this package
is cheap. The command is ``base-models image`` (see ``docs/commands/image.md``).
"""

from ._errors import ImageTrainerError
from .digits import DigitsExample, write_digits_images
from .trainer import FoldFit, TrainConfig, fit_fold, predict_views, train_image_model
from .tta import AUGMENTS, VIEWS, register_augment, register_view, resolve_views

__all__ = [
    "ImageTrainerError",
    "TrainConfig",
    "FoldFit",
    "fit_fold",
    "predict_views",
    "train_image_model",
    "write_digits_images",
    "DigitsExample",
    "VIEWS",
    "AUGMENTS",
    "register_view",
    "register_augment",
    "resolve_views",
]

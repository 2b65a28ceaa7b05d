"""Image base models: K-fold timm training with TTA, writing OOF and test logits.

torch and timm are imported only when a function here needs them, so importing this package
is cheap. The command is ``base-models image`` (see ``docs/commands/image.md``).
"""

from oof_common.lazy import lazy_attributes

# imported on first use: ``base-models --help`` parses without numpy and pandas (issue 22)
_LAZY = {
    "ImageTrainerError": "base_models.image._errors",
    "TrainConfig": "base_models.image.trainer",
    "FoldFit": "base_models.image.trainer",
    "fit_fold": "base_models.image.trainer",
    "predict_views": "base_models.image.trainer",
    "train_image_model": "base_models.image.trainer",
    "write_digits_images": "base_models.image.digits",
    "DigitsExample": "base_models.image.digits",
    "VIEWS": "base_models.image.tta",
    "AUGMENTS": "base_models.image.tta",
    "register_view": "base_models.image.tta",
    "register_augment": "base_models.image.tta",
    "resolve_views": "base_models.image.tta",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = list(_LAZY)

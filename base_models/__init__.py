"""Trainers that fill the OOF store: LightGBM / scikit-learn for tables, timm for images.

Every trainer writes through the store's API only (``oof_store.Store``). Heavy optional
dependencies (torch, timm) are imported inside ``base_models.image`` when it runs; the names
below are imported on first use (numpy and pandas are not needed to parse
``base-models --help``).
"""

from oof_common.lazy import lazy_attributes

_LAZY = {
    "TABULAR_MODELS": "base_models._estimators",
    "available_tabular_models": "base_models._estimators",
    "register_tabular_model": "base_models._estimators",
    "TabularResult": "base_models.tabular",
    "train_tabular": "base_models.tabular",
}
__getattr__ = lazy_attributes(__name__, _LAZY)

__all__ = list(_LAZY)

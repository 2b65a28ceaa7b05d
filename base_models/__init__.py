"""Trainers that fill the OOF store: LightGBM / scikit-learn for tables, timm for images.

Every trainer writes through the store's API only (``oof_store.Store``). Heavy optional
dependencies (torch, timm) are imported inside ``base_models.image`` when it runs.
"""

from base_models.tabular import (
    TABULAR_MODELS,
    TabularResult,
    available_tabular_models,
    register_tabular_model,
    train_tabular,
)

__all__ = [
    "TABULAR_MODELS",
    "TabularResult",
    "available_tabular_models",
    "register_tabular_model",
    "train_tabular",
]

"""A Parquet store of out-of-fold and test predictions, keyed by model, fold and TTA view.

>>> from oof_store import Store
>>> store = Store("my-store")                       # doctest: +SKIP
>>> oof = store.load_oof(tta="mean", output="probs")  # doctest: +SKIP
>>> oof.preds.shape                                  # (models, tta, rows, classes)  # doctest: +SKIP
"""

from oof_store._errors import (
    ConcurrentWriteError,
    CorruptFileError,
    FoldMismatchError,
    IncompleteModelError,
    ModelNotFoundError,
    SkippedModelWarning,
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
    StoreWarning,
    SymlinkError,
    ValidationError,
)
from oof_store._schema import FORMAT_VERSION
from oof_store._store import OOFSet, Store, TestSet, convert, softmax
from oof_store._writing import Transaction

__all__ = [
    "FORMAT_VERSION",
    "ConcurrentWriteError",
    "CorruptFileError",
    "FoldMismatchError",
    "IncompleteModelError",
    "ModelNotFoundError",
    "SkippedModelWarning",
    "OOFSet",
    "Store",
    "StoreError",
    "StoreExistsError",
    "StoreNotFoundError",
    "StoreWarning",
    "SymlinkError",
    "TestSet",
    "Transaction",
    "ValidationError",
    "convert",
    "softmax",
]

__version__ = "0.1.0"

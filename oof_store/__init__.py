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

# The store classes pull in pyarrow and pandas: imported on first use (PEP 562), so that
# the command lines start fast (`oof --help`, `blend --help`) and `oof_store.distributed`
# is light.
_LAZY = {
    "FORMAT_VERSION": "oof_store._schema",
    "OOFSet": "oof_store._store",
    "Store": "oof_store._store",
    "TestSet": "oof_store._store",
    "convert": "oof_store._store",
    "softmax": "oof_store._store",
    "Transaction": "oof_store._writing",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'oof_store' has no attribute {name!r}")

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

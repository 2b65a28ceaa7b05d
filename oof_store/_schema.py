"""The store's on-disk format (version 1), defined here and nowhere else.

::

    store.json                 format version, task, class names, id column name, ...
    targets.parquet            id, target column(s), fold, optional group and extra columns
    test.parquet               id of each test row, in submission order
    preds/split=<s>/model=<m>/fold=<k>/tta=<t>/part-0.parquet   id + one float32 column per class
    models/<m>.json            manifest, written last: a model without one is incomplete

``fold`` of a test block is a fold id (that fold's model predicted the test set) or ``-1``
(one prediction for the whole test set, e.g. already averaged over folds).
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from oof_common.core import TASKS
from oof_store._errors import StoreError

__all__ = ["TASKS"]  # the task names are defined once, in oof_common.core

FORMAT_VERSION = 1

STORE_FILE = "store.json"
TARGETS_FILE = "targets.parquet"
TEST_FILE = "test.parquet"
PREDS_DIR = "preds"
MODELS_DIR = "models"
CACHE_DIR = ".cache"  # assembled arrays keyed by the block files' identity; safe to delete
PART_FILE = "part-0.parquet"
TMP_PREFIX = ".tmp-"

KINDS = ("probs", "logits", "raw")
SPLITS = ("oof", "test")
FULL_TEST_FOLD = -1  # a test block predicted once for the whole test set

FOLD_COLUMN = "fold"
GROUP_COLUMN = "group"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def check_model_name(model: str) -> str:
    """Return ``model`` if it can be a path component and a Hive partition value."""
    if not isinstance(model, str) or not _NAME_RE.match(model) or len(model) > 200:
        raise StoreError(
            f"model name {model!r} is not allowed: use letters, digits and '_', '.', '+', '-' "
            "(starting with a letter or digit), e.g. 'effnet_b4.ns'"
        )
    return model


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise StoreError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split


def block_dir(split: str, model: str, fold: int, tta: int) -> str:
    """Relative directory of one (split, model, fold, tta) block."""
    return f"{PREDS_DIR}/split={split}/model={model}/fold={int(fold)}/tta={int(tta)}"


def block_path(split: str, model: str, fold: int, tta: int) -> str:
    return f"{block_dir(split, model, fold, tta)}/{PART_FILE}"


def manifest_path(model: str) -> str:
    return f"{MODELS_DIR}/{model}.json"


def pending_path(model: str) -> str:
    """Side file recording TTA view names of a model whose import is under way."""
    return f"{MODELS_DIR}/.pending-{model}.json"


def fingerprint(ids: np.ndarray, folds: np.ndarray | None = None) -> str:
    """A short hash of row ids (and their fold assignment), order included."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, ids)).encode())
    if folds is not None:
        h.update(np.asarray(folds, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]

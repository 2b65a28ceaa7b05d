"""The store's on-disk format (version 2), defined here and nowhere else.

::

    store.json                 format version, task, class names, id column name, ...
    targets.parquet            id, target column(s), fold, optional group and extra columns
    test.parquet               id of each test row, in submission order
    preds/split=<s>/model=<m>/fold=<k>/tta=<t>/part-<gen>.parquet   id + one float32 column per class
    models/<m>.json            manifest: the model's blocks (file + sha256), written last
    models/.pending-<m>.json   blocks written but not yet committed (an incomplete model)
    models/.lock-<m>           held (flock) by the one writer of <m>

``<gen>`` is the id of the write that made the block; a write never replaces a file, it
adds new ones and switches the manifest (or the pending record), so a model changes all at
once. Version 1 (``part-0.parquet``, manifests without ``blocks``) is still read.

``fold`` of a test block is a fold id (that fold's model predicted the test set) or ``-1``
(one prediction for the whole test set, e.g. already averaged over folds).
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np

from oof_common.core import TASKS
from oof_store._errors import StoreError

__all__ = ["TASKS"]  # the task names are defined once, in oof_common.core

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 stores are read, and upgraded on their first write

STORE_FILE = "store.json"
TARGETS_FILE = "targets.parquet"
TEST_FILE = "test.parquet"
PREDS_DIR = "preds"
MODELS_DIR = "models"
CACHE_DIR = ".cache"  # assembled arrays keyed by the block files' identity; safe to delete
LEGACY_PART_FILE = "part-0.parquet"  # format version 1: one fixed file name per block
TMP_PREFIX = ".tmp-"

KINDS = ("probs", "logits", "raw")
SPLITS = ("oof", "test")
FULL_TEST_FOLD = -1  # a test block predicted once for the whole test set

FOLD_COLUMN = "fold"
GROUP_COLUMN = "group"

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def check_model_name(model: str) -> str:
    """Return ``model`` if it can be a path component and a Hive partition value."""
    # fullmatch, not match: ``$`` also matches before a trailing newline ("x\n" passed)
    if not isinstance(model, str) or not _NAME_RE.fullmatch(model) or len(model) > 200:
        raise StoreError(
            f"model name {model!r} is not allowed: use letters, digits and '_', '.', '+', '-' "
            "(starting with a letter or digit; no spaces, control characters, newlines or "
            "path separators), e.g. 'effnet_b4.ns'"
        )
    return model


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise StoreError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split


def block_dir(split: str, model: str, fold: int, tta: int) -> str:
    """Relative directory of one (split, model, fold, tta) block."""
    return f"{PREDS_DIR}/split={split}/model={model}/fold={int(fold)}/tta={int(tta)}"


def block_file(split: str, model: str, fold: int, tta: int, gen: str) -> str:
    """Relative path of the block file written by the write ``gen``."""
    return f"{block_dir(split, model, fold, tta)}/part-{gen}.parquet"


def legacy_block_path(split: str, model: str, fold: int, tta: int) -> str:
    """Relative path of a block in a format version 1 store."""
    return f"{block_dir(split, model, fold, tta)}/{LEGACY_PART_FILE}"


def block_key(split: str, fold: int, tta: int) -> str:
    """The key of a block in a manifest's ``blocks``: ``"<split>/<fold>/<tta>"``."""
    return f"{split}/{int(fold)}/{int(tta)}"


def parse_block_key(key: str) -> tuple[str, int, int]:
    """``(split, fold, tta)`` of a block key; raises ``ValueError`` for a malformed one."""
    split, fold, tta = key.split("/")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    return split, int(fold), int(tta)


def model_dirs(model: str) -> list[str]:
    """The directories holding a model's block files, one per split."""
    return [f"{PREDS_DIR}/split={s}/model={model}" for s in SPLITS]


def manifest_path(model: str) -> str:
    return f"{MODELS_DIR}/{model}.json"


def pending_path(model: str) -> str:
    """The pending record: blocks written but not committed, and TTA view names."""
    return f"{MODELS_DIR}/.pending-{model}.json"


def lock_path(model: str) -> str:
    """The lock file one writer of ``model`` holds."""
    return f"{MODELS_DIR}/.lock-{model}"


CHECKSUM_FIELD = "checksum"


def record_checksum(record: dict) -> str:
    """SHA-256 of a manifest or pending record's JSON, without its own ``checksum`` field.

    The JSON is made canonical (keys sorted, compact), after a round trip through JSON so
    that what is written and what is read back hash alike.
    """
    body = json.loads(json.dumps({k: v for k, v in record.items() if k != CHECKSUM_FIELD}))
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def with_checksum(record: dict) -> dict:
    """``record`` with its ``checksum`` field (re)computed."""
    return {**record, CHECKSUM_FIELD: record_checksum(record)}


def checksum_problem(record: dict) -> str | None:
    """Why a record fails its checksum (None when it matches or has none: older stores)."""
    want = record.get(CHECKSUM_FIELD)
    if want is None:
        return None
    got = record_checksum(record)
    if got != want:
        return (f"its contents do not match its checksum (SHA-256 {got[:12]}..., recorded "
                f"{str(want)[:12]}...): it was edited after it was written (kind, folds, class "
                "names or block list changed by hand, or a damaged copy)")
    return None


def content_hash(payload: bytes) -> str:
    """The hash recorded for a file: hex SHA-256 of its bytes."""
    return hashlib.sha256(payload).hexdigest()


def fingerprint(ids: np.ndarray, folds: np.ndarray | None = None) -> str:
    """A short hash of row ids (and their fold assignment), order included."""
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, ids)).encode())
    if folds is not None:
        h.update(np.asarray(folds, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]

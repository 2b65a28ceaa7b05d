"""Fold assignments as users have them: a fold column, one-hot fold columns, or made here.

Every function works on a targets table or on arrays and returns a fold id per training
row (``int64``), or raises :class:`~oof_store.StoreError` naming the column, fold or
rows that cannot be a fold assignment and saying what to do.

- :func:`make_folds` runs scikit-learn's splitter named by a spec such as
  ``stratified:5:42`` (``StratifiedKFold(5, shuffle=True, random_state=42)``): the fold
  of each row is the index of the split that validates it, exactly as
  ``for k, (_, val) in enumerate(splitter.split(X, y, groups)): fold[val] = k``.
- :func:`one_hot_folds` reads a group of 0/1 columns (``fold1..fold5``), one 1 per row.
- :func:`one_hot_reason` tells a single 0/1 column that is one column of such a group
  (``--fold fold1`` would otherwise make a 2-fold store).
- :func:`check_fold_assignment` refuses fewer than 2 folds and a fold holding one class.
- :func:`group_spans` lists the groups whose rows lie in more than one fold (a leak).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from oof_store._errors import StoreError

__all__ = [
    "FOLD_SPLITTERS",
    "check_fold_assignment",
    "group_spans",
    "make_folds",
    "one_hot_folds",
    "one_hot_reason",
    "parse_fold_spec",
]

#: ``--make-folds`` names -> (scikit-learn class, needs groups, stratifies).
FOLD_SPLITTERS: dict[str, tuple[str, bool, bool]] = {
    "stratified": ("StratifiedKFold", False, True),
    "kfold": ("KFold", False, False),
    "group": ("GroupKFold", True, False),
    "stratified-group": ("StratifiedGroupKFold", True, True),
}
_SPEC_HELP = (
    "NAME:K[:SEED] with NAME one of " + ", ".join(FOLD_SPLITTERS)
    + " (e.g. stratified:5:42 = StratifiedKFold(5, shuffle=True, random_state=42); without "
    "a seed the rows are not shuffled)"
)


def parse_fold_spec(spec: str) -> tuple[str, int, int | None]:
    """``"stratified:5:42"`` -> ``("stratified", 5, 42)``; the seed is optional.

    Raises
    ------
    StoreError
        For an unknown splitter, a K below 2 or a seed that is not an integer.
    """
    parts = str(spec).strip().split(":")
    name = parts[0].lower()
    if name not in FOLD_SPLITTERS or len(parts) not in (2, 3):
        raise StoreError(f"--make-folds {spec!r}: expected {_SPEC_HELP}")
    try:
        k = int(parts[1])
        seed = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise StoreError(f"--make-folds {spec!r}: K and SEED must be integers; {_SPEC_HELP}") from None
    if k < 2:
        raise StoreError(f"--make-folds {spec!r}: K-fold needs K >= 2, got {k}")
    return name, k, seed


def make_folds(spec: str, y: Sequence[Any] | np.ndarray, groups: Sequence[Any] | None = None) -> np.ndarray:
    """The fold of each row from scikit-learn's splitter named by ``spec``.

    Parameters
    ----------
    spec : str
        ``NAME:K[:SEED]``, NAME in :data:`FOLD_SPLITTERS`. With a seed the splitter
        shuffles (``shuffle=True, random_state=SEED``); without, it does not.
    y : array-like of shape (n_rows,)
        The labels (stratified splitters) in the training file's row order.
    groups : array-like of shape (n_rows,), optional
        Required by ``group`` and ``stratified-group``.

    Returns
    -------
    ndarray of shape (n_rows,), int64
        Fold ``k`` holds the validation rows of the splitter's ``k``-th split.
    """
    import sklearn.model_selection as ms

    name, k, seed = parse_fold_spec(spec)
    cls_name, needs_groups, stratifies = FOLD_SPLITTERS[name]
    y = np.asarray(y)
    n = len(y)
    if needs_groups and groups is None:
        raise StoreError(f"--make-folds {spec!r} needs groups: pass --group COLUMN")
    if stratifies:
        _, counts = np.unique(y.astype(str), return_counts=True)
        if counts.min() < k:
            raise StoreError(
                f"--make-folds {spec!r}: the rarest class has {int(counts.min())} row(s), fewer "
                f"than the {k} folds, so some fold would lack it; use fewer folds or kfold:{k}"
            )
    kwargs: dict[str, Any] = {"n_splits": k}
    if seed is not None:
        kwargs.update(shuffle=True, random_state=seed)
    splitter = getattr(ms, cls_name)(**kwargs)
    folds = np.full(n, -1, dtype=np.int64)
    try:
        for i, (_, val) in enumerate(splitter.split(np.zeros((n, 1)), y, groups)):
            folds[val] = i
    except ValueError as exc:
        raise StoreError(f"--make-folds {spec!r}: scikit-learn's {cls_name} refused: {exc}") from exc
    return folds


_TRAILING_INT = re.compile(r"^(.*?)(\d+)$")


def _is_zero_one(s: pd.Series) -> bool:
    if s.isna().any() or not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
        return False
    return bool(set(np.unique(s.to_numpy(dtype=np.float64)).tolist()) <= {0.0, 1.0})


def one_hot_reason(df: pd.DataFrame, col: str) -> str | None:
    """Why the single fold column ``col`` looks like one column of a one-hot fold group.

    A 0/1 column is one-hot when the table has siblings named like it (``fold1`` and
    ``fold2..fold6``), or when its two values are far from balanced (a real 2-fold split
    has two halves; ``fold1`` of 5 folds is 1 on a fifth of the rows).
    """
    s = df[col]
    if not _is_zero_one(s) or s.nunique() < 2:
        return None
    siblings = _siblings(df, col)
    ones = int(s.astype(np.float64).sum())
    n = len(s)
    if len(siblings) > 1:
        return (
            f"fold column {col!r} holds only 0 and 1, and the file has columns named like it "
            f"({', '.join(siblings)}): a one-hot fold group, not fold ids. Pass them all: "
            f"--fold {','.join(siblings)}"
        )
    if n and min(ones, n - ones) < 0.4 * max(ones, n - ones):
        return (
            f"fold column {col!r} holds only 0 and 1 with {ones} ones in {n} rows: a one-hot "
            "column (1 = the row is validated in this fold) rather than a 2-fold split. Pass "
            "every fold's column: --fold COL1,COL2,..."
        )
    return None


def _siblings(df: pd.DataFrame, col: str) -> list[str]:
    """Columns named like ``col`` with another trailing number (``fold1`` -> ``fold1..fold6``)."""
    m = _TRAILING_INT.match(str(col))
    if not m:
        return [col]
    prefix = m.group(1)
    found = []
    for c in df.columns:
        mc = _TRAILING_INT.match(str(c))
        if mc and mc.group(1) == prefix:
            found.append((int(mc.group(2)), str(c)))
    return [c for _, c in sorted(found)]


def one_hot_folds(df: pd.DataFrame, cols: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Fold ids from one-hot columns (1 = the row is validated in that fold).

    Fold ids are the columns' trailing numbers when every column has a distinct one
    (``fold1..fold5`` -> 1..5), else the columns' positions. A column with no 1 at all
    (``fold6`` in a 5-fold file) is left out, with a note.

    Returns
    -------
    folds : ndarray of shape (n_rows,), int64
    notes : list of str

    Raises
    ------
    StoreError
        A column that is not 0/1, or a row with no 1 or with several.
    """
    cols = [str(c) for c in cols]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise StoreError(f"fold column(s) {missing} not in the targets table; its columns: {list(df.columns)}")
    not01 = [c for c in cols if not _is_zero_one(df[c])]
    if not01:
        raise StoreError(
            f"one-hot fold columns must hold only 0 and 1; {not01} do not (e.g. "
            f"{df[not01[0]].iloc[0]!r}). A single fold-id column is passed alone: --fold COL"
        )
    mat = df[cols].to_numpy(dtype=np.float64)
    empty = [c for j, c in enumerate(cols) if mat[:, j].sum() == 0]
    keep = [j for j, c in enumerate(cols) if c not in empty]
    notes = [
        f"fold column(s) {empty} hold no row (all zero): left out, {len(keep)} folds remain"
    ] if empty else []
    mat = mat[:, keep]
    names = [cols[j] for j in keep]
    per_row = mat.sum(axis=1)
    if (per_row != 1).any():
        none = np.flatnonzero(per_row == 0)
        many = np.flatnonzero(per_row > 1)
        parts = []
        if len(none):
            parts.append(f"{len(none)} row(s) are in no fold (rows {none[:5].tolist()})")
        if len(many):
            parts.append(f"{len(many)} row(s) are in several folds (rows {many[:5].tolist()})")
        raise StoreError(
            f"one-hot fold columns {names}: each row must have exactly one 1; "
            + "; ".join(parts)
        )
    nums = [_TRAILING_INT.match(c) for c in names]
    ids = (
        [int(m.group(2)) for m in nums]  # type: ignore[union-attr]
        if all(nums) and len({int(m.group(2)) for m in nums}) == len(names)  # type: ignore[union-attr]
        else list(range(len(names)))
    )
    return np.asarray(ids, dtype=np.int64)[mat.argmax(axis=1)], notes


def check_fold_assignment(
    folds: np.ndarray, labels: np.ndarray | None = None, *, what: str = "the folds"
) -> None:
    """Refuse what cannot be a K-fold assignment: fewer than 2 folds, a fold of one class.

    Parameters
    ----------
    folds : ndarray of shape (n_rows,)
    labels : ndarray of shape (n_rows,), optional
        Class labels (classification): a fold whose rows all hold one class cannot
        score AUC or log loss honestly, and its model learned without that class.
    what : str
        How to name the folds in the message (``"fold column 'kfold'"``).
    """
    folds = np.asarray(folds)
    uniq = np.unique(folds)
    if len(uniq) < 2:
        raise StoreError(
            f"{what}: {len(uniq)} distinct fold; K-fold OOF needs at least 2 (make them with "
            "--make-folds stratified:5:42)"
        )
    if labels is None:
        return
    labels = np.asarray(labels).astype(str)
    if len(np.unique(labels)) < 2:
        return
    for f in uniq:
        present = np.unique(labels[folds == f])
        if len(present) == 1:
            raise StoreError(
                f"{what}: fold {f} holds one class only ({str(present[0])!r}, "
                f"{int((folds == f).sum())} rows): not a fold assignment a model can be "
                "validated on. Check the fold column, or make stratified folds with "
                "--make-folds stratified:5:42"
            )


def group_spans(groups: np.ndarray | None, folds: np.ndarray) -> dict[str, list[int]]:
    """The groups whose rows lie in more than one fold, with their folds (a leak).

    Parameters
    ----------
    groups, folds : ndarray of shape (n_rows,)

    Returns
    -------
    dict of str to list of int
        Group -> the sorted folds it appears in; empty when every group sits in one fold.
    """
    if groups is None:
        return {}
    df = pd.DataFrame({"g": np.asarray(groups).astype(str), "f": np.asarray(folds)})
    nfold = df.groupby("g", sort=True)["f"].nunique()
    spread = nfold[nfold > 1].index
    if not len(spread):
        return {}
    sub = df[df["g"].isin(spread)]
    return {str(g): sorted(int(x) for x in v.unique()) for g, v in sub.groupby("g", sort=True)["f"]}


def describe_group_spans(spans: dict[str, list[int]], limit: int = 5) -> str:
    """One line naming the groups in several folds (for ``oof init`` and ``oof validate``)."""
    shown = "; ".join(f"{g!r} in folds {v}" for g, v in list(spans.items())[:limit])
    more = ", ..." if len(spans) > limit else ""
    return (
        f"{len(spans)} group(s) have rows in more than one fold ({shown}{more}): rows of one "
        "group validated by a model trained on the same group leak, so OOF scores are "
        "optimistic. Make group folds (--make-folds group:5) unless this is intended"
    )

"""Submission tables: blended test predictions laid out as a Kaggle submission file.

:func:`submission_frame` turns ``(Nt, C)`` test predictions into a table. Without a sample
it writes the store's id column, then one target column (labels, a binary task's positive
class probability, or a regression value) or one column per class (multiclass
probabilities). With a sample submission (:func:`read_sample`) it writes exactly the
sample's columns, in the sample's id order, and refuses a sample whose ids differ from the
store's test ids.

What a column holds follows the metric the blend was chosen by (:func:`output_for`): a
metric that scores probabilities (AUC, log loss) gets probabilities; a metric that scores
only the most likely class (accuracy, F1, QWK) gets labels; ``output="labels"`` or
``"probs"`` overrides it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from blend._errors import BlendError

__all__ = ["OUTPUTS", "output_for", "read_sample", "submission_frame"]

#: ``auto`` (by the metric), ``labels`` or ``probs``.
OUTPUTS = ("auto", "labels", "probs")


def output_for(metric: str | None, task: str, output: str = "auto") -> str:
    """What the submission holds: ``"labels"``, ``"probs"`` or (regression) ``"values"``.

    Parameters
    ----------
    metric : str or None
        The metric the blend was chosen by (``Recipe.metric``); a user metric
        (``module:function``) or an unknown name counts as scoring probabilities.
    task : str
        The store's task.
    output : {"auto", "labels", "probs"}
        ``"auto"``: labels for a metric that scores labels (accuracy, f1_macro, qwk),
        probabilities otherwise; softclass always gets probabilities unless asked.

    Returns
    -------
    str
    """
    if output not in OUTPUTS:
        raise BlendError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r}")
    if task == "regression":
        return "values"
    if output != "auto":
        return output
    from blend.metrics import METRICS, canonical_metric

    m = METRICS.get(canonical_metric(str(metric)))
    if task == "softclass" or m is None:
        return "probs"
    return "labels" if m.needs == "labels" else "probs"


def read_sample(path: str | os.PathLike[str]) -> Any:
    """Read a sample submission CSV with every value as text (ids are kept verbatim)."""
    import pandas as pd

    if not os.path.exists(path):
        raise BlendError(f"sample submission {str(path)!r} does not exist")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise BlendError(f"cannot read the sample submission {str(path)!r} as CSV: {exc}") from exc
    if df.shape[1] < 2:
        raise BlendError(
            f"sample submission {str(path)!r} has columns {list(map(str, df.columns))}; it needs "
            "an id column and at least one target column"
        )
    return df


def _first(values: Sequence[Any], n: int = 5) -> str:
    shown = ", ".join(repr(str(v)) for v in list(values)[:n])
    return shown + (", ..." if len(values) > n else "")


def _sample_ids(
    sample: Any, id_col: str, test_ids: np.ndarray, rows_in_order: bool = False
) -> tuple[str, np.ndarray]:
    """The sample's id column and, for each sample row, its row in ``test_ids``.

    ``rows_in_order``: the store's test ids are row numbers (its test file had no ids), so
    a sample with as many rows is taken in order, its ids written as it spells them.
    """
    col = id_col if id_col in sample.columns else str(sample.columns[0])
    ids = sample[col].astype(str).to_numpy()
    if rows_in_order and len(ids) == len(test_ids) and not sample[col].duplicated().any():
        return col, np.arange(len(ids), dtype=np.int64)
    dup = sample[col].duplicated()
    if dup.any():
        raise BlendError(
            f"the sample submission repeats {int(dup.sum())} id(s) in column {col!r} "
            f"(first: {_first(ids[dup.to_numpy()])}); give one row per test id"
        )
    store_ids = np.asarray(test_ids).astype(str)
    pos = {v: i for i, v in enumerate(store_ids)}
    missing = [v for v in ids if v not in pos]
    sample_set = set(ids)
    extra = [v for v in store_ids if v not in sample_set]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} sample id(s) the store has no test predictions for "
                         f"(first: {_first(missing)})")
        if extra:
            parts.append(f"{len(extra)} store test id(s) missing from the sample "
                         f"(first: {_first(extra)})")
        raise BlendError(
            f"the sample submission's ids (column {col!r}) differ from the store's test ids: "
            + "; ".join(parts)
            + ". Use the sample of the test set the store's test predictions were made on"
        )
    return col, np.array([pos[v] for v in ids], dtype=np.int64)


def _refuse_non_finite(P: np.ndarray, test_ids: Sequence[Any]) -> None:
    """A submission with a NaN or infinite cell (or a label taken from one) is never made."""
    if not np.issubdtype(P.dtype, np.number):
        return  # labels or grades already (ordinal recipes)
    bad = ~np.isfinite(P)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(len(P), -1).any(axis=1))
        ids = np.asarray(test_ids)[rows[:5]].tolist()
        raise BlendError(
            f"the blended test predictions hold {int(bad.sum())} NaN or infinite value(s) in "
            f"{len(rows)} of {len(P)} row(s) (test ids {ids}{' ...' if len(rows) > 5 else ''}); "
            "no submission is written. Check the recipe's weights and temperatures and the "
            "models' test predictions (`oof validate`)"
        )


def submission_frame(
    P: np.ndarray,
    *,
    task: str,
    test_ids: Sequence[Any],
    id_col: str,
    target_col: str,
    class_names: Sequence[str],
    output: str,
    sample: Any = None,
    rows_in_order: bool = False,
) -> Any:
    """A submission table from blended test predictions.

    Parameters
    ----------
    P : ndarray of shape (n_test, n_classes), or (n_test, 1) for regression
        Blended test probabilities (values for regression), rows in ``test_ids`` order.
    task : str
        The store's task.
    test_ids : sequence of length n_test
    id_col, target_col : str
        The store's id column and (first) target column: the header without a sample.
    class_names : sequence of str
        The store's classes, in the column order of ``P``.
    output : {"labels", "probs", "values"}
        As returned by :func:`output_for`.
    sample : pandas.DataFrame, optional
        A sample submission (:func:`read_sample`): its id column (the store's id column if
        present, else its first column) and its target columns are written, rows in its id
        order. One target column gets the labels, the positive class's probability (binary)
        or the value (regression); one column per class name gets each class's probability
        (with ``output="labels"``: 1 for the most likely class, else 0).
    rows_in_order : bool
        The store's test ids are row numbers (``oof init --test`` with a file without
        ids): a sample with as many rows is matched to them by order, and its own ids
        are written, spelled as in the sample.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    P = np.asarray(P)
    _refuse_non_finite(P, test_ids)
    names = np.asarray([str(c) for c in class_names], dtype=object)
    if sample is None:
        out = pd.DataFrame({id_col: np.asarray(test_ids)})
        if output == "values":
            out[target_col] = P[:, 0]
        elif output == "labels":
            out[target_col] = names[P.argmax(axis=1)]
        elif task == "binary":
            out[target_col] = P[:, 1]
        else:
            for k, name in enumerate(names):
                out[name] = P[:, k]
        return out

    col, rows = _sample_ids(sample, id_col, np.asarray(test_ids), rows_in_order)
    targets = [str(c) for c in sample.columns if str(c) != col]
    Q = P[rows]
    out = pd.DataFrame({col: sample[col].to_numpy()})
    per_class = output != "values" and len(names) > 1 and sorted(targets) == sorted(names)
    if per_class:
        k_of = {n: k for k, n in enumerate(names)}
        top = Q.argmax(axis=1)
        for name in targets:
            k = k_of[name]
            out[name] = (top == k).astype(np.int64) if output == "labels" else Q[:, k]
        return out[[str(c) for c in sample.columns]]
    if len(targets) != 1:
        raise BlendError(
            f"the sample submission's columns after the id column {col!r} are "
            f"{targets}: neither one target column nor one column per class (the store's "
            f"classes: {list(names)}); give a sample with one of those layouts"
        )
    target = targets[0]
    if output == "values":
        out[target] = Q[:, 0]
    elif output == "labels":
        out[target] = names[Q.argmax(axis=1)]
    elif task == "binary":
        out[target] = Q[:, 1]
    else:
        raise BlendError(
            f"the sample submission has one target column {target!r}, but probabilities of "
            f"{len(names)} classes were asked for (the recipe's metric scores probabilities); "
            f"pass --labels to write the most likely class, or give a sample with one column "
            f"per class ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
        )
    return out[[str(c) for c in sample.columns]]

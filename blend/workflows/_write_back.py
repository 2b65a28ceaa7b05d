"""Writing a blend or stacker back into the store as a model: one transaction, the one way.

``blend stack``, ``blend compare --recipe`` (the stackers it needs) and ``blend apply --write-model`` (through
:meth:`blend.recipe.Recipe.write_to_store`) all write their level-2 model here, so the blocks,
their order and the manifest's fixed fields (``tta_views=["none"]``) are the same for all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["as_block", "in_sample_mark", "write_model"]


def as_block(a: np.ndarray) -> np.ndarray:
    """Predictions as a store block: ``(n,)`` -> ``(n, 1)``; ``(n, C)`` rows renormalised to sum 1.

    Parameters
    ----------
    a : ndarray of shape (n,) or (n, C)
        Regression values, or class probabilities (renormalised in float64).

    Returns
    -------
    ndarray of shape (n, 1) or (n, C), float32
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        return a[:, None].astype(np.float32)
    a = a / a.sum(axis=1, keepdims=True)
    return a.astype(np.float32)


def in_sample_mark(store: Any, parents: list[str], fitted_on_all_rows: bool) -> bool:
    """The ``params.in_sample`` mark of a level-2 model written back into ``store``.

    True when what it was fitted on was chosen on every OOF row (a blend's weights, subset
    or temperatures: ``blend apply --write-model``), or when any of its ``parents`` is
    in-sample (:func:`oof_store.flags.is_in_sample`): a stacker over in-sample blends is
    in-sample too. The one definition every write-back uses (through :func:`write_model`).
    """
    from oof_store.flags import is_in_sample

    return bool(fitted_on_all_rows) or any(is_in_sample(store.manifest(m)) for m in parents)


def write_model(
    store: Any,
    name: str,
    op: str,
    *,
    oof: Mapping[int, np.ndarray],
    test: Mapping[int, np.ndarray] | np.ndarray | None,
    replace: bool,
    kind: str,
    params: dict[str, Any],
    source: str,
    parents: list[str],
    overwrite: bool,
    fitted_on_all_rows: bool,
) -> dict[str, Any]:
    """Write model ``name`` (its OOF and test predictions) in one store transaction.

    The honesty mark ``params.in_sample`` is set here, for every writer, by
    :func:`in_sample_mark` (a caller cannot set it by hand).

    Parameters
    ----------
    store : oof_store.Store
    name : str
        The model written.
    op : str
        The writer, recorded with the transaction (``"stack"``, ``"blend compare"`` ...).
    oof : mapping of fold -> ndarray
        For each fold, in order, the predictions of that fold's rows (in store row order).
    test : mapping of fold -> ndarray, ndarray or None
        Test predictions per fold (written beside that fold's OOF block), one block for all
        folds (fold ``-1``, written last), or none.
    replace : bool
        The write's blocks replace every block the model had, at its commit (an existing
        model is replaced all at once, never removed first).
    kind, params, source, parents, overwrite
        Passed to :meth:`oof_store.Transaction.finish_model` (``tta_views=["none"]``);
        ``params`` without ``in_sample``.
    fitted_on_all_rows : bool
        Whether the model's predictions were chosen on every OOF row (an in-sample blend);
        False for a nested stacker.

    Returns
    -------
    dict
        The committed manifest.
    """
    if "in_sample" in params:
        raise TypeError("write_model sets params['in_sample'] itself (in_sample_mark: "
                        "fitted_on_all_rows and the parents' marks); do not pass it")
    params = {**params, "in_sample": in_sample_mark(store, parents, fitted_on_all_rows)}
    per_fold = isinstance(test, Mapping)
    with store.transaction(name, op, replace=replace) as tx:
        for k, block in oof.items():
            rows = np.flatnonzero(store.folds == k)
            tx.write_block("oof", int(k), 0, store.ids[rows], block)
            if per_fold and k in test:
                tx.write_block("test", int(k), 0, store.test_ids, test[k])
        if test is not None and not per_fold:
            tx.write_block("test", -1, 0, store.test_ids, test)
        return tx.finish_model(kind=kind, tta_views=["none"], params=params, source=source,
                               parents=parents, overwrite=overwrite)

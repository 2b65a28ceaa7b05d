"""``stack`` at the store level: read the store, build the features, fit, write back.

:func:`run_stack` reads the store, builds the features, calls
:func:`blend.stack.fit_stacker` (nested CV) and writes the stacker's OOF and test
predictions back into the store as a level-2 model; :func:`stack_recipe` is the recipe of
the written stacker.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.stack import FEATURES, StackResult, check_params, fit_stacker, get_stacker, make_features
from blend.workflows import _defaults as D
from blend.workflows._models import resolve_models, without_stackers
from blend.workflows._write_back import as_block, write_model

__all__ = ["run_stack", "stack_recipe", "read_extra_features"]


def read_extra_features(
    path: str | os.PathLike[str], id_col: str, ids: np.ndarray, test_ids: np.ndarray,
    forbidden: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read extra per-row features from a CSV or Parquet file keyed by the store's id column.

    Returns
    -------
    extra : ndarray of shape (N, E), rows in ``ids`` order
    extra_test : ndarray of shape (Nt, E), rows in ``test_ids`` order
    columns : list of str
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise BlendError(f"extra-features file {str(p)!r} does not exist")
    df = pd.read_parquet(p) if p.suffix.lower() in (".parquet", ".pq") else pd.read_csv(p)
    if id_col not in df.columns:
        raise BlendError(
            f"extra-features file {p.name!r} has no id column {id_col!r} (the store's id column); "
            f"its columns are: {', '.join(map(str, df.columns[:10]))}"
        )
    df[id_col] = df[id_col].astype(str)
    if df[id_col].duplicated().any():
        dup = df.loc[df[id_col].duplicated(), id_col].iloc[0]
        raise BlendError(f"extra-features file {p.name!r} repeats id {dup!r}; give one row per id")
    cols = [c for c in df.columns if c != id_col]
    leaks = [c for c in cols if c in forbidden]
    if leaks:
        raise BlendError(
            f"extra-features file {p.name!r} has column(s) {leaks} that the store holds as "
            "targets or folds; drop them (they would leak the labels)"
        )
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise BlendError(f"extra-features file {p.name!r} has non-numeric column(s) {bad}; encode or drop them")
    if not cols:
        raise BlendError(f"extra-features file {p.name!r} has no feature column besides {id_col!r}")
    table = df.set_index(id_col)[cols]
    out = []
    for what, want in (("training", ids), ("test", test_ids)):
        missing = ~pd.Index(want).isin(table.index)
        if missing.any():
            first = ", ".join(map(str, np.asarray(want)[missing][:5]))
            raise BlendError(
                f"extra-features file {p.name!r} lacks {int(missing.sum())} {what} id(s) "
                f"(first: {first}); it needs one row per {what} row of the store"
            )
        vals = table.loc[list(want)].to_numpy(dtype=np.float32) if len(want) else np.zeros((0, len(cols)), np.float32)
        if not np.isfinite(vals).all():
            raise BlendError(f"extra-features file {p.name!r} has missing or infinite {what} values; fill them")
        out.append(vals)
    return out[0], out[1], [str(c) for c in cols]


def _resolve_models(store: Any, models: Sequence[str] | None,
                    allow_in_sample: bool = False) -> list[str]:
    # level-2 models are left out by default: stacking a stack over the same folds leaks;
    # in-sample blends (blend apply --write-model) too, unless allowed
    return resolve_models(
        store, models, need=2, what="stacking", default=without_stackers(store),
        allow_in_sample=allow_in_sample,
    )


def run_stack(
    store: Any,
    stacker: str,
    *,
    models: Sequence[str] | None = None,
    features: str | None = D.STACK_FEATURES,
    tta: str = D.TTA,
    extra_features: str | os.PathLike[str] | None = None,
    hpo: int = 0,
    seeds: int = 1,
    metric: str | None = None,
    params: dict[str, Any] | None = None,
    name: str | None = None,
    write: bool = True,
    overwrite: bool = False,
    seed: int = D.SEED,
    progress: Any = None,
    n_jobs: int | None = None,
    executor: Any = None,
    allow_in_sample: bool = False,
) -> tuple[StackResult, str | None]:
    """Fit ``stacker`` with nested CV on ``store`` and write it back as a level-2 model.

    Returns the result and the name of the written model (None when ``write`` is False).
    Everything is validated before the fitting starts.
    """
    from oof_store import IncompleteModelError, StoreExistsError

    st = get_stacker(stacker)
    check_params(st, params, store.task, store.n_classes)
    if tta not in ("mean", "all"):
        raise BlendError(f"--tta must be 'mean' or 'all'; got {tta!r}")
    if features is None:  # the stacker's own default, as compare's stack:NAME
        features = "probs" if store.task == "regression" else st.preferred_features
    if features not in FEATURES:
        raise BlendError(f"unknown features {features!r}; choose one of: {', '.join(FEATURES)}")
    task = store.task
    if task == "regression" and features != "probs":
        raise BlendError(f"--features {features} needs class probabilities; regression stacks raw predictions (use probs)")
    chosen = _resolve_models(store, models, allow_in_sample)
    name = name or f"stack_{st.name}"
    if write:
        if name in chosen:
            raise BlendError(f"--name {name!r} is one of the stacked models; choose another name")
        if name in store.models(include_incomplete=True) and not overwrite:
            raise StoreExistsError(
                f"model {name!r} is already in the store {store.uri}; pass --overwrite or another --name"
            )
    if metric is not None:
        from blend.metrics import get_metric

        get_metric(metric, task)  # fail before the expensive work

    oof = store.load_oof(chosen, tta=tta, output="probs")
    X = make_features(oof.preds, features=features, task=task)
    X_test, test_note = None, None
    if len(store.test_ids):
        try:
            test = store.load_test(chosen, tta=tta, folds="mean", output="probs")
            X_test = make_features(test.preds, features=features, task=task)
        except IncompleteModelError as exc:
            test_note = str(exc)
    extra = extra_test = None
    extra_cols: list[str] = []
    if extra_features is not None:
        forbidden = [c for c in store.targets.columns if c != store.id_col and c not in ("group",)]
        extra, extra_test, extra_cols = read_extra_features(
            extra_features, store.id_col, store.ids, store.test_ids, forbidden=forbidden
        )
        if X_test is None:
            extra_test = None
    info = {
        "models": chosen,
        "features": features,
        "tta": tta,
        "tta_views": list(oof.tta_views),
        "extra_features": None if extra_features is None else {"file": str(extra_features), "columns": extra_cols},
        "seed": int(seed),
    }
    if test_note:
        info["test"] = f"skipped: {test_note}"
    res = fit_stacker(
        st, X, oof.y, oof.folds, task=task, metric=metric, params=params, hpo=hpo, seeds=seeds,
        X_test=X_test, extra=extra, extra_test=extra_test, base_preds=oof.preds,
        model_names=chosen, rng=np.random.default_rng(seed), info=info, progress=progress,
        n_jobs=n_jobs, executor=executor,
    )
    if not write:
        return res, None
    # one write: with --overwrite the old model is replaced all at once, never removed first
    write_model(
        store, name, "stack",
        oof={k: as_block(res.oof[oof.folds == k]) for k in res.fold_ids},
        test=(None if res.fold_test is None
              else {k: as_block(t) for k, t in zip(res.fold_ids, res.fold_test, strict=True)}),
        replace=overwrite,
        kind="raw" if task == "regression" else "probs",
        # a stacker is honest OOF (nested), unless it stacks in-sample blends (write_model)
        params={"stacker": st.name, **res.to_dict()},
        source="stack",
        parents=chosen,
        overwrite=overwrite,
        fitted_on_all_rows=False,
    )
    return res, name


def stack_recipe(store: Any, res: StackResult, written: str) -> Any:
    """A recipe whose blend is the written-back stacker alone, for ``blend apply``.

    The stacker's OOF predictions are outer-fold ones, so its in-sample and nested scores
    are the same number.
    """
    from blend.recipe import Recipe

    return Recipe.for_store(
        store,
        (written,),
        rule="prob",
        metric=res.metric,
        score=res.nested_score,
        nested_score=res.nested_score,
        source=f"stack:{res.stacker}",
    )

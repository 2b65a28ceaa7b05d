"""K-fold trainers for tables (LightGBM and scikit-learn) that fill the store.

One model per fold of the store's fold assignment, trained on the rows of the other
folds; it predicts its own fold (the OOF block) and the whole test set (one test block per
fold model). LightGBM early-stops on an inner split of the training folds, never on the
OOF fold.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from base_models._estimators import (
    TABULAR_MODELS,
    _is_clf,
    available_tabular_models,
    register_tabular_model,
)
from oof_common.cli import progress_bar
from oof_store import Store, StoreError

__all__ = [
    "TABULAR_MODELS",
    "TabularResult",
    "available_tabular_models",
    "register_tabular_model",
    "train_tabular",
    "load_features",
]

@dataclass(frozen=True)
class TabularResult:
    """What :func:`train_tabular` did."""

    name: str
    model: str
    fold_scores: dict[int, float]
    oof_score: float
    metric: str
    trained_folds: list[int]
    skipped_folds: list[int]
    seconds: float
    manifest: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the result (fold ids as string keys; the manifest left out)."""
        return {
            "name": self.name,
            "model": self.model,
            "metric": self.metric,
            "oof_score": self.oof_score,
            "fold_scores": {str(k): v for k, v in self.fold_scores.items()},
            "trained_folds": self.trained_folds,
            "skipped_folds": self.skipped_folds,
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        """One line: OOF score, fold scores, time and the folds skipped."""
        folds = ", ".join(f"{k}: {v:.4f}" for k, v in self.fold_scores.items())
        skipped = f" (folds {self.skipped_folds} already in the store, skipped)" if self.skipped_folds else ""
        return (
            f"{self.name} ({self.model}): OOF {self.metric} {self.oof_score:.4f} "
            f"[{folds}] in {self.seconds:.1f} s{skipped}"
        )


def load_features(
    store: Store, data: pd.DataFrame | str | os.PathLike[str], features: list[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Rows of ``data`` for the store's training ids and test ids, in store order.

    ``data`` holds an id column (the store's) and feature columns; training and test rows
    may be in one file. Targets, fold and group columns are never used as features.
    """
    if not isinstance(data, pd.DataFrame):
        from oof_store.importing import read_table

        path = os.fspath(data)
        data = read_table(path)
        if not isinstance(data, pd.DataFrame):
            raise StoreError(f"{path}: the feature file must be a CSV or Parquet table")
    else:
        path = "<DataFrame>"
    if store.id_col not in data.columns:
        raise StoreError(
            f"{path}: no id column {store.id_col!r} (the store's); its columns: {list(data.columns)}"
        )
    ids = data[store.id_col].astype(str)
    dup = ids[ids.duplicated()].unique()
    if len(dup):
        raise StoreError(f"{path}: duplicate id(s) {list(dup[:5])}")
    indexed = data.set_index(ids)
    blocked = {store.id_col, "fold", "group", "target", *store.target_cols}
    if features is None:
        features = [c for c in data.columns if c not in blocked]
    else:
        missing = [c for c in features if c not in data.columns]
        if missing:
            raise StoreError(f"{path}: feature column(s) {missing} not found")
        leaked = [c for c in features if c in blocked]
        if leaked:
            raise StoreError(f"{path}: {leaked} are targets, fold or id columns, not features")
    if not features:
        raise StoreError(f"{path}: no feature columns left after removing id, target and fold")
    have = pd.Index(ids.to_numpy(dtype=object))  # hash lookups: linear in the rows
    missing_train = store.ids[~pd.Index(store.ids, dtype=object).isin(have)]
    if len(missing_train):
        raise StoreError(
            f"{path}: {len(missing_train)} training id(s) of the store have no features, e.g. "
            f"{[str(i) for i in missing_train[:5]]}"
        )
    missing_test = store.test_ids[~pd.Index(store.test_ids, dtype=object).isin(have)]
    if len(missing_test):
        raise StoreError(
            f"{path}: {len(missing_test)} test id(s) of the store have no features, e.g. "
            f"{[str(i) for i in missing_test[:5]]}"
        )
    X = indexed.loc[store.ids, features]
    X_test = indexed.loc[store.test_ids, features] if len(store.test_ids) else X.iloc[:0]
    for frame in (X, X_test):
        for c in features:
            if not pd.api.types.is_numeric_dtype(frame[c]):
                frame[c] = frame[c].astype("category")
    return X, X_test, features


def _encode(X: pd.DataFrame, model: str) -> pd.DataFrame | np.ndarray:
    if model == "lgbm":
        return X
    cats = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return X.to_numpy(dtype=np.float64)
    X = X.copy()
    for c in cats:
        X[c] = X[c].cat.codes.astype(float).replace(-1, np.nan)
    return X.to_numpy(dtype=np.float64)


def _fit(est, model: str, task: str, X, y, w, seed: int):
    """Fit, with LightGBM early-stopping on an inner 10% split of the training rows."""
    if model != "lgbm":
        try:
            return est.fit(X, y, **({} if w is None else {_weight_key(est): w}))
        except TypeError as exc:
            raise StoreError(f"model {model!r} does not accept soft targets (sample weights)") from exc
    import lightgbm as lgb
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    strat = y if _is_clf(task) and np.bincount(y.astype(int)).min() >= 2 else None
    tr, va = train_test_split(idx, test_size=0.1, random_state=seed, stratify=strat)
    import inspect

    # LightGBM >= 4.6 names the validation data eval_X / eval_y; older ones eval_set.
    if "eval_X" in inspect.signature(est.fit).parameters:
        evals = {"eval_X": (_rows(X, va),), "eval_y": (y[va],)}
    else:
        evals = {"eval_set": [(_rows(X, va), y[va])]}
    est.fit(
        _rows(X, tr), y[tr],
        sample_weight=None if w is None else w[tr],
        eval_sample_weight=None if w is None else [w[va]],
        callbacks=[lgb.early_stopping(100, verbose=False)],
        **evals,
    )
    return est


def _rows(X, idx: np.ndarray):
    """Rows of a DataFrame or an array by position (integer) or boolean mask."""
    if isinstance(X, pd.DataFrame):
        return X.iloc[np.flatnonzero(idx) if idx.dtype == bool else idx]
    return X[idx]


def _weight_key(est) -> str:
    if hasattr(est, "steps"):
        return f"{est.steps[-1][0]}__sample_weight"
    return "sample_weight"


def _predict(est, task: str, X, n_classes: int) -> np.ndarray:
    if not _is_clf(task):
        return np.asarray(est.predict(X), dtype=np.float64)[:, None]
    p = np.asarray(est.predict_proba(X), dtype=np.float64)
    classes = np.asarray(est.classes_).astype(int)
    out = np.zeros((len(p), n_classes))
    out[:, classes] = p  # a class absent from the training folds gets probability 0
    return out


def train_tabular(
    store: Store,
    data: pd.DataFrame | str | os.PathLike[str],
    *,
    model: str,
    name: str,
    params: dict[str, Any] | None = None,
    features: list[str] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    show_progress: bool = True,
    executor: Any = None,
) -> TabularResult:
    """Train ``model`` on each fold of the store and write its OOF and test predictions.

    Folds whose blocks are already in the store are skipped (resume), unless ``overwrite``.
    With an ``executor`` (``oof_store.distributed``, e.g. Ray) the folds are trained as
    independent tasks: the features are shared once, each task opens the store from its URI
    and returns its fold's predictions. Every write happens here, inside one
    ``store.transaction(name)`` held for the whole run: each finished fold is checkpointed
    (a killed run resumes from its pending folds), a second writer of the model is refused,
    and the manifest (``--overwrite`` included) switches once, at the end. Seeds are per
    fold, so the predictions are the serial run's.
    """
    if model not in TABULAR_MODELS:
        raise StoreError(
            f"unknown tabular model {model!r}; available: {', '.join(available_tabular_models())}"
        )
    if name in store.models() and not overwrite:
        raise StoreError(
            f"model {name!r} is already in the store; pass --overwrite to retrain it, or choose "
            "another --name"
        )
    params = dict(params or {})
    X_all, X_test_df, features = load_features(store, data, features)
    X = _encode(X_all, model)
    X_test = _encode(X_test_df, model) if len(store.test_ids) else None
    task, C = store.task, store.n_classes
    if task == "softclass":
        y_fit = None
    elif task == "regression":
        y_fit = store.y
    else:
        y_fit = store.y.astype(int)
    make = TABULAR_MODELS[model]
    if model == "lgbm" and "n_jobs" not in params:
        # OpenMP threads cost more than they give on small tables, and collapse when the
        # cores are shared; use them only for large ones.
        params_for_fit = {**params, "n_jobs": 1 if len(store.ids) < 20000 else -1}
    else:
        params_for_fit = params
    start = time.perf_counter()
    trained, skipped = [], []
    has_test = len(store.test_ids) > 0
    job = {"store": store, "name": name, "model": model, "make": make, "task": task, "C": C,
           "X": X, "X_test": X_test, "y_fit": y_fit, "params": params_for_fit, "seed": seed}
    # one transaction for the whole run: a second writer of the model is refused until it
    # ends, each finished fold is checkpointed (pending blocks a killed run resumes from),
    # and with --overwrite the old model stays readable until the new manifest replaces it
    with store.transaction(name, "base-models tabular", replace=overwrite) as tx, \
            progress_bar() as prog:
        bar = prog.add_task(f"{name}: training {model}", total=store.n_folds, visible=show_progress)
        have = set(tx.blocks())
        todo = []
        for f in store.fold_ids:
            done = ("oof", int(f), 0) in have and (not has_test or ("test", int(f), 0) in have)
            if done and not overwrite:
                skipped.append(f)
                prog.advance(bar)
            else:
                todo.append(int(f))

        def commit(fold_out: tuple[int, np.ndarray, np.ndarray | None]) -> None:
            f, oof_pred, test_pred = fold_out
            tx.write_block("oof", f, 0, store.ids[store.folds == f], oof_pred, overwrite=True)
            if test_pred is not None:
                tx.write_block("test", f, 0, store.test_ids, test_pred, overwrite=True)
            tx.checkpoint()
            trained.append(f)
            prog.advance(bar)

        if executor is None:
            for f in todo:
                commit(_train_fold(job, f))
        elif todo:
            # the tasks return their fold's predictions and this process writes them: the
            # model's lock is held here, so workers never write (nor collide)
            job["store"] = str(store.uri)  # each task opens the store itself
            gpu = str(params.get("device", params.get("device_type", "cpu"))).lower() in ("gpu", "cuda")
            executor.map(_train_fold, [(f,) for f in todo], shared=job, num_gpus=1 if gpu else 0,
                         on_done=lambda _i, out: commit(out))
        manifest = tx.finish_model(
            kind="raw" if task == "regression" else "probs",
            params={"model": model, "params": params, "features": features, "seed": seed},
            source="base-models tabular",
            overwrite=True,
        )
    trained.sort()
    oof = store.load_oof([name]).preds[0, 0]
    metric, fold_scores, overall = _scores(store, oof)
    return TabularResult(
        name, model, fold_scores, overall, metric, trained, skipped,
        time.perf_counter() - start, manifest,
    )


def _train_fold(job: dict[str, Any], f: int) -> tuple[int, np.ndarray, np.ndarray | None]:
    """Train fold ``f``'s model on the other folds; return ``(f, OOF, test)`` predictions.

    It writes nothing: the caller writes the blocks inside its transaction of the model
    (a task on another worker cannot take the model's lock the caller holds).
    """
    store = job["store"] if isinstance(job["store"], Store) else Store(job["store"])
    task, C, X, X_test = job["task"], job["C"], job["X"], job["X_test"]
    tr = store.folds != f
    va = ~tr
    Xtr = _rows(X, tr)
    if task == "softclass":
        soft = store.y[tr]
        rows, cls = np.nonzero(soft > 0)
        Xtr = _rows(Xtr, rows)
        ytr, wtr = cls, soft[rows, cls]
    else:
        ytr, wtr = job["y_fit"][tr], None
    seed = job["seed"] + f
    est = job["make"](task if task != "softclass" else "multiclass", job["params"], seed)
    est = _fit(est, job["model"], task, Xtr, ytr, wtr, seed)
    oof_pred = _predict(est, task, _rows(X, va), C)
    test_pred = None
    if X_test is not None and len(store.test_ids):
        test_pred = _predict(est, task, X_test, C)
    return f, oof_pred, test_pred


def _scores(store: Store, p: np.ndarray) -> tuple[str, dict[int, float], float]:
    if store.task == "regression":
        err = (p[:, 0] - store.y) ** 2
        per = {f: float(np.sqrt(err[store.folds == f].mean())) for f in store.fold_ids}
        return "rmse", per, float(np.sqrt(err.mean()))
    hit = p.argmax(axis=1) == store.y_hard
    per = {f: float(hit[store.folds == f].mean()) for f in store.fold_ids}
    return "accuracy", per, float(hit.mean())


def parse_params(text: str | None) -> dict[str, Any]:
    """``--params`` as JSON (or a path to a JSON file)."""
    if not text:
        return {}
    try:
        if os.path.exists(text):
            with open(text) as f:
                value = json.load(f)
        else:
            value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(f"--params must be a JSON object, e.g. '{{\"num_leaves\": 15}}': {exc}") from exc
    if not isinstance(value, dict):
        raise StoreError("--params must be a JSON object")
    return value

"""LightGBM stacker: gradient boosting over the flattened models x classes features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blend.stack._registry import register_stacker
from blend.stack._stacker import Stacker, expand_soft, flatten, normalize_probs

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    pass

__all__ = ["LGBMStacker"]


@register_stacker("lgbm")
class LGBMStacker(Stacker):
    """LightGBM over the (M * C) features, early-stopped on the inner validation fold.

    Soft targets (softclass) are handled by repeating each row once per class with the
    soft target as sample weight (the weighted multi-class log loss is then the soft
    cross-entropy). Binary uses the ``binary`` objective, regression ``regression`` (L2).
    """

    parallel_fits = True

    def default_params(self, task: str, n_classes: int) -> dict[str, Any]:
        return {
            "learning_rate": 0.08,
            "num_leaves": 15,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.7,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "max_bin": 63,
            "num_boost_round": 1000,
            "early_stopping_rounds": 30,
            "num_threads": 1,  # inner fits run in parallel threads instead (see fit_stacker)
        }

    def suggest_params(self, trial: Any, task: str, n_classes: int) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.2, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 63, log=True),
            "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 5, 200, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
            "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
        }

    @staticmethod
    def _dataset(X, E, y, task, reference=None):
        import lightgbm as lgb

        F = flatten(X, E, task)
        w = None
        if task == "softclass":
            F, y, w = expand_soft(F, y)
        return lgb.Dataset(F, label=y, weight=w, reference=reference, free_raw_data=True)

    def fit_one(self, X, E, y, X_val, E_val, y_val, *, task, n_classes, params, seed):
        import lightgbm as lgb

        p = dict(params)
        rounds = int(p.pop("num_boost_round"))
        stop = int(p.pop("early_stopping_rounds"))
        if task == "regression":
            obj = {"objective": "regression"}
        elif task == "binary":
            obj = {"objective": "binary"}
        else:
            obj = {"objective": "multiclass", "num_class": n_classes}
        lgb_params = {**obj, **p, "seed": seed, "verbose": -1, "deterministic": True}
        dtr = self._dataset(X, E, y, task)
        dva = self._dataset(X_val, E_val, y_val, task, reference=dtr)
        booster = lgb.train(
            lgb_params,
            dtr,
            num_boost_round=rounds,
            valid_sets=[dva],
            callbacks=[lgb.early_stopping(stop, verbose=False)],
        )
        return (booster, task, booster.best_iteration or rounds)

    def predict_one(self, fitted, X, E):
        import numpy as np

        booster, task, it = fitted
        out = booster.predict(flatten(X, E, task), num_iteration=it)
        if task == "regression":
            return np.asarray(out, dtype=np.float64)
        if task == "binary":
            p1 = np.asarray(out, dtype=np.float64)
            return normalize_probs(np.stack([1.0 - p1, p1], axis=1))
        return normalize_probs(out)

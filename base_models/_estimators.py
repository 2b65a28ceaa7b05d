"""The tabular model registry: name -> ``factory(task, params, seed)`` returning an estimator.

LightGBM and scikit-learn are imported inside each factory, and nothing here imports numpy
or pandas, so ``base-models tabular --help`` lists the models without them (start-up
< 0.3 s, issue 22). :mod:`base_models.tabular` trains them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from oof_store._errors import StoreError

__all__ = ["TABULAR_MODELS", "available_tabular_models", "register_tabular_model"]

#: name -> factory(task, params, seed) returning an unfitted estimator
TABULAR_MODELS: dict[str, Callable[..., Any]] = {}


def register_tabular_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory(task, params, seed) -> estimator`` under ``name``."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        TABULAR_MODELS[name] = factory
        return factory

    return deco


def available_tabular_models() -> list[str]:
    """The names of the registered tabular models, sorted."""
    return sorted(TABULAR_MODELS)


def _is_clf(task: str) -> bool:
    return task != "regression"


@register_tabular_model("lgbm")
def _lgbm(task: str, params: dict[str, Any], seed: int):
    import lightgbm as lgb

    base = {
        "n_estimators": 2000,
        "learning_rate": 0.05,
        "num_leaves": 31,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "random_state": seed,
        "n_jobs": 2,
        "verbose": -1,
    }
    base.update(params)
    return lgb.LGBMClassifier(**base) if _is_clf(task) else lgb.LGBMRegressor(**base)


def _scaled(estimator):
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(), StandardScaler(), estimator)


@register_tabular_model("logreg")
def _logreg(task: str, params: dict[str, Any], seed: int):
    from sklearn.linear_model import LogisticRegression, Ridge

    if _is_clf(task):
        return _scaled(LogisticRegression(**{"C": 1.0, "max_iter": 2000, **params}))
    return _scaled(Ridge(**{"alpha": 1.0, **params}))


@register_tabular_model("rf")
def _rf(task: str, params: dict[str, Any], seed: int):
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    p = {"n_estimators": 300, "n_jobs": 2, "random_state": seed, **params}
    est = RandomForestClassifier(**p) if _is_clf(task) else RandomForestRegressor(**p)
    return make_pipeline(SimpleImputer(), est)


@register_tabular_model("extratrees")
def _et(task: str, params: dict[str, Any], seed: int):
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    p = {"n_estimators": 300, "n_jobs": 2, "random_state": seed, **params}
    est = ExtraTreesClassifier(**p) if _is_clf(task) else ExtraTreesRegressor(**p)
    return make_pipeline(SimpleImputer(), est)


@register_tabular_model("knn")
def _knn(task: str, params: dict[str, Any], seed: int):
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    p = {"n_neighbors": 15, "weights": "distance", **params}
    return _scaled(KNeighborsClassifier(**p) if _is_clf(task) else KNeighborsRegressor(**p))


@register_tabular_model("mlp")
def _mlp(task: str, params: dict[str, Any], seed: int):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    p = {"hidden_layer_sizes": (128,), "max_iter": 300, "early_stopping": True,
         "random_state": seed, **params}
    return _scaled(MLPClassifier(**p) if _is_clf(task) else MLPRegressor(**p))


@register_tabular_model("nb")
def _nb(task: str, params: dict[str, Any], seed: int):
    from sklearn.naive_bayes import GaussianNB

    if not _is_clf(task):
        raise StoreError("model 'nb' (Gaussian naive Bayes) is for classification tasks only")
    return _scaled(GaussianNB(**params))

"""Metric names as users type them (issue 21): aliases, any case, listed in --help."""

from __future__ import annotations

import numpy as np
import pytest

from blend.metrics import ALIASES, METRICS, canonical_metric, get_metric, metric_help


@pytest.mark.parametrize(
    ("typed", "name"),
    [("roc_auc", "auc"), ("AUC", "auc"), ("ROC-AUC", "auc"), ("log_loss", "logloss"),
     ("neg_log_loss", "logloss"), ("LogLoss", "logloss"), ("mse", "mse"), ("MSE", "mse"),
     ("neg_root_mean_squared_error", "rmse"), ("Accuracy", "accuracy"), ("kappa", "qwk")],
)
def test_aliases_and_case_find_the_registry_metric(typed, name):
    assert canonical_metric(typed) == name
    assert get_metric(typed) is METRICS[name]


def test_every_alias_points_into_the_registry():
    assert set(ALIASES.values()) <= set(METRICS)


def test_user_metrics_and_unknown_names_pass_through_unchanged():
    assert canonical_metric("mymod:score") == "mymod:score"
    assert canonical_metric("bogus") == "bogus"
    with pytest.raises(ValueError, match=r"unknown metric 'bogus'.*roc_auc, log_loss"):
        get_metric("bogus")


def test_mse_is_the_square_of_rmse():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=50), rng.normal(size=50)
    assert get_metric("mse")(y, p) == pytest.approx(get_metric("rmse")(y, p) ** 2)


def test_help_lists_the_aliases():
    text = metric_help()
    assert "auc (roc_auc" in text
    assert "logloss (log_loss, neg_log_loss" in text

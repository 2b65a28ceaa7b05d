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


@pytest.mark.parametrize(("command", "typed", "name"), [
    (["optimize", "--method", "lbfgs"], "neg_log_loss", "logloss"),
    (["search", "--top", "3"], "ROC_AUC", "auc"),
])
def test_cli_takes_the_names_users_type(tmp_path, command, typed, name):
    import json

    from blend.cli import main
    from oof_store import synthetic

    store = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=200, n_folds=3, task="binary", seed=1)
    out = tmp_path / "o.json"
    assert main([command[0], str(store.uri), *command[1:], "--metric", typed, "--json", str(out)]) == 0
    assert json.loads(out.read_text())["metric"] == name

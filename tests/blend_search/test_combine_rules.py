"""Combination rules: what each computes, weights, TTA views, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from blend import BlendError
from blend.combine import RULES, combine


@pytest.fixture
def logits(rng):
    return rng.normal(size=(3, 2, 50, 4)).astype(np.float32)  # models, tta, rows, classes


def test_prob_rule_is_the_mean_of_probabilities(logits):
    P = softmax(logits.astype(np.float64), -1)
    out = combine(P, rule="prob", kind="probs")
    assert np.allclose(out, P.mean(axis=(0, 1)))
    assert np.allclose(combine(logits, rule="prob", kind="logits"), out)


def test_logit_rule_is_softmax_of_mean_logits_and_equals_geo(logits):
    expected = softmax(logits.astype(np.float64).mean(axis=(0, 1)), -1)
    assert np.allclose(combine(logits, rule="logit", kind="logits"), expected)
    assert np.allclose(combine(logits, rule="geo", kind="logits"), expected)
    P = softmax(logits.astype(np.float64), -1)
    assert np.allclose(combine(P, rule="geo", kind="probs"), expected, atol=1e-6)


def test_weights_are_normalised_and_a_single_weight_picks_a_model(logits):
    P = softmax(logits.astype(np.float64), -1)
    assert np.allclose(combine(P, [0, 5, 0]), P[1].mean(0))
    assert np.allclose(combine(P, [1, 1, 2]), combine(P, [0.25, 0.25, 0.5]))


def test_tta_weights_weight_the_views(logits):
    P = softmax(logits.astype(np.float64), -1)
    assert np.allclose(combine(P, tta_weights=[1, 0]), P[:, 0].mean(0))


def test_rank_rule_rows_sum_to_one_and_are_invariant_to_monotone_maps(logits):
    P = softmax(logits.astype(np.float64), -1)
    out = combine(P, rule="rank")
    assert np.allclose(out.sum(1), 1)
    assert np.allclose(combine(P**3, rule="rank"), out)


@pytest.mark.parametrize("rule", list(RULES))
def test_every_rule_returns_probabilities(rule, logits):
    out = combine(logits, rule=rule, kind="logits")
    assert out.shape == (50, 4)
    assert np.all(out >= 0)
    assert np.allclose(out.sum(1), 1)


def test_regression_mean():
    P = np.arange(12, dtype=np.float32).reshape(2, 6, 1)
    assert np.allclose(combine(P, rule="prob", kind="raw")[:, 0], P[:, :, 0].mean(0))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rule": "median"}, "unknown rule 'median'; choose one of prob, logit, geo, rank"),
        ({"kind": "odds"}, "unknown kind 'odds'"),
        ({"weights": [1, 2]}, "weights must have 3 entries, got 2"),
        ({"weights": [1, -1, 1]}, "must be finite and non-negative"),
        ({"weights": [0, 0, 0]}, "must not all be zero"),
        ({"tta_weights": [1, 1, 1]}, "tta_weights must have 2 entries"),
    ],
)
def test_bad_arguments_are_named(kwargs, message, logits):
    with pytest.raises(BlendError, match=message):
        combine(logits, kind=kwargs.pop("kind", "logits"), **kwargs)


def test_logit_rule_refuses_regression():
    with pytest.raises(BlendError, match="rule 'logit' needs class probabilities"):
        combine(np.zeros((2, 5, 1)), rule="logit", kind="raw")


def test_nan_predictions_are_refused(logits):
    logits[0, 0, 3, 1] = np.nan
    with pytest.raises(BlendError, match="NaN"):
        combine(logits, kind="logits")

"""One metric definition: compare's pooled scores equal those of optimize and report.

Every pooled score goes through :func:`blend.nested.pooled_scores`. Where compare and the
other commands fit the same thing the same way, the numbers must be equal, not close:

- the plain mean baseline's nested score (nothing fitted) equals ``blend report``'s mean
  blend score, fold scores too;
- the ``lbfgs`` weights candidate on a differentiable metric (deterministic fit, the same
  rows in every outer fold) equals ``blend optimize --method lbfgs``'s nested score.

Stochastic methods (hill-climb, de, nelder-mead, optuna) are not compared: compare seeds
each fit from (seed, candidate, left-out folds) and runs hill-climb with the budget's
``n_bags``, optimize seeds its fold fits from one root seed, so their weights differ by
the randomness, not by the score's definition.
"""

from __future__ import annotations

import json

import pytest

from blend.cli import main as blend
from oof_store import synthetic


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return synthetic.make_store(tmp_path_factory.mktemp("agree") / "s", n_models=4, n_rows=302,
                                n_classes=3, n_folds=4, n_test=0, accuracy=(0.55, 0.75),
                                correlation=0.5, seed=3)


def _json(argv, path):
    assert blend([*argv, "--json", str(path)]) == 0
    return json.loads(path.read_text())


@pytest.mark.parametrize("metric", ["logloss", "accuracy"])
def test_the_mean_baseline_equals_the_report_mean_blend(store, tmp_path, metric):
    c = _json(["compare", str(store.uri), "--methods", "lbfgs/prob", "--no-procedure",
               "--metric", metric], tmp_path / "c.json")
    r = _json(["report", str(store.uri), "--metric", metric], tmp_path / "r.json")
    mean = next(x for x in c["candidates"] if x["name"] == "mean")
    assert mean["nested_score"] == r["blend"]["score"]
    assert mean["fold_scores"] == [r["blend"]["fold_scores"][str(k)] for k in store.fold_ids]


@pytest.mark.parametrize("rule", ["prob", "logit"])
def test_the_lbfgs_candidate_equals_blend_optimize_nested(store, tmp_path, rule):
    c = _json(["compare", str(store.uri), "--methods", f"lbfgs/{rule}", "--no-procedure",
               "--metric", "logloss"], tmp_path / "c.json")
    o = _json(["optimize", str(store.uri), "--method", "lbfgs", "--rule", rule,
               "--metric", "logloss"], tmp_path / "o.json")
    cand = next(x for x in c["candidates"] if x["name"] == f"lbfgs {rule}")
    assert cand["nested_score"] == o["nested_score"]
    assert cand["fold_scores"] == o["fold_scores"]
    assert cand["in_sample_score"] == pytest.approx(o["score"], rel=1e-12)

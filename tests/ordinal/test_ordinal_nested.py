"""Weights and cut points fitted inside the nested CV: no fold seen, recipes that replay."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from blend import BlendError
from blend.cli import main
from blend.ordinal import Grades, apply_cuts, qwk_grades, register_cut_method
from blend.ordinal._cuts import _METHODS
from blend.ordinal._fit import fit_ordinal, ordinal_scores
from blend.recipe import Recipe
from blend.workflows.apply import submission


@pytest.fixture
def spy_cuts():
    """A cut-point method that records the scores it is fitted on (then rounds)."""
    seen: list[np.ndarray] = []

    def spy(score, y_idx, grades, *, rng=None, **params):
        seen.append(np.array(score))
        return grades.midpoints()

    register_cut_method("spy")(spy)
    yield seen
    del _METHODS["spy"]


@pytest.fixture
def signed_cuts():
    """A cut-point method that records the scores of each fit and signs the cut points it
    returns with the fit's number (midpoints + number * 1e-7), so a fold's cut points name
    the fit that made them (and the rows it saw)."""
    seen: list[np.ndarray] = []

    def signed(score, y_idx, grades, *, rng=None, **params):
        seen.append(np.array(score))
        return grades.midpoints() + len(seen) * 1e-7

    register_cut_method("signed")(signed)
    yield seen
    del _METHODS["signed"]


@pytest.mark.parametrize("mode", ["after", "joint"])
def test_cut_points_fitted_for_a_fold_never_see_that_fold(spy_cuts, mode):
    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(1, 6, n).astype(float)
    # every model predicts the same unique value per row, so any normalised weights give
    # that value back, and each value names its row
    unique = y + np.arange(n) * 1e-4
    P = np.repeat(unique[None, :, None], 3, axis=0)
    folds = np.arange(n) % 4
    fit_ordinal(P, y, folds, method="nelder-mead", cut_method="spy", mode=mode,
                params={"maxiter": 5})
    row_of = {round(v, 6): i for i, v in enumerate(unique)}
    seen_sets = [frozenset(row_of[round(v, 6)] for v in s) for s in spy_cuts]
    fold_rows = [frozenset(np.flatnonzero(folds == k).tolist()) for k in range(4)]
    for k in range(4):
        train = frozenset(np.flatnonzero(folds != k).tolist())
        assert train in seen_sets, f"no cut fit on exactly the training folds of fold {k}"
    for s in seen_sets:
        if len(s) == n:  # the in-sample fit on every row
            continue
        untouched = [k for k in range(4) if not s & fold_rows[k]]
        assert len(untouched) == 1, "cut points for a held-out fold were fitted on its rows"
        assert s | fold_rows[untouched[0]] == frozenset(range(n))


@pytest.mark.parametrize("mode", ["after", "joint"])
def test_the_cut_points_that_grade_a_fold_were_fitted_on_the_other_folds_only(signed_cuts, mode):
    """Follow each fold's cut points back to the fit that made them: it saw exactly the
    other folds' rows (in joint mode the optimiser's many inner cut fits on the training
    rows must not hide a final fit on every row)."""
    rng = np.random.default_rng(0)
    n = 200
    y = rng.integers(1, 6, n).astype(float)
    unique = y + np.arange(n) * 1e-4  # each value names its row
    P = np.repeat(unique[None, :, None], 3, axis=0)
    folds = np.arange(n) % 4
    r = fit_ordinal(P, y, folds, method="nelder-mead", cut_method="signed", mode=mode,
                    params={"maxiter": 5})
    row_of = {round(v, 6): i for i, v in enumerate(unique)}
    mid = Grades((1, 2, 3, 4, 5)).midpoints()
    for k, cuts, w in zip(r.fold_ids, r.fold_cuts, r.fold_weights, strict=True):
        call = round((cuts[0] - mid[0]) / 1e-7)
        assert np.allclose(np.asarray(cuts) - mid, call * 1e-7, atol=1e-12)
        rows = {row_of[round(v, 6)] for v in signed_cuts[call - 1]}
        assert rows == set(np.flatnonzero(folds != k).tolist()), (
            f"fold {k} was graded by cut points fitted on {len(rows)} rows, "
            f"{len(rows & set(np.flatnonzero(folds == k).tolist()))} of them its own")
        test = folds == k
        s = np.array([w[m] for m in r.models]) @ P[:, test, 0]
        assert np.array_equal(r.heldout[test], apply_cuts(s, np.asarray(cuts)))


def test_nested_score_is_the_pooled_qwk_of_grades_from_cuts_fitted_without_the_fold():
    rng = np.random.default_rng(1)
    n = 400
    y = np.clip(np.rint(3 + 1.2 * rng.normal(size=n)), 1, 5)
    P = np.stack([0.6 * y + 1.5 + rng.normal(0, s, n) for s in (0.3, 0.5)])[:, :, None]
    folds = np.arange(n) % 4
    r = fit_ordinal(P, y, folds, method="mean", cut_method="coordinate")
    g = Grades((1, 2, 3, 4, 5))
    pred = np.empty(n, dtype=int)
    for k, cuts in zip(r.fold_ids, r.fold_cuts, strict=True):
        rows = folds == k
        pred[rows] = apply_cuts(P[:, rows, 0].mean(0), cuts)
    assert r.nested_score == pytest.approx(qwk_grades(g.index(y), pred, 5))
    assert np.array_equal(r.heldout, pred)
    assert r.nested_score > r.rounding_nested_score  # shrunk, shifted models: cuts help


def test_expected_grade_is_the_probability_weighted_grade():
    P = np.array([[[0.2, 0.8], [1.0, 0.0]]])  # (M=1, N=2, C=2)
    s = ordinal_scores(P, "probs", Grades((1, 3)))
    assert s.tolist() == [[pytest.approx(2.6), pytest.approx(1.0)]]
    with pytest.raises(BlendError, match=r"2 classes but 3 grades"):
        ordinal_scores(P, "probs", Grades((1, 2, 3)))


def test_cli_optimize_qwk_end_to_end_and_recipe_writes_the_same_grades(ordinal_store, tmp_path):
    out, rec, sub = tmp_path / "o.json", tmp_path / "r.json", tmp_path / "sub.csv"
    assert main(["optimize", str(ordinal_store.uri), "--metric", "qwk", "--method",
                 "nelder-mead", "--cuts-mode", "after", "--json", str(out),
                 "--recipe", str(rec)]) == 0
    d = json.loads(out.read_text())
    assert d["metric"] == "qwk"
    assert d["grades"] == [1, 2, 3, 4, 5]
    assert len(d["cuts"]) == 4
    assert len(d["fold_cuts"]) == ordinal_store.n_folds
    assert d["nested_score"] > d["rounding_nested_score"]
    assert d["nested_score_is"].startswith("nested")  # one candidate: its own nested QWK
    recipe = Recipe.load(rec)
    assert recipe.cuts == tuple(d["cuts"])
    assert recipe.nested_score == d["nested_score"]
    # round trip: the recipe's grades on the OOF rows give the in-sample QWK of the fit
    grades = recipe.grade_index(recipe.predict_oof(ordinal_store))
    g = Grades(tuple(recipe.grades))
    assert qwk_grades(g.index(ordinal_store.y), grades, 5) == pytest.approx(d["score"], abs=1e-9)
    # the reloaded recipe writes the same integer grades as the one in memory
    assert main(["apply", str(rec), "--store", str(ordinal_store.uri), "--out", str(sub)]) == 0
    written = pd.read_csv(sub)
    again = submission(Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))), ordinal_store)
    assert written["target"].tolist() == again["target"].tolist()
    assert written["target"].dtype.kind == "i"
    assert set(written["target"]) <= {1, 2, 3, 4, 5}
    expected = g.array[recipe.grade_index(recipe.predict_test(ordinal_store))]
    assert np.array_equal(written["target"].to_numpy(), expected.astype(int))
    raw = tmp_path / "raw.csv"
    assert main(["apply", str(rec), "--store", str(ordinal_store.uri), "--out", str(raw),
                 "--raw"]) == 0
    scores = pd.read_csv(raw)["target"].to_numpy()
    assert np.array_equal(apply_cuts(scores, recipe.cuts) + 1, written["target"].to_numpy())


def test_cli_ordinal_classes_blend_expected_grades(ordinal_class_store, tmp_path):
    out, rec, sub = tmp_path / "o.json", tmp_path / "r.json", tmp_path / "sub.csv"
    assert main(["optimize", str(ordinal_class_store.uri), "--ordinal", "--method", "hill-climb",
                 "--cuts", "distribution", "--cuts-mode", "after", "--json", str(out),
                 "--recipe", str(rec)]) == 0
    d = json.loads(out.read_text())
    assert d["expected_grade"] is True
    assert 0 < d["argmax_nested_score"] <= 1
    assert main(["apply", str(rec), "--store", str(ordinal_class_store.uri), "--out",
                 str(sub)]) == 0
    assert set(pd.read_csv(sub, dtype=str)["target"]) <= {"1", "2", "3", "4", "5"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cuts": (1.5,)}, r"'cuts' and 'grades' go together"),
        ({"cuts": (1.5,), "grades": (1, 2, 3)}, r"has 1 entries for 2 gaps between the grades"),
        ({"cuts": (2.5, 1.5), "grades": (1, 2, 3)}, r"non-decreasing"),
    ],
)
def test_recipe_rejects_bad_cut_points(fields, message):
    with pytest.raises(BlendError, match=message):
        Recipe(models=("a",), task="regression", **fields)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--metric", "qwk", "--grades", "1..3"], r"not among the grades \[1, 2, 3\]"),
        (["--metric", "qwk", "--rule", "logit"], r"blends the scores with --rule prob"),
        (["--metric", "qwk", "--cuts-mode", "after", "--method", "nope"],
         r"invalid choice: 'nope'"),
    ],
)
def test_cli_errors_are_one_line(ordinal_store, argv, message, capsys):
    code = None
    try:
        code = main(["optimize", str(ordinal_store.uri), *argv])
    except SystemExit as exc:  # argparse choices
        code = exc.code
    assert code == 2
    assert pytest.importorskip("re").search(message, capsys.readouterr().err)


@pytest.mark.parametrize("command", [["optimize"], ["search"], ["stack", "linear"]])
def test_ray_on_a_cut_point_path_is_refused_not_ignored(ordinal_store, command, capsys):
    from blend.cli.stack import main as stack_main

    run = stack_main if command[0] == "stack" else (lambda argv: main([command[0], *argv]))
    argv = [*command[1:], str(ordinal_store.uri), "--metric", "qwk", "--ray", "local"]
    assert run(argv) == 2
    err = capsys.readouterr().err
    assert "--ray does not distribute it yet" in err
    assert "Traceback" not in err


def test_report_on_an_ordinal_store_has_qwk_per_model_and_fold_and_the_confusion(
        ordinal_store, tmp_path):
    out = tmp_path / "rep.json"
    assert main(["report", str(ordinal_store.uri), "--metric", "qwk", "--quiet", "--json",
                 str(out)]) == 0
    d = json.loads(out.read_text())["ordinal"]
    assert [r["name"] for r in d["rows"]] == ["m0", "m1", "m2", "mean of all"]
    assert all(len(r["cuts_folds"]) == ordinal_store.n_folds for r in d["rows"])
    cm = np.array(d["confusion"])
    assert cm.shape == (5, 5)
    assert cm.sum() == len(ordinal_store.y) == np.array(d["confusion_rounded"]).sum()
    g = Grades((1, 2, 3, 4, 5))
    assert cm.sum(axis=1).tolist() == np.bincount(g.index(ordinal_store.y), minlength=5).tolist()
    mean = d["rows"][-1]
    P = ordinal_store.load_oof(["m0", "m1", "m2"], output="raw").preds[:, 0, :, 0].mean(0)
    assert mean["rounded"] == pytest.approx(
        qwk_grades(g.index(ordinal_store.y), apply_cuts(P, g.midpoints()), 5))


def test_cli_qwk_on_a_continuous_target_asks_for_grades(tmp_path, capsys):
    from oof_store import synthetic

    store = synthetic.make_store(tmp_path / "reg", task="regression", n_models=2, n_rows=80,
                                 n_folds=4, seed=0)
    assert main(["optimize", str(store.uri), "--metric", "qwk"]) == 2
    assert "not whole numbers" in capsys.readouterr().err


def test_cli_cuts_all_compares_every_method_by_nested_qwk(ordinal_store, tmp_path):
    out = tmp_path / "all.json"
    assert main(["optimize", str(ordinal_store.uri), "--metric", "qwk", "--method",
                 "hill-climb", "--cuts", "all", "--cuts-mode", "after", "--json",
                 str(out)]) == 0
    d = json.loads(out.read_text())
    cands = d["candidates"]
    assert {c["cut_method"] for c in cands} == {"distribution", "nelder-mead", "coordinate",
                                                "bagged"}
    nested = [c["nested_score"] for c in cands]
    assert nested == sorted(nested, reverse=True)
    # the best of several nested QWKs is not the nested QWK of the choice: named for what it is
    assert d["kept_candidate_nested_score"] == nested[0]
    assert d["nested_score"] is None
    assert d["nested_score_is"].startswith("unknown: the kept candidate was chosen among 4")


def test_procedure_score_refits_every_candidate_without_the_graded_fold(spy_cuts):
    from blend.ordinal._fit import procedure_ordinal

    rng = np.random.default_rng(2)
    n = 160
    y = rng.integers(1, 6, n).astype(float)
    unique = y + np.arange(n) * 1e-4  # each value names its row
    P = np.repeat(unique[None, :, None], 2, axis=0)
    folds = np.arange(n) % 4
    res = procedure_ordinal(P, y, folds, [{"method": "mean", "cut_method": "spy"},
                                          {"method": "mean", "cut_method": "round"}])
    row_of = {round(v, 6): i for i, v in enumerate(unique)}
    # per outer fold k, the spy candidate makes 4 cut fits: on all of fold k's training rows
    # (the refit that would grade fold k), then one per inner fold; none may see fold k
    assert len(spy_cuts) == 4 * 4
    for c, s in enumerate(spy_cuts):
        k = c // 4
        rows = {row_of[round(v, 6)] for v in s}
        assert not rows & set(np.flatnonzero(folds == k).tolist())
        if c % 4 == 0:
            assert rows == set(np.flatnonzero(folds != k).tolist())
    assert len(res.choices) == 4
    assert 0 <= res.score <= 1


def test_cli_procedure_scores_the_choice_doubly_nested(ordinal_store, tmp_path):
    out, rec = tmp_path / "p.json", tmp_path / "r.json"
    assert main(["optimize", str(ordinal_store.uri), "--metric", "qwk", "--method",
                 "hill-climb", "--cuts", "all", "--cuts-mode", "after", "--procedure",
                 "--json", str(out), "--recipe", str(rec)]) == 0
    d = json.loads(out.read_text())
    proc = d["procedure"]
    assert len(proc["choices"]) == ordinal_store.n_folds
    assert 0 < proc["score"] <= 1
    # the nested score of the choice is the procedure's, in the JSON and in the recipe
    assert d["nested_score"] == proc["score"]
    assert d["nested_score_is"].startswith("procedure")
    assert d["kept_candidate_nested_score"] == d["candidates"][0]["nested_score"]
    assert Recipe.load(rec).nested_score == proc["score"]


def test_library_report_has_the_ordinal_section_the_cli_json_has(ordinal_store, tmp_path):
    import blend

    out = tmp_path / "rep.json"
    assert main(["report", str(ordinal_store.uri), "--metric", "qwk", "--quiet", "--json",
                 str(out)]) == 0
    cli = json.loads(out.read_text())
    res = blend.report(ordinal_store, metric="qwk")
    assert res.ordinal is not None
    assert res.to_dict()["ordinal"] == cli["ordinal"]
    assert any(line.startswith("ordinal: QWK of the mean of all") for line in res.headline())
    # not asked for on a store that is not ordinal-scored: no section
    assert blend.report(ordinal_store, metric="rmse").ordinal is None

"""Specification of the ``stack`` command: write-back into the store, CLI, bad input, real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from blend import BlendError
from blend.cli.stack import main
from blend.combine import combine
from blend.metrics import get_metric
from blend.stack import available_stackers
from blend.workflows.stack import run_stack
from oof_store import Store, StoreExistsError, synthetic

# --------------------------------------------------------------------------- write-back


def test_written_back_stacker_loads_and_blends(tiny_store, fast_params):
    res, name = run_stack(tiny_store, "lgbm", params=fast_params("lgbm"))
    store = Store(tiny_store.uri)
    assert name == "stack_lgbm"
    assert name in store.models()
    man = store.manifest(name)
    assert man["source"] == "stack"
    assert man["kind"] == "probs"
    assert man["parents"] == ["m00", "m01", "m02", "m03"]
    assert man["params"]["nested_score"] == pytest.approx(res.nested_score)
    assert store.validate() == []

    oof = store.load_oof([name], tta="mean", output="probs")
    np.testing.assert_allclose(oof.preds[0, 0], res.oof, atol=1e-6)
    test = store.load_test([name], tta="mean", folds="mean", output="probs")
    np.testing.assert_allclose(test.preds[0, 0], res.test, atol=1e-6)

    # the level-2 model blends with base models like any other model
    both = store.load_oof([name, "m00"], tta="mean", output="probs")
    acc = get_metric("accuracy", store.task)
    blended = combine(both.preds, rule="prob", kind="probs")
    assert blended.shape == (300, 3)
    assert acc(store.y, blended) > 0.6


def test_level2_models_are_left_out_of_the_default_inputs(tiny_store, fast_params):
    run_stack(tiny_store, "linear")
    res, _ = run_stack(tiny_store, "lgbm", params=fast_params("lgbm"))
    assert res.params["models"] == ["m00", "m01", "m02", "m03"]


@pytest.mark.parametrize("name", available_stackers())
def test_every_stacker_runs_on_a_store_and_writes_back(name, tiny_store, fast_params):
    res, written = run_stack(tiny_store, name, params=fast_params(name), features="logits")
    assert written == f"stack_{name}"
    assert Store(tiny_store.uri).manifest(written)["parents"] == ["m00", "m01", "m02", "m03"]
    assert res.nested_score > 0.6


def test_regression_store_is_written_as_raw(tmp_path):
    store = synthetic.make_store(tmp_path / "reg", task="regression", n_models=3, n_rows=200,
                                 n_folds=3, n_test=10, seed=0)
    res, name = run_stack(store, "linear")
    man = Store(store.uri).manifest(name)
    assert man["kind"] == "raw"
    assert res.metric == "rmse"
    np.testing.assert_allclose(Store(store.uri).load_oof([name]).preds[0, 0, :, 0], res.oof, atol=1e-5)


def test_tta_all_gives_each_view_to_the_stacker(tmp_path):
    store = synthetic.make_store(tmp_path / "tta", n_models=2, n_rows=240, n_classes=3, n_folds=3,
                                 n_test=10, n_tta=3, seed=0)
    res, _ = run_stack(store, "linear", tta="all", write=False)
    assert res.params["tta_views"] == ["none", "view1", "view2"]
    assert res.test.shape == (10, 3)


def test_extra_features_are_joined_on_the_id_column(tiny_store, tmp_path):
    ids = np.concatenate([tiny_store.ids, tiny_store.test_ids])
    f = tmp_path / "extra.parquet"
    pd.DataFrame({"id": ids[::-1], "x1": np.arange(len(ids), dtype=float)}).to_parquet(f)
    res, _ = run_stack(tiny_store, "linear", extra_features=f, write=False)
    assert res.params["extra_features"]["columns"] == ["x1"]


# --------------------------------------------------------------------------- bad input


def _extra_csv(tmp_path, store, drop=0, col="id", extra_cols=None):
    ids = np.concatenate([store.ids, store.test_ids])[drop:]
    df = pd.DataFrame({col: ids, "x1": np.zeros(len(ids))})
    for c in extra_cols or []:
        df[c] = 0.0
    path = tmp_path / "extra.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("make_kwargs", "error", "message"),
    [
        (lambda s, t: {"stacker": "xgb"}, BlendError, "choose one of: cnn1d, cnn2d, lgbm, linear, mlp"),
        (lambda s, t: {"models": ["m00", "nope"]}, BlendError, "unknown model\\(s\\) 'nope'; the store holds: m00"),
        (lambda s, t: {"models": ["m00"]}, BlendError, "stacking needs at least 2 models; got 1 \\(m00\\)"),
        (lambda s, t: {"extra_features": _extra_csv(t, s, drop=5)}, BlendError, "lacks 5 training id\\(s\\) \\(first: r000000"),
        (lambda s, t: {"extra_features": _extra_csv(t, s, col="key")}, BlendError, "has no id column 'id'"),
        (lambda s, t: {"extra_features": _extra_csv(t, s, extra_cols=["target"])}, BlendError, "would leak the labels"),
        (lambda s, t: {"extra_features": t / "missing.csv"}, BlendError, "does not exist"),
        (lambda s, t: {"tta": "max"}, BlendError, "--tta must be 'mean' or 'all'"),
        (lambda s, t: {"metric": "rmse"}, ValueError, "rmse"),
        (lambda s, t: {"params": {"depth": 2}}, BlendError, "parameter of stacker"),
        (lambda s, t: {"name": "m01"}, BlendError, "is one of the stacked models"),
    ],
)
def test_bad_input_is_refused_before_fitting(tiny_store, tmp_path, make_kwargs, error, message):
    kwargs = {"stacker": "lgbm", **make_kwargs(tiny_store, tmp_path)}
    with pytest.raises(error, match=message):
        run_stack(tiny_store, kwargs.pop("stacker"), **kwargs)


def test_an_existing_model_name_needs_overwrite(tiny_store):
    run_stack(tiny_store, "linear")
    with pytest.raises(StoreExistsError, match="already in the store .*; pass --overwrite"):
        run_stack(tiny_store, "linear")
    res, _ = run_stack(tiny_store, "linear", overwrite=True, hpo=1)
    assert Store(tiny_store.uri).manifest("stack_linear")["params"]["params"]["hpo"] == 1


# --------------------------------------------------------------------------- CLI


def test_cli_end_to_end_prints_the_comparison_and_writes_the_json(tiny_store, tmp_path, capsys):
    out = tmp_path / "res.json"
    code = main(["lgbm", str(tiny_store.uri), "--features", "logprobs", "--threads", "1",
                 "--param", "num_boost_round=100", "--json", str(out), "--name", "lvl2"])
    assert code == 0
    text = capsys.readouterr().out
    assert "best base model" in text
    assert "plain mean of the models" in text
    assert "lvl2" in text
    d = json.loads(out.read_text())
    assert set(d) == {"stacker", "metric", "nested_score", "fold_scores", "best_base",
                      "mean_blend_score", "params", "seconds", "nested_score_is", "honest",
                      "flagged_models", "best_base_is", "mean_blend_score_is"}
    assert d["honest"] is True
    assert d["stacker"] == "lgbm"
    assert len(d["fold_scores"]) == 3
    assert d["params"]["features"] == "logprobs"
    assert d["params"]["defaults"]["num_boost_round"] == 100
    assert "lvl2" in Store(tiny_store.uri).models()


def test_cli_bad_input_prints_one_red_line_and_exits_2(tiny_store, capsys):
    code = main(["linear", str(tiny_store.uri), "--models", "m00", "ghost"])
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert "unknown model(s) 'ghost'" in err
    assert "Traceback" not in err


def test_cli_unknown_stacker_lists_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["xgb", "somewhere"])
    assert "choose from 'cnn1d', 'cnn2d', 'lgbm', 'linear', 'mlp'" in capsys.readouterr().err


# --------------------------------------------------------------------------- real data


def test_stacking_the_assembled_digits_metatask(assembled_dir, tmp_path):
    """Real OOF (5 sklearn models, 10-fold CV, 1797 rows, 10 classes): the data is easy and the
    models agree, so stacking should land within 1 point of accuracy of the best base model
    (measured: linear 0.9761, lgbm 0.9783, best base 0.9783, plain mean 0.9777). On probs:
    linear's own default, logits, scores 0.9649 here (the random forests' exact 0/1
    probabilities become extreme logits), see docs/commands/stack.md."""
    from oof_store.assembled import import_metatask

    store = import_metatask(assembled_dir / "metatask_-2.csv", assembled_dir / "metatask_-2.json",
                            tmp_path / "digits")
    res, name = run_stack(store, "linear", metric="accuracy", features="probs")
    oof = store.load_oof(output="probs")
    acc = [float((oof.preds[i, 0].argmax(1) == oof.y).mean()) for i in range(len(oof.models))]
    assert res.best_base == {"model": oof.models[int(np.argmax(acc))], "score": pytest.approx(max(acc))}
    assert res.nested_score > res.best_base["score"] - 0.01
    assert res.nested_score > 0.96
    assert len(res.fold_scores) == 10
    assert Store(store.uri).manifest(name)["parents"] == ["GB_10", "GB_100", "RF_10", "RF_100", "RF_200"]


def test_stack_recipe_applies_to_a_submission_of_the_stacker(tiny_store, tmp_path, capsys):
    import pandas as pd

    from blend.cli import main as blend_main

    recipe = tmp_path / "stack.json"
    assert main(["linear", str(tiny_store.uri), "--recipe", str(recipe), "--json", str(tmp_path / "r.json")]) == 0
    facts = json.loads((tmp_path / "r.json").read_text())
    saved = json.loads(recipe.read_text())
    assert saved["models"] == ["stack_linear"]
    assert saved["nested_score"] == pytest.approx(facts["nested_score"])
    out = tmp_path / "sub.csv"
    assert blend_main(["apply", str(recipe), "--store", str(tiny_store.uri), "--out", str(out), "--probs"]) == 0
    sub = pd.read_csv(out)
    test = Store(tiny_store.uri).load_test(["stack_linear"], folds="mean").preds[0, 0]
    np.testing.assert_allclose(sub[Store(tiny_store.uri).class_names].to_numpy(), test, atol=1e-5)
    assert main(["linear", str(tiny_store.uri), "--recipe", str(recipe), "--no-write"]) == 2
    assert "--recipe needs the stacker written back" in capsys.readouterr().err

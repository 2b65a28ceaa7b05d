"""`blend apply --sample-submission`: Kaggle files out, checked column by column.

A binary task chosen by AUC gets probabilities, a multiclass task chosen by accuracy gets
labels, rows follow the sample's id order, and a sample whose ids differ from the store's
test ids is refused with the ids named.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from blend.cli import main
from blend.recipe import Recipe
from oof_store import synthetic


@pytest.fixture(scope="module")
def binary_store(tmp_path_factory):
    return synthetic.make_store(tmp_path_factory.mktemp("b") / "s", task="binary", n_models=3,
                                n_rows=300, n_folds=3, n_test=40, accuracy=(0.7, 0.85), seed=5)


@pytest.fixture(scope="module")
def multi_store(tmp_path_factory):
    return synthetic.make_store(tmp_path_factory.mktemp("m") / "s", n_models=3, n_rows=300,
                                n_classes=4, n_folds=3, n_test=40, accuracy=(0.7, 0.85), seed=6)


def _sample(store, path, columns, seed=0):
    """A sample submission with the store's test ids shuffled and placeholder values."""
    ids = np.random.default_rng(seed).permutation(np.asarray(store.test_ids))
    df = pd.DataFrame({"id": ids, **{c: 0 for c in columns}})
    df.to_csv(path, index=False)
    return df


def _recipe(store, path, metric):
    Recipe.for_store(store, ("m00", "m01", "m02"), rule="prob", metric=metric).save(path)
    return Recipe.load(path)


def _apply(store, recipe, out, *extra):
    return main(["apply", str(recipe), "--store", str(store.uri), "--out", str(out), *extra])


def test_binary_auc_writes_probabilities_in_the_sample_id_order(binary_store, tmp_path):
    s = binary_store
    rec = _recipe(s, tmp_path / "r.json", "auc")
    sample = _sample(s, tmp_path / "sample.csv", ["target"])
    out = tmp_path / "sub.csv"
    assert _apply(s, tmp_path / "r.json", out, "--sample-submission", str(tmp_path / "sample.csv")) == 0
    sub = pd.read_csv(out, dtype={"id": str})
    assert list(sub.columns) == ["id", "target"]
    assert sub["id"].tolist() == sample["id"].tolist()  # the sample's order, not the store's
    assert sub["id"].tolist() != list(s.test_ids)
    rows = pd.Index(s.test_ids).get_indexer(sample["id"])
    expected = rec.predict_test(s)[rows, 1]  # the positive class's probability
    np.testing.assert_allclose(sub["target"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert not np.isin(sub["target"], [0, 1]).all()  # probabilities, not labels
    # without a sample: the same one-column probability layout, in the store's order
    assert _apply(s, tmp_path / "r.json", tmp_path / "plain.csv") == 0
    plain = pd.read_csv(tmp_path / "plain.csv", dtype={"id": str})
    assert list(plain.columns) == [s.id_col, s.target_cols[0]]
    np.testing.assert_allclose(plain[s.target_cols[0]], rec.predict_test(s)[:, 1], atol=1e-12)


def test_binary_labels_when_asked_or_when_the_metric_scores_labels(binary_store, tmp_path):
    s = binary_store
    sample = _sample(s, tmp_path / "sample.csv", ["target"], seed=1)
    rows = pd.Index(s.test_ids).get_indexer(sample["id"])
    for metric, flags in (("auc", ["--labels"]), ("accuracy", [])):
        rec = _recipe(s, tmp_path / f"{metric}.json", metric)
        out = tmp_path / f"{metric}.csv"
        assert _apply(s, tmp_path / f"{metric}.json", out, "--sample-submission",
                      str(tmp_path / "sample.csv"), *flags) == 0
        sub = pd.read_csv(out, dtype=str)
        labels = np.asarray(s.class_names)[rec.predict_test(s).argmax(1)][rows]
        assert sub["target"].tolist() == labels.tolist()


def test_multiclass_accuracy_writes_labels_in_the_sample_id_order(multi_store, tmp_path):
    s = multi_store
    rec = _recipe(s, tmp_path / "r.json", "accuracy")
    sample = _sample(s, tmp_path / "sample.csv", ["label"], seed=2)
    out = tmp_path / "sub.csv"
    assert _apply(s, tmp_path / "r.json", out, "--sample-submission", str(tmp_path / "sample.csv")) == 0
    sub = pd.read_csv(out, dtype=str)
    assert list(sub.columns) == ["id", "label"]
    assert sub["id"].tolist() == sample["id"].tolist()
    rows = pd.Index(s.test_ids).get_indexer(sample["id"])
    assert sub["label"].tolist() == np.asarray(s.class_names)[rec.predict_test(s).argmax(1)][rows].tolist()
    assert set(sub["label"]) <= set(s.class_names)


def test_multiclass_logloss_fills_one_column_per_class_in_the_samples_column_order(multi_store, tmp_path):
    s = multi_store
    rec = _recipe(s, tmp_path / "r.json", "logloss")
    cols = list(reversed(s.class_names))  # the sample's column order, not the store's
    sample = _sample(s, tmp_path / "sample.csv", cols, seed=3)
    out = tmp_path / "sub.csv"
    assert _apply(s, tmp_path / "r.json", out, "--sample-submission", str(tmp_path / "sample.csv")) == 0
    sub = pd.read_csv(out, dtype={"id": str})
    assert list(sub.columns) == ["id", *cols]
    rows = pd.Index(s.test_ids).get_indexer(sample["id"])
    P = rec.predict_test(s)[rows]
    for c in cols:
        np.testing.assert_allclose(sub[c], P[:, s.class_names.index(c)], atol=1e-12)


def test_multiclass_probabilities_do_not_fit_one_column(multi_store, tmp_path, capsys):
    s = multi_store
    _recipe(s, tmp_path / "r.json", "logloss")
    _sample(s, tmp_path / "sample.csv", ["label"])
    out = tmp_path / "sub.csv"
    assert _apply(s, tmp_path / "r.json", out, "--sample-submission", str(tmp_path / "sample.csv")) == 2
    assert "pass --labels" in capsys.readouterr().err
    assert not out.exists()
    assert _apply(s, tmp_path / "r.json", out, "--sample-submission", str(tmp_path / "sample.csv"),
                  "--labels") == 0


@pytest.mark.parametrize(("change", "message"), [
    (lambda df: df.iloc[1:], r"1 store test id\(s\) missing from the sample \(first: '"),
    (lambda df: pd.concat([df, pd.DataFrame({"id": ["zz9"], "target": [0]})]),
     r"1 sample id\(s\) the store has no test predictions for \(first: 'zz9'\)"),
    (lambda df: pd.concat([df, df.iloc[:1]]), r"repeats 1 id\(s\) in column 'id'"),
    (lambda df: df.assign(other=1), r"neither one target column nor one column per class"),
])
def test_a_sample_that_does_not_match_the_store_is_refused(binary_store, tmp_path, capsys,
                                                          change, message):
    s = binary_store
    _recipe(s, tmp_path / "r.json", "auc")
    sample = _sample(s, tmp_path / "sample.csv", ["target"])
    change(sample).to_csv(tmp_path / "sample.csv", index=False)
    assert _apply(s, tmp_path / "r.json", tmp_path / "sub.csv", "--sample-submission",
                  str(tmp_path / "sample.csv")) == 2
    err = capsys.readouterr().err
    assert re.search(message, " ".join(err.split())), err
    assert not (tmp_path / "sub.csv").exists()


def test_apply_without_an_output_is_an_error(binary_store, tmp_path, capsys):
    _recipe(binary_store, tmp_path / "r.json", "auc")
    assert main(["apply", str(tmp_path / "r.json"), "--store", str(binary_store.uri)]) == 2
    assert "writes nothing without an output: pass --out" in capsys.readouterr().err
    assert main(["apply", str(tmp_path / "r.json"), "--store", str(binary_store.uri),
                 "--write-model", "b", "--sample-submission", "x.csv"]) == 2
    assert "--sample-submission shapes the --out file" in capsys.readouterr().err

"""End to end on folders shaped like the ones users have (issue 21, and 23 items 4-5).

Two folders, built here small:

- ``idless``: ``train.csv`` and ``test.csv`` without ids, ``oofs/<MODEL>_oof.csv`` (one
  column headed by the model name, training row order) and ``oofs/<MODEL>.csv`` (test row
  order); the folds were ``StratifiedKFold(5, shuffle=True, random_state=42)`` and never
  saved.
- ``onehot``: ``train.csv`` with string labels CE/LAA and a patient column, ``folds.csv``
  one-hot ``fold1..fold5`` plus an all-zero ``fold6``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

from oof_store import Store, StoreError
from oof_store.cli import main as oof
from oof_store.folds import make_folds
from oof_store.importing import import_files, import_predictions

N, NT, MODELS = 300, 120, ["effnet_b0", "resnet50", "lgbm_v2", "xgb_depth6"]


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


@pytest.fixture
def idless(tmp_path):
    rng = np.random.default_rng(7)
    y = (rng.random(N) < 0.3).astype(int)
    pd.DataFrame({"x1": rng.normal(size=N), "x2": rng.normal(size=N), "target": y}).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame({"x1": rng.normal(size=NT), "x2": rng.normal(size=NT)}).to_csv(
        tmp_path / "test.csv", index=False
    )
    (tmp_path / "oofs").mkdir()
    shared, shared_t = rng.normal(size=N), rng.normal(size=NT)
    for m in MODELS:
        p = _sigmoid(2.0 * (y - 0.5) * 2 + shared + rng.normal(size=N))
        pd.DataFrame({m: p}).to_csv(tmp_path / "oofs" / f"{m}_oof.csv", index=False)
        pd.DataFrame({m: _sigmoid(shared_t + rng.normal(size=NT))}).to_csv(
            tmp_path / "oofs" / f"{m}.csv", index=False
        )
    return tmp_path, y


def test_idless_folder_imports_by_row_order_with_made_folds(idless, capsys):
    tmp, y = idless
    store = str(tmp / "store")
    assert oof(["init", store, "--targets", str(tmp / "train.csv"), "--target", "target",
                "--make-folds", "stratified:5:42", "--test", str(tmp / "test.csv")]) == 0
    out = capsys.readouterr().out
    assert "rows are numbered 0..299" in out
    assert "stratified:5:42" in out
    assert "positive class: '1'" in out
    s = Store(store)
    by_hand = np.full(N, -1)
    for k, (_, val) in enumerate(StratifiedKFold(5, shuffle=True, random_state=42).split(np.zeros(N), y)):
        by_hand[val] = k
    np.testing.assert_array_equal(s.folds, by_hand)

    assert oof(["import", store, "--split", "oof", "--file", str(tmp / "oofs" / "{model}_oof.csv")]) == 0
    out = capsys.readouterr().out
    assert "4 model(s) had no id column: their rows were matched by order" in out
    assert sorted(Store(store).models()) == sorted(MODELS)

    # the test template also matches every <MODEL>_oof.csv: those are left aside, and said so
    assert oof(["import", store, "--split", "test", "--file", str(tmp / "oofs" / "{model}.csv")]) == 0
    out = capsys.readouterr().out
    assert "left aside 4 file(s)" in out
    assert "effnet_b0_oof.csv" in out
    s = Store(store)
    assert sorted(s.models()) == sorted(MODELS)
    test = s.load_test(MODELS, folds="mean", output="probs")
    want = pd.read_csv(tmp / "oofs" / "resnet50.csv")["resnet50"].to_numpy()
    np.testing.assert_allclose(test.preds[MODELS.index("resnet50"), 0, :, 1], want, rtol=1e-6)
    oof_set = s.load_oof(["lgbm_v2"], output="probs")
    want = pd.read_csv(tmp / "oofs" / "lgbm_v2_oof.csv")["lgbm_v2"].to_numpy()
    np.testing.assert_allclose(oof_set.preds[0, 0, :, 1], want, rtol=1e-6)

    # the folds are exportable, and the export is what scikit-learn gave
    assert oof(["folds", store, "--to", str(tmp / "folds_out.csv")]) == 0
    np.testing.assert_array_equal(pd.read_csv(tmp / "folds_out.csv")["fold"], by_hand)
    assert oof(["validate", store]) == 0


def test_idless_file_with_wrong_row_count_is_refused(idless):
    tmp, _ = idless
    s = Store.create(tmp / "s", pd.read_csv(tmp / "train.csv"), id_col=None, fold_col=None,
                     make_folds="kfold:5:1")
    pd.read_csv(tmp / "oofs" / "lgbm_v2_oof.csv").iloc[:-1].to_csv(tmp / "short.csv", index=False)
    with pytest.raises(StoreError, match=r"299 rows and the store's training rows are 300"):
        import_predictions(s, "m", "oof", tmp / "short.csv")
    # a file with an id-like column that is not the store's is never taken by order
    df = pd.read_csv(tmp / "oofs" / "lgbm_v2_oof.csv")
    df.insert(0, "image_id", np.arange(N))
    df.to_csv(tmp / "other_id.csv", index=False)
    with pytest.raises(StoreError, match=r"look like ids: name the id column with --id image_id"):
        import_predictions(s, "m", "oof", tmp / "other_id.csv")


@pytest.mark.parametrize(
    ("spec", "splitter", "needs_groups"),
    [
        ("stratified:5:42", StratifiedKFold(5, shuffle=True, random_state=42), False),
        ("stratified:4", StratifiedKFold(4), False),
        ("kfold:5:42", KFold(5, shuffle=True, random_state=42), False),
        ("group:5", GroupKFold(5), True),
    ],
)
def test_make_folds_is_the_same_assignment_as_scikit_learn_by_hand(spec, splitter, needs_groups):
    rng = np.random.default_rng(3)
    y = rng.choice(["CE", "LAA"], size=200, p=[0.7, 0.3])
    groups = rng.integers(0, 40, size=200) if needs_groups else None
    by_hand = np.full(200, -1)
    for k, (_, val) in enumerate(splitter.split(np.zeros((200, 1)), y, groups)):
        by_hand[val] = k
    np.testing.assert_array_equal(make_folds(spec, y, groups), by_hand)


@pytest.fixture
def onehot(tmp_path):
    rng = np.random.default_rng(11)
    n = 250
    ids = [f"P{i:04d}" for i in range(n)]
    patient = [f"pat{i // 2}" for i in range(n)]  # two images per patient
    y = np.where(rng.random(n) < 0.4, "LAA", "CE")
    fold = rng.integers(0, 5, size=n)  # not grouped: some patients span two folds
    pd.DataFrame({"image_id": ids, "label": y, "patient": patient}).to_csv(tmp_path / "train.csv", index=False)
    hot = pd.DataFrame({"image_id": ids})
    for k in range(6):
        hot[f"fold{k + 1}"] = (fold == k).astype(int)  # fold6 never occurs: all zero
    hot.to_csv(tmp_path / "folds.csv", index=False)
    return tmp_path, y, fold, patient


def test_one_hot_folds_file_with_string_labels_and_positive_class(onehot, capsys):
    tmp, y, fold, patient = onehot
    store = str(tmp / "store")
    # one column of the one-hot group alone is refused with the reason (it made a 2-fold store)
    pd.read_csv(tmp / "train.csv").merge(pd.read_csv(tmp / "folds.csv")).to_csv(tmp / "merged.csv", index=False)
    assert oof(["init", store, "--targets", str(tmp / "merged.csv"), "--id", "image_id",
                "--target", "label", "--fold", "fold1"]) == 2
    err = capsys.readouterr().err
    assert "one-hot fold group" in err
    assert "--fold fold1,fold2,fold3,fold4,fold5,fold6" in err

    assert oof(["init", store, "--targets", str(tmp / "train.csv"), "--id", "image_id",
                "--target", "label", "--folds", str(tmp / "folds.csv"), "--group", "patient",
                "--positive", "LAA"]) == 0
    out = capsys.readouterr().out
    assert "['fold6'] hold no row (all zero): left out, 5 folds remain" in out
    assert "positive class: 'LAA' (--positive)" in out
    assert "group(s) have rows in more than one fold" in out
    s = Store(store)
    assert s.class_names == ["CE", "LAA"]
    assert s.n_folds == 5
    np.testing.assert_array_equal(s.folds, fold + 1)  # fold1..fold5 -> 1..5
    np.testing.assert_array_equal(s.y, (y == "LAA").astype(int))

    assert oof(["validate", store]) == 0
    out = capsys.readouterr().out
    spans = pd.DataFrame({"p": patient, "f": fold}).groupby("p")["f"].nunique()
    assert f"{int((spans > 1).sum())} group(s) have rows in more than one fold" in out


def test_positive_class_reorders_binary_classes(onehot):
    tmp, y, fold, _ = onehot
    df = pd.read_csv(tmp / "train.csv").merge(pd.read_csv(tmp / "folds.csv"))
    cols = [f"fold{k}" for k in range(1, 7)]
    s = Store.create(tmp / "s", df, id_col="image_id", target_cols="label", fold_col=cols, positive="CE")
    assert s.class_names == ["LAA", "CE"]
    np.testing.assert_array_equal(s.y, (y == "CE").astype(int))
    with pytest.raises(StoreError, match=r"--positive 'X' is not one of the classes"):
        Store.create(tmp / "s2", df, id_col="image_id", target_cols="label", fold_col=cols, positive="X")


@pytest.mark.parametrize(
    ("make", "kwargs", "message"),
    [
        (lambda df: df.assign(fold=0), {"fold_col": "fold"}, r"1 distinct fold; K-fold OOF needs at least 2"),
        (lambda df: df.assign(fold=(df["label"] == "LAA").astype(int) + 2), {"fold_col": "fold"},
         r"fold 2 holds one class only \('CE'"),
        (lambda df: df.assign(fold=(np.arange(len(df)) % 5 == 0).astype(int)), {"fold_col": "fold"},
         r"one-hot column .* rather than a 2-fold split"),
        (lambda df: df.assign(fold1=1, fold2=1), {"fold_col": ["fold1", "fold2"]},
         r"row\(s\) are in several folds"),
        (lambda df: df.assign(fold=1), {"fold_col": "fold", "make_folds": "kfold:5:1"},
         r"give the folds one way"),
        (lambda df: df, {"fold_col": None, "make_folds": "stratified:1"}, r"needs K >= 2"),
        (lambda df: df, {"fold_col": None, "make_folds": "shuffle:5"}, r"expected NAME:K\[:SEED\]"),
        (lambda df: df, {"fold_col": None, "make_folds": "group:5"}, r"needs groups: pass --group"),
    ],
    ids=["one-fold", "one-class-fold", "looks-one-hot", "two-ones", "both", "k1", "unknown", "no-groups"],
)
def test_what_cannot_be_a_fold_assignment_is_refused_with_the_reason(onehot, make, kwargs, message):
    tmp, *_ = onehot
    df = make(pd.read_csv(tmp / "train.csv"))
    with pytest.raises(StoreError, match=message):
        Store.create(tmp / "bad", df, id_col="image_id", target_cols="label", **kwargs)
    assert not (tmp / "bad" / "store.json").exists()


def _abc_store(tmp_path, ids):
    n = len(ids)
    df = pd.DataFrame({"id": ids, "target": np.arange(n) % 3, "fold": np.arange(n) % 5})
    return Store.create(tmp_path / "abc", df, id_col="id", target_cols="target", fold_col="fold")


def test_columns_named_like_classes_are_matched_by_name_never_by_position(tmp_path):
    s = _abc_store(tmp_path, [f"r{i}" for i in range(30)])
    rng = np.random.default_rng(0)
    p = rng.dirichlet([1, 1, 1], size=30)
    # columns in another order than the classes: matched by name
    pd.DataFrame({"id": s.ids, "2": p[:, 2], "0": p[:, 0], "1": p[:, 1]}).to_csv(tmp_path / "a.csv", index=False)
    import_predictions(s, "a", "oof", tmp_path / "a.csv")
    np.testing.assert_allclose(s.load_oof(["a"], output="probs").preds[0, 0], p, rtol=1e-6)
    # 'id,1,0,p2': two columns named like classes, the third not: refused, never by position
    pd.DataFrame({"id": s.ids, "1": p[:, 1], "0": p[:, 0], "p2": p[:, 2]}).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(StoreError, match=r"named like the store's classes .* class\(es\) \['2'\] have no column"):
        import_predictions(s, "b", "oof", tmp_path / "b.csv")
    # a repeated class column is refused (pandas would read the second '1' as '1.1')
    (tmp_path / "c.csv").write_text("id,0,1,1\n" + "".join(f"{i},0.2,0.3,0.5\n" for i in s.ids))
    with pytest.raises(StoreError, match=r"the header repeats column\(s\) \['1'\]"):
        import_predictions(s, "c", "oof", tmp_path / "c.csv")


def test_zero_padded_ids_stay_text_and_match_numbers_only_when_all_agree(tmp_path, capsys):
    ids = [f"{i:05d}" for i in range(495, 525)]
    train = pd.DataFrame({"id": ids, "label": np.arange(30) % 2, "fold": np.arange(30) % 3})
    train.to_csv(tmp_path / "train.csv", index=False)
    test_ids = [f"{i:05d}" for i in range(600, 610)]
    pd.DataFrame({"id": test_ids}).to_csv(tmp_path / "test.csv", index=False)
    store = str(tmp_path / "store")
    assert oof(["init", store, "--targets", str(tmp_path / "train.csv"), "--target", "label",
                "--fold", "fold", "--test", str(tmp_path / "test.csv")]) == 0
    s = Store(store)
    assert list(s.ids[:2]) == ["00495", "00496"]
    assert s.test_ids[0] == "00600"
    # a file with the same spelling matches as text
    pd.DataFrame({"id": ids, "1": np.linspace(0.1, 0.9, 30)}).to_csv(tmp_path / "p.csv", index=False)
    res = import_files(s, "oof", str(tmp_path / "p.csv"), model="text")
    assert res.notes() == []
    # a file whose writer dropped the zeros matches by number (every id on both sides is a number)
    pd.DataFrame({"id": [int(i) for i in ids], "1": np.linspace(0.1, 0.9, 30)}).to_parquet(tmp_path / "p.parquet")
    res = import_files(s, "oof", str(tmp_path / "p.parquet"), model="num")
    assert any("matched the store's ids as numbers" in n and "'495' = '00495'" in n for n in res.notes())
    np.testing.assert_allclose(
        s.load_oof(["num"], output="probs").preds[0, 0, :, 1],
        s.load_oof(["text"], output="probs").preds[0, 0, :, 1],
    )


def test_zero_padded_ids_are_not_matched_as_numbers_when_the_store_has_text_ids(tmp_path):
    s = _abc_store(tmp_path, [f"{i:03d}" for i in range(29)] + ["x1"])
    df = pd.DataFrame({"id": [str(int(i)) if i != "x1" else i for i in s.ids]})
    for c in s.class_names:
        df[c] = 1 / 3
    df.to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(StoreError, match=r"are not in the store's targets"):
        import_predictions(s, "m", "oof", tmp_path / "p.csv")

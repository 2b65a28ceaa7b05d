"""Importing predictions: column choice, fold checks, kinds, perfect scores, templates, messages.

Each error is pinned by its message; each refusal is shown to leave the store byte for byte
as it was.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from oof_store import FoldMismatchError, Store, StoreError, StoreExistsError
from oof_store.cli import main as oof
from oof_store.importing import expand_template, import_files, import_predictions


def _snapshot(root) -> dict[str, bytes]:
    """Every file's bytes, except the writers' lock files (they hold no data)."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if f.startswith(".lock-"):
                continue
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def _make(tmp_path, task="multiclass", n=200, n_classes=3, n_folds=4, n_test=30, seed=0, name="s"):
    rng = np.random.default_rng(seed)
    ids = np.array([f"r{i:04d}" for i in range(n)])
    folds = np.arange(n) % n_folds
    rng.shuffle(folds)
    targets = pd.DataFrame({"id": ids, "fold": folds})
    if task == "regression":
        targets["target"] = rng.normal(10.0, 3.0, n)
    else:
        k = 2 if task == "binary" else n_classes
        targets["target"] = np.array([f"c{j}" for j in range(k)])[rng.integers(0, k, n)]
    test_ids = [f"t{i:04d}" for i in range(n_test)]
    return Store.create(tmp_path / name, targets, task=task, test_ids=test_ids)


def _probs(store: Store, n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(store.n_classes), n)


def _oof_frame(store: Store, seed: int = 1, shuffle: bool = True) -> pd.DataFrame:
    df = pd.DataFrame(_probs(store, len(store.ids), seed), columns=store.class_names)
    df.insert(0, "id", store.ids)
    return df.sample(frac=1.0, random_state=seed) if shuffle else df


# ------------------------------------------------------------------ linear import, correctness
@given(st.integers(0, 10_000))
def test_import_puts_every_value_at_its_row(seed):
    """Shuffled file rows land on their own ids, whatever the order (scatter, not sort)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        store = _make(Path(d), n=60, seed=seed % 7)
        df = _oof_frame(store, seed=seed)
        import_predictions(store, "m", "oof", df)
        got = store.load_oof(["m"]).preds[0, 0]
        want = df.set_index("id").loc[store.ids, store.class_names].to_numpy(np.float32)
        np.testing.assert_array_equal(got, want)


def test_whole_file_import_of_many_rows_is_fast(tmp_path):
    """200k rows: the old object-array setdiff took minutes here; linear takes seconds."""
    import time

    n = 200_000
    ids = np.array([f"row{i:07d}" for i in range(n)])
    targets = pd.DataFrame({"id": ids, "target": np.arange(n) % 3, "fold": np.arange(n) % 5})
    store = Store.create(tmp_path / "big", targets)
    df = pd.DataFrame(_probs(store, n), columns=store.class_names)
    df.insert(0, "id", ids)
    df = df.iloc[::-1]
    t = time.perf_counter()
    import_predictions(store, "m", "oof", df)
    took = time.perf_counter() - t
    load = os.getloadavg()[0]
    # generous: about 1 s on an idle 2-core machine; scaled by the load of the shared machine
    assert took < 30 * max(1.0, load / 2), f"{took:.1f} s at load {load:.1f}"


# ------------------------------------------------------------------ kinds (issue 12 item 4)
def test_per_fold_imports_with_another_kind_are_refused_before_writing(tmp_path):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    f0 = df[store.folds == 0]
    import_predictions(store, "m", "oof", f0, fold=0, kind="probs")
    before = _snapshot(store.uri)
    logits = df[store.folds == 1].copy()
    logits[store.class_names] = np.log(logits[store.class_names])
    with pytest.raises(
        StoreError,
        match=r"model 'm': its OOF fold\(s\) \[0\] were imported as --kind probs, but this "
        r"import says --kind logits",
    ):
        import_predictions(store, "m", "oof", logits, fold=1, kind="logits")
    assert _snapshot(store.uri) == before


def test_last_fold_of_another_kind_leaves_nothing_on_disk(tmp_path):
    """The old importer wrote the last fold's block, then failed in finish_model."""
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    logits = df.copy()
    logits[store.class_names] = np.log(logits[store.class_names])
    for f in store.fold_ids[:-1]:
        import_predictions(store, "m", "oof", logits[store.folds == f], fold=f, kind="logits")
    before = _snapshot(store.uri)
    last = store.fold_ids[-1]
    with pytest.raises(StoreError, match=r"were imported as --kind logits, but this import says --kind probs"):
        import_predictions(store, "m", "oof", df[store.folds == last], fold=last, kind="probs")
    assert _snapshot(store.uri) == before
    assert not store.has_block("oof", "m", last, 0)
    import_predictions(store, "m", "oof", logits[store.folds == last], fold=last, kind="logits")
    assert store.manifest("m")["kind"] == "logits"


def test_test_predictions_of_another_kind_than_the_finished_model_are_refused(tmp_path):
    store = _make(tmp_path)
    import_predictions(store, "m", "oof", _oof_frame(store), kind="probs")
    sub = pd.DataFrame(np.zeros((30, 3)), columns=store.class_names)
    sub.insert(0, "id", store.test_ids)
    before = _snapshot(store.uri)
    with pytest.raises(StoreError, match=r"model 'm'.*imported as --kind probs.*says --kind logits"):
        import_predictions(store, "m", "test", sub, kind="logits")
    assert _snapshot(store.uri) == before


def test_a_block_the_store_refuses_at_write_time_is_taken_back(tmp_path, monkeypatch):
    """Defence in depth: if the store refuses a block after others were written, they go."""
    store = _make(tmp_path)
    before = _snapshot(store.uri)
    from oof_store._writing import Transaction

    real = Transaction.write_block
    calls = []

    def refuse_third(self, split, fold, *a, **k):
        calls.append(fold)
        if len(calls) == 3:
            raise StoreError("refused for the test")
        return real(self, split, fold, *a, **k)

    monkeypatch.setattr(Transaction, "write_block", refuse_third)
    with pytest.raises(StoreError, match="refused for the test"):
        import_predictions(store, "m", "oof", _oof_frame(store))
    assert _snapshot(store.uri) == before


# ------------------------------------------------------------------ columns (issue 12 item 5, 13)
def test_extra_class_named_column_is_refused(tmp_path):
    targets = pd.DataFrame({"id": [f"r{i}" for i in range(80)], "target": np.arange(80) % 4,
                            "fold": np.arange(80) % 2})
    store = Store.create(tmp_path / "s4", targets)
    assert store.class_names == ["0", "1", "2", "3"]
    logits = pd.DataFrame(np.random.default_rng(0).normal(size=(80, 5)), columns=list("01234"))
    logits.insert(0, "id", store.ids)
    before = _snapshot(store.uri)
    with pytest.raises(StoreError, match=r"numeric column\(s\) \['4'\] besides the store's 4 class"):
        import_predictions(store, "m", "oof", logits, kind="logits")
    assert _snapshot(store.uri) == before
    # naming the columns explicitly is the way out
    import_predictions(store, "m", "oof", logits, kind="logits", columns=list("0123"))


def test_kaggle_submission_id_target_imports_without_columns(tmp_path):
    store = _make(tmp_path, task="binary")
    sub = pd.DataFrame({"id": store.test_ids, "target": np.linspace(0.1, 0.9, 30)})
    res = import_predictions(store, "m", "test", sub)
    assert res.blocks == [(-1, 0)]
    oof = pd.DataFrame({"id": store.ids, "pred": np.full(len(store.ids), 0.4)})
    import_predictions(store, "m", "oof", oof)
    got = store.load_test(["m"], output="probs").preds[0, 0]
    np.testing.assert_allclose(got[:, 1], sub["target"], rtol=1e-6)


def test_kaggle_submission_with_class_names_imports_without_columns(tmp_path):
    store = _make(tmp_path)
    sub = pd.DataFrame(_probs(store, 30), columns=store.class_names)
    sub.insert(0, "id", store.test_ids)
    import_predictions(store, "m", "test", sub)


def test_unclear_columns_error_lists_what_it_saw(tmp_path):
    store = _make(tmp_path)
    sub = pd.DataFrame({"id": store.test_ids, "score": np.ones(30)})
    with pytest.raises(
        StoreError,
        match=r"Its columns: \['id', 'score'\]; set aside: 'id' \(the id column\); numeric "
        r"columns left: \['score'\], but the store needs 3",
    ):
        import_predictions(store, "m", "test", sub)


# ------------------------------------------------------------------ targets as predictions (issue 10 item 5)
def test_regression_target_column_is_never_taken_as_the_prediction(tmp_path):
    store = _make(tmp_path, task="regression")
    assert store.class_names == ["target"]
    y = store.targets["target"].to_numpy()
    pred = y + np.random.default_rng(0).normal(0, 1.0, len(y))
    df = pd.DataFrame({"id": store.ids, "target": y, "pred": pred})
    import_predictions(store, "m", "oof", df)
    np.testing.assert_allclose(store.load_oof(["m"]).preds[0, 0, :, 0], pred, rtol=1e-6)


def test_regression_file_with_only_the_target_is_refused(tmp_path):
    store = _make(tmp_path, task="regression")
    df = pd.DataFrame({"id": store.ids, "target": store.targets["target"]})
    with pytest.raises(
        StoreError,
        match=r"set aside: 'id' \(the id column\), 'target' \(the store's target column: OOF "
        r"predictions are never read from it\).*if 'target' holds predictions, not the "
        r"targets, pass --columns target",
    ):
        import_predictions(store, "m", "oof", df)


@pytest.mark.parametrize("task", ["regression", "multiclass", "binary"])
def test_implausibly_perfect_oof_is_refused_unless_allowed(tmp_path, task):
    store = _make(tmp_path, task=task)
    before = _snapshot(store.uri)
    if task == "regression":
        df = pd.DataFrame({"id": store.ids, "pred": store.targets["target"]})
        message = r"implausibly perfect \(RMSE 0 over 200 rows"
    else:
        onehot = np.eye(store.n_classes)[store.y]
        df = pd.DataFrame(onehot, columns=store.class_names)
        df.insert(0, "id", store.ids)
        message = r"implausibly perfect \(accuracy 1.0 and log loss 0 over 200 rows\).*--allow-perfect"
    with pytest.raises(StoreError, match=message):
        import_predictions(store, "leak", "oof", df)
    assert _snapshot(store.uri) == before
    import_predictions(store, "leak", "oof", df, allow_perfect=True)
    assert "leak" in store.models()


def test_good_but_imperfect_models_pass_the_perfect_check(tmp_path):
    store = _make(tmp_path)
    p = np.eye(3)[store.y] * 0.9 + 0.1 / 3  # accuracy 1.0 but log loss 0.07
    df = pd.DataFrame(p, columns=store.class_names)
    df.insert(0, "id", store.ids)
    import_predictions(store, "good", "oof", df)


# ------------------------------------------------------------------ fold columns (issue 10 item 6)
@pytest.mark.parametrize("col", ["fold", "kfold", "Fold", "fold_id"])
def test_a_fold_column_is_checked_without_fold_option(tmp_path, col):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    theirs = store.folds.copy()
    theirs[[3, 7]] = (theirs[[3, 7]] + 1) % 4
    df[col] = theirs
    before = _snapshot(store.uri)
    with pytest.raises(
        FoldMismatchError,
        match=rf"column '{col}' gives 2 rows another fold than the store's: 'r0003' \(file "
        rf"{theirs[3]}, store {store.folds[3]}\), 'r0007'",
    ):
        import_predictions(store, "m", "oof", df)
    assert _snapshot(store.uri) == before


def test_a_fold_column_is_checked_with_a_fold_number_too(tmp_path):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    part = df[store.folds == 2].copy()
    part["fold"] = 2
    part.iloc[0, part.columns.get_loc("fold")] = 1
    first = part["id"].iloc[0]
    with pytest.raises(FoldMismatchError, match=rf"column 'fold' gives 1 row another fold.*'{first}' \(file 1, store 2\)"):
        import_predictions(store, "m", "oof", part, fold=2)


def test_a_fold_like_column_is_never_a_prediction(tmp_path):
    """Binary store, file id + kfold + p: two numeric columns, but kfold is not a class."""
    store = _make(tmp_path, task="binary")
    p = np.random.default_rng(0).uniform(0.05, 0.95, len(store.ids))
    df = pd.DataFrame({"id": store.ids, "kfold": store.folds, "p": p})
    import_predictions(store, "m", "oof", df)
    np.testing.assert_allclose(store.load_oof(["m"]).preds[0, 0, :, 1], p, rtol=1e-6)


def test_agreeing_fold_column_imports(tmp_path):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    df["fold"] = store.folds
    import_predictions(store, "m", "oof", df.sample(frac=1.0, random_state=3))
    assert store.models() == ["m"]


# ------------------------------------------------------------------ clear messages (issue 13)
def test_logits_as_probs_say_negative_values(tmp_path):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    df[store.class_names] = np.log(df[store.class_names])
    with pytest.raises(StoreError, match=r"--kind probs, but \d+ negative values \(e.g. id 'r0000'.*look like logits"):
        import_predictions(store, "m", "oof", df)


def test_scores_above_one_as_probs_say_values_above_1(tmp_path):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    df[store.class_names] = df[store.class_names] * 3.0
    with pytest.raises(StoreError, match=r"--kind probs, but \d+ values above 1"):
        import_predictions(store, "m", "oof", df)


def test_rows_not_summing_to_one_are_named(tmp_path):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    df.loc[5, store.class_names] = [0.2, 0.2, 0.2]
    with pytest.raises(StoreError, match=r"1 row that do not sum to 1 \(e.g. id 'r0005' sums to 0.6000\)"):
        import_predictions(store, "m", "oof", df)


def test_one_nan_in_a_binary_column_is_counted_once(tmp_path):
    store = _make(tmp_path, task="binary")
    p = np.full(len(store.ids), 0.3)
    p[4] = np.nan
    df = pd.DataFrame({"id": store.ids, "p": p})
    with pytest.raises(
        StoreError,
        match=rf"model 'm', split oof, fold {store.folds[4]}: 1 NaN value in 1 row \(first: id "
        r"'r0004', column 'p'",
    ):
        import_predictions(store, "m", "oof", df)


def test_messages_show_ids_as_plain_strings(tmp_path):
    store = _make(tmp_path)
    import_predictions(store, "m", "oof", _oof_frame(store))
    sub = pd.DataFrame(_probs(store, 30), columns=store.class_names)
    sub.insert(0, "id", store.test_ids)
    sub.loc[2, store.class_names] = [0.5, 0.5, 0.5]
    with pytest.raises(StoreError, match=r"e.g. id 't0002' sums to 1.5000") as err:
        import_predictions(store, "m", "test", sub)
    assert "np.str_" not in str(err.value)
    dup = pd.concat([sub.iloc[:3], sub])
    with pytest.raises(StoreError, match=r"3 id\(s\) appear more than once for model 'm': 't0000'") as err:
        import_predictions(store, "m", "test", dup)
    assert "np.str_" not in str(err.value)


# ------------------------------------------------------------------ templates (issue 13)
def test_expand_template_reads_placeholders(tmp_path):
    for name in ["vit_f0_hflip.csv", "vit_f1_hflip.csv", "b4_f0_none.csv", "notes.txt"]:
        (tmp_path / name).write_text("id\n")
    specs = expand_template(str(tmp_path / "{model}_f{fold}_{tta}.csv"))
    assert [(s.model, s.fold, s.tta) for s in specs] == [
        ("b4", 0, "none"), ("vit", 0, "hflip"), ("vit", 1, "hflip"),
    ]
    with pytest.raises(StoreError, match=r"unknown placeholder\(s\) \['\{name\}'\]"):
        expand_template(str(tmp_path / "{name}.csv"))
    with pytest.raises(StoreError, match="no file matches"):
        expand_template(str(tmp_path / "oof_{model}.csv"))
    with pytest.raises(StoreError, match="do not give --model as well"):
        expand_template(str(tmp_path / "{model}_f{fold}_{tta}.csv"), model="x")


def test_progress_counts_files_then_models(tmp_path):
    store = _make(tmp_path)
    for k, m in enumerate(["a", "b"]):
        _oof_frame(store, seed=k).to_csv(tmp_path / f"oof_{m}.csv", index=False)
    seen = []
    results = import_files(store, "oof", str(tmp_path / "oof_{model}.csv"),
                           progress=lambda *a: seen.append(a))
    assert seen == [("check", 1, 2), ("check", 2, 2), ("write", 1, 2), ("write", 2, 2)]
    assert [r.model for r in results] == ["a", "b"]
    assert [r.files for r in results] == [[str(tmp_path / "oof_a.csv")], [str(tmp_path / "oof_b.csv")]]


def test_template_with_one_bad_file_writes_nothing(tmp_path):
    store = _make(tmp_path)
    preds = tmp_path / "preds"
    preds.mkdir()
    for k, m in enumerate(["a", "b", "c"]):
        df = _oof_frame(store, seed=k)
        if m == "c":
            df.iloc[10, 1] = np.nan
        df.to_csv(preds / f"oof_{m}.csv", index=False)
    before = _snapshot(store.uri)
    with pytest.raises(StoreError, match=r"oof_c.csv: model 'c', split oof, fold \d: 1 NaN value"):
        import_files(store, "oof", str(preds / "oof_{model}.csv"))
    assert _snapshot(store.uri) == before


def test_template_per_fold_and_per_view(tmp_path):
    store = _make(tmp_path)
    df = _oof_frame(store, shuffle=False)
    for view, seed in (("none", 1), ("hflip", 2)):
        dv = _oof_frame(store, seed=seed, shuffle=False)
        for f in store.fold_ids:
            dv[store.folds == f].to_parquet(tmp_path / f"vit_{view}_fold{f}.parquet")
    results = import_files(store, "oof", str(tmp_path / "vit_{tta}_fold{fold}.parquet"), model="vit")
    assert results[0].complete
    man = store.manifest("vit")
    assert man["tta_views"] == ["none", "hflip"]
    got = store.load_oof(["vit"]).preds[0]
    np.testing.assert_allclose(got[0], df[store.class_names].to_numpy(np.float32))
    # a second run refuses, and names the block
    with pytest.raises(StoreExistsError, match=r"model 'vit', split oof, fold 0, TTA view 'none' is already"):
        import_files(store, "oof", str(tmp_path / "vit_{tta}_fold{fold}.parquet"), model="vit")


def test_template_two_files_for_one_block_are_refused(tmp_path):
    store = _make(tmp_path)
    _oof_frame(store).to_csv(tmp_path / "a_1.csv", index=False)
    _oof_frame(store).to_csv(tmp_path / "a_01.csv", index=False)  # view 1 as well
    with pytest.raises(StoreError, match=r"fold 0, TTA view 'view1' comes from two files: .*a_01.csv and .*a_1.csv"):
        import_files(store, "oof", str(tmp_path / "a_{tta}.csv"), model="a")


def test_kaggle_folder_end_to_end(tmp_path, capsys):
    """oof_<model>.csv and sub_<model>.csv for several models, imported by template."""
    rng = np.random.default_rng(5)
    n, classes = 150, ["cat", "dog", "fox"]
    ids = [f"img{i}" for i in range(n)]
    y = rng.integers(0, 3, n)
    pd.DataFrame({"image_id": ids, "label": np.array(classes)[y], "fold": np.arange(n) % 5}).to_csv(
        tmp_path / "train.csv", index=False
    )
    test_ids = [f"test{i}" for i in range(40)]
    pd.DataFrame({"image_id": test_ids}).to_csv(tmp_path / "sample_submission.csv", index=False)
    preds = tmp_path / "preds"
    preds.mkdir()
    want = {}
    for m, skill in (("effb4", 2.0), ("vit_base", 1.0), ("convnext.t", 0.5)):
        z = rng.normal(size=(n, 3)) + skill * np.eye(3)[y]
        p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        oof_df = pd.DataFrame(p, columns=classes)
        oof_df.insert(0, "image_id", ids)
        oof_df["label"] = np.array(classes)[y]  # Kaggle OOF files often keep the target
        oof_df["fold"] = np.arange(n) % 5
        oof_df.sample(frac=1.0, random_state=1).to_csv(preds / f"oof_{m}.csv", index=False)
        sub = pd.DataFrame(rng.dirichlet(np.ones(3), 40), columns=classes)
        sub.insert(0, "image_id", test_ids)
        sub.to_csv(preds / f"sub_{m}.csv", index=False)
        want[m] = p
    store = str(tmp_path / "store")
    assert oof(["init", store, "--targets", str(tmp_path / "train.csv"), "--id", "image_id",
                "--target", "label", "--fold", "fold", "--test", str(tmp_path / "sample_submission.csv")]) == 0
    assert oof(["import", store, "--split", "oof", "--file", str(preds / "oof_{model}.csv")]) == 0
    assert oof(["import", store, "--split", "test", "--file", str(preds / "sub_{model}.csv")]) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "\x1b[" not in out + captured.err  # piped: no bar, no colour codes
    assert "model 'effb4': wrote 5 oof block(s)" in out
    assert "model 'vit_base': wrote 1 test block(s)" in out
    assert oof(["ls", store]) == 0
    assert oof(["validate", store]) == 0
    s = Store(store)
    assert s.models() == ["convnext.t", "effb4", "vit_base"]
    for m, p in want.items():
        np.testing.assert_allclose(s.load_oof([m]).preds[0, 0], p, rtol=1e-6)
        assert s.manifest(m)["test_folds"] == [-1]
    # an error is one red line naming the file, exit code 2
    bad = pd.read_csv(preds / "oof_effb4.csv")
    bad["fold"] = (bad["fold"] + 1) % 5
    bad.to_csv(preds / "oof_bad.csv", index=False)
    capsys.readouterr()
    assert oof(["import", store, "--split", "oof", "--file", str(preds / "oof_{model}.csv"),
                "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "oof_bad.csv: model 'bad' was validated with another fold assignment" in err
    assert "Traceback" not in err
    assert "bad" not in Store(store).models(include_incomplete=True)


def test_test_file_with_a_fold_column_gives_one_block_per_fold(tmp_path):
    store = _make(tmp_path)
    import_predictions(store, "m", "oof", _oof_frame(store))
    parts = []
    for f in store.fold_ids:
        part = pd.DataFrame(_probs(store, 30, seed=f), columns=store.class_names)
        part.insert(0, "id", store.test_ids)
        part["fold"] = f
        parts.append(part)
    res = import_predictions(store, "m", "test", pd.concat(parts))
    assert res.blocks == [(f, 0) for f in store.fold_ids]
    assert store.manifest("m")["test_folds"] == store.fold_ids
    wrong = pd.concat(parts).assign(fold=7)
    with pytest.raises(FoldMismatchError, match=r"column 'fold' holds fold\(s\) \[7\] that the store does not have"):
        import_predictions(store, "m2", "test", wrong)


def test_test_views_one_file_at_a_time(tmp_path):
    store = _make(tmp_path)
    import_predictions(store, "m", "oof", _oof_frame(store, seed=1))
    import_predictions(store, "m", "oof", _oof_frame(store, seed=2), tta="hflip")
    assert store.manifest("m")["tta_views"] == ["none", "hflip"]
    sub = pd.DataFrame(_probs(store, 30), columns=store.class_names)
    sub.insert(0, "id", store.test_ids)
    res = import_predictions(store, "m", "test", sub)
    assert res.complete
    assert res.missing == ["test fold -1 view 'hflip'"]
    assert "complete; still missing test fold -1 view 'hflip'" in res.summary()
    assert store.manifest("m")["test_folds"] == []
    res = import_predictions(store, "m", "test", sub, tta="hflip")
    assert res.complete
    assert not res.missing
    assert store.manifest("m")["test_folds"] == [-1]
    assert store.validate() == []


def test_cli_import_needs_a_model_name_and_allows_perfect_only_when_asked(tmp_path, capsys):
    store = _make(tmp_path, task="regression")
    pd.DataFrame({"id": store.ids, "pred": store.targets["target"]}).to_csv(tmp_path / "p.csv", index=False)
    args = ["import", store.uri, "--split", "oof", "--file", str(tmp_path / "p.csv")]
    assert oof(args) == 2
    assert "give --model, or a {model} placeholder" in capsys.readouterr().err
    assert oof([*args, "--model", "m"]) == 2
    assert "implausibly perfect (RMSE 0 over 200 rows" in capsys.readouterr().err
    assert oof([*args, "--model", "m", "--allow-perfect"]) == 0
    assert "model 'm': wrote 4 oof block(s)" in capsys.readouterr().out


def test_softclass_predictions_named_like_the_soft_target_columns_import(tmp_path):
    rng = np.random.default_rng(0)
    soft = rng.dirichlet(np.ones(3), 90)
    targets = pd.DataFrame(soft, columns=["a", "b", "c"])
    targets.insert(0, "id", [f"r{i}" for i in range(90)])
    targets["fold"] = np.arange(90) % 3
    store = Store.create(tmp_path / "soft", targets, target_cols=["a", "b", "c"])
    assert store.task == "softclass"
    pred = pd.DataFrame(rng.dirichlet(np.ones(3), 90), columns=["a", "b", "c"])
    pred.insert(0, "id", store.ids)
    import_predictions(store, "m", "oof", pred)
    with pytest.raises(StoreError, match=r"implausibly perfect \(the predictions equal the soft targets"):
        import_predictions(store, "leak", "oof", targets.drop(columns="fold"))


def test_cli_shows_one_bar_over_files_on_a_terminal(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from oof_common import cli as cli_utils

    store = _make(tmp_path)
    for k, m in enumerate(["a", "b", "c"]):
        _oof_frame(store, seed=k).to_csv(tmp_path / f"oof_{m}.csv", index=False)
    screen = io.StringIO()
    monkeypatch.setattr(cli_utils, "err_console", Console(file=screen, force_terminal=True, width=100))
    assert oof(["import", store.uri, "--split", "oof", "--file", str(tmp_path / "oof_{model}.csv")]) == 0
    shown = screen.getvalue()
    assert "3/3" in shown
    assert "writing models" in shown


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "message"),
    [
        (lambda s, df: df.assign(id=["ghost", *df["id"][1:]]), {},
         StoreError, r"1 id\(s\) of model 'm' are not in the store's targets: 'ghost'"),
        (lambda s, df: pd.concat([df, df.iloc[:2]]), {},
         StoreError, r"2 id\(s\) appear more than once for model 'm': 'r0"),
        (lambda s, df: df[s.folds != 1], {"fold": 0},
         FoldMismatchError, r"model 'm', fold 0: \d+ rows belong to other folds in the store"),
        (lambda s, df: df, {"fold": 9},
         FoldMismatchError, r"fold 9 is not a fold of the store \(\[0, 1, 2, 3\]\)"),
        (lambda s, df: df[s.class_names].to_numpy()[:-1], {},
         StoreError, r"199 rows and the store's training rows are 200"),
        (lambda s, df: df.assign(c0="x"), {},
         StoreError, r"columns \['c0', 'c1', 'c2'\] are not all numeric \(could not convert string"),
    ],
    ids=["unknown-id", "duplicate", "other-fold", "no-such-fold", "npy-length", "text-column"],
)
def test_bad_files_are_named_and_write_nothing(tmp_path, make, kwargs, error, message):
    store = _make(tmp_path)
    before = _snapshot(store.uri)
    with pytest.raises(error, match=message):
        import_predictions(store, "m", "oof", make(store, _oof_frame(store, shuffle=False)), **kwargs)
    assert _snapshot(store.uri) == before

"""Every kind of bad input gets a clear error that names what is wrong, and loses no data."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pandas as pd
import pytest

from oof_store import (
    CorruptFileError,
    FoldMismatchError,
    IncompleteModelError,
    ModelNotFoundError,
    Store,
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
)
from oof_store.importing import import_predictions


def _snapshot(root) -> dict[str, bytes]:
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


def _good_oof(store: Store, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(store.n_classes), len(store.ids))
    df = pd.DataFrame(p, columns=store.class_names)
    df.insert(0, "id", store.ids)
    return df


TARGET_ERRORS = [
    (lambda df: df.assign(id=["x"] * len(df)), {}, "duplicate id"),
    (lambda df: df.drop(columns="fold"), {}, r"fold.*not in the targets table"),
    (lambda df: df.assign(fold=np.nan), {}, "have no fold"),
    (lambda df: df.assign(fold=0), {}, "at least 2"),
    (lambda df: df.assign(fold=df["fold"] + 0.5), {}, "integers"),
    (lambda df: df, {"task": "nonsense"}, "task must be one of"),
    (lambda df: df.assign(target=None), {}, "missing value"),
    (lambda df: df, {"target_cols": "nope"}, r"target column\(s\) \['nope'\]"),
    (lambda df: df, {"test_ids": ["r000001"]}, "also training ids"),
]


@pytest.mark.parametrize(("mutate", "kwargs", "message"), TARGET_ERRORS)
def test_create_rejects_bad_targets(tmp_path, small_store, mutate, kwargs, message):
    df = mutate(small_store.targets.copy())
    params = {"id_col": "id", "target_cols": "target", "fold_col": "fold", **kwargs}
    with pytest.raises(StoreError, match=message):
        Store.create(tmp_path / "new", df, **params)
    assert not (tmp_path / "new" / "store.json").exists()


def test_soft_targets_must_sum_to_one(tmp_path):
    df = pd.DataFrame({"id": range(6), "a": [0.5] * 6, "b": [0.6] * 6, "fold": [0, 1] * 3})
    with pytest.raises(StoreError, match="soft targets must sum to 1"):
        Store.create(tmp_path / "s", df, target_cols=["a", "b"])


def test_open_missing_store_says_how_to_create_one(tmp_path):
    with pytest.raises(StoreNotFoundError, match="oof init"):
        Store(tmp_path / "nothing")


def test_create_refuses_to_overwrite(small_store):
    with pytest.raises(StoreExistsError, match="overwrite"):
        Store.create(small_store.uri, small_store.targets, target_cols="target")


def test_write_block_rejects_nan_and_names_model_fold_and_id(small_store):
    rows = np.flatnonzero(small_store.folds == 2)
    p = np.full((len(rows), 3), 0.1, np.float32)
    p[3, 1] = np.nan
    with pytest.raises(StoreError, match=rf"model 'new', split oof, fold 2.*NaN.*{small_store.ids[rows[3]]}"):
        small_store.write_block("oof", "new", 2, 0, small_store.ids[rows], p)
    p[3, 1] = np.inf
    with pytest.raises(StoreError, match="infinite"):
        small_store.write_block("oof", "new", 2, 0, small_store.ids[rows], p)
    assert "new" not in small_store.models(include_incomplete=True)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda s, ids, p: (ids, p[:, :2]), StoreError, r"shape .*3 class column"),
        (lambda s, ids, p: (np.r_[ids, ids[:1]], np.r_[p, p[:1]]), StoreError, "more than once"),
        (lambda s, ids, p: (ids[:-2], p[:-2]), StoreError, "never predicted"),
        (lambda s, ids, p: (np.r_[ids[:-1], ["ghost"]], p), StoreError, r"not in the store's targets: 'ghost'"),
        (lambda s, ids, p: (np.r_[ids[:-1], s.ids[s.folds == 0][:1]], p), FoldMismatchError, "belong to other folds"),
    ],
    ids=["class-count", "duplicate", "missing-rows", "unknown-id", "other-fold"],
)
def test_write_block_rejects_bad_rows(small_store, make, error, message):
    rows = np.flatnonzero(small_store.folds == 1)
    ids, p = make(small_store, small_store.ids[rows], np.full((len(rows), 3), 1 / 3))
    with pytest.raises(error, match=message):
        small_store.write_block("oof", "bad", 1, 0, ids, p)


def test_nothing_is_overwritten_unless_asked(small_store):
    rows = np.flatnonzero(small_store.folds == 0)
    p = np.zeros((len(rows), 3))
    with pytest.raises(StoreExistsError, match="already in the store"):
        small_store.write_block("oof", "m00", 0, 0, small_store.ids[rows], p)
    with pytest.raises(StoreExistsError, match="already finished"):
        small_store.finish_model("m00", kind="logits")
    before = small_store.load_oof("m00").preds
    small_store.write_block("oof", "m00", 0, 0, small_store.ids[rows], p, overwrite=True)
    # pending until the model is committed again: readers keep seeing the old model whole
    np.testing.assert_array_equal(small_store.load_oof("m00").preds, before)
    small_store.finish_model("m00", overwrite=True)  # kind and views kept from the manifest
    np.testing.assert_array_equal(small_store.load_oof("m00").preds[0, 0, rows], p)
    assert small_store.manifest("m00")["kind"] == "logits"


def test_incomplete_model_is_never_loaded_silently(small_store):
    rows = np.flatnonzero(small_store.folds == 0)
    small_store.write_block("oof", "half", 0, 0, small_store.ids[rows], np.zeros((len(rows), 3)))
    assert "half" not in small_store.models()
    assert "half" in small_store.models(include_incomplete=True)
    with pytest.raises(IncompleteModelError, match="no manifest"):
        small_store.load_oof(["m00", "half"])
    with pytest.raises(IncompleteModelError, match=r"missing OOF blocks .*\(1, none\)"):
        small_store.finish_model("half", kind="logits")
    assert any("half" in p for p in small_store.validate())


def test_unknown_model_lists_the_available_ones(small_store):
    with pytest.raises(ModelNotFoundError, match="available: m00, m01, m02, m03"):
        small_store.load_oof(["m00", "b4"])


def test_probs_that_do_not_sum_to_one_are_rejected(small_store):
    for f in small_store.fold_ids:
        rows = np.flatnonzero(small_store.folds == f)
        small_store.write_block("oof", "pr", f, 0, small_store.ids[rows], np.full((len(rows), 3), 0.5))
    with pytest.raises(StoreError, match=r"model 'pr'.*do not sum to 1.*--kind logits"):
        small_store.finish_model("pr", kind="probs")


def test_corrupt_block_is_named(small_store):
    path = small_store.block_file("oof", "m01", 3, 0)
    with open(path, "r+b") as f:
        f.seek(20)
        f.write(b"garbage!" * 8)
    with pytest.raises(CorruptFileError, match=r"model=m01/fold=3/tta=0/part-\w+.parquet"):
        small_store.load_oof(["m01"])
    assert any("m01" in p and "fold=3" in p for p in small_store.validate())
    small_store.load_oof(["m00", "m02"])  # the others still load


def test_truncated_block_is_named(small_store):
    path = small_store.block_file("test", "m02", 1, 1)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match="fold=1/tta=1"):
        small_store.load_test(["m02"])


def test_model_made_with_other_folds_is_caught_after_the_fact(small_store, tmp_path):
    """Re-split the store's targets: every old model's fingerprint no longer matches."""
    df = small_store.targets.copy()
    df["fold"] = np.roll(df["fold"].to_numpy(), 1)
    Store.create(small_store.uri, df, target_cols="target", overwrite=True)
    again = Store(small_store.uri)
    with pytest.raises(FoldMismatchError, match=r"model 'm00' was produced with another fold assignment"):
        again.load_oof(["m00"])
    assert any("another fold assignment" in p for p in again.validate())


def test_manifest_with_bad_json_is_named(small_store):
    path = os.path.join(small_store.uri, "models", "m03.json")
    with open(path, "w") as f:
        f.write("{not json")
    with pytest.raises(CorruptFileError, match=r"m03.json is not valid JSON"):
        small_store.load_oof(["m03"])


def test_bad_import_leaves_the_store_intact(small_store, tmp_path):
    before = _snapshot(small_store.uri)
    df = _good_oof(small_store)
    df.loc[17, "c1"] = np.nan
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(StoreError, match=r"model 'x', split oof, fold \d.*NaN"):
        import_predictions(small_store, "x", "oof", str(tmp_path / "bad.csv"), kind="probs")
    assert _snapshot(small_store.uri) == before


def test_import_names_file_with_mismatched_folds(small_store, tmp_path):
    df = _good_oof(small_store)
    df["fold"] = np.roll(small_store.folds, 3)
    df.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(FoldMismatchError, match=r"f.csv: model 'x' was validated with another fold"):
        import_predictions(small_store, "x", "oof", str(tmp_path / "f.csv"), fold="fold")


def test_import_names_rows_never_predicted(small_store, tmp_path):
    df = _good_oof(small_store).iloc[5:]
    with pytest.raises(StoreError, match=r"5 OOF row\(s\) of the store are never predicted .*'r000000'"):
        import_predictions(small_store, "x", "oof", df)


def test_manifest_records_the_fold_fingerprint(small_store):
    man = small_store.manifest("m00")
    assert man["fingerprint"] == small_store.fingerprint
    assert set(man["fold_fingerprints"]) == {str(f) for f in small_store.fold_ids}
    json.dumps(man)


def test_nan_written_behind_the_stores_back_is_named_on_load(small_store):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = small_store.block_file("oof", "m02", 4, 0)
    table = pq.read_table(path)
    values = table.column("c1").to_numpy().copy()
    values[2] = np.nan
    table = table.set_column(2, "c1", pa.array(values, pa.float32()))
    pq.write_table(table, path)
    third_id = table.column("id")[2].as_py()
    with pytest.raises(CorruptFileError, match=r"fold=4/tta=0/part-\w+.parquet .*changed after it was written"):
        small_store.load_oof(["m02"])
    # a writer that also records the new file's hash: the NaN is still caught on load
    man_path = os.path.join(small_store.uri, "models", "m02.json")
    man = json.load(open(man_path))
    data = open(path, "rb").read()
    man["blocks"]["oof/4/0"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    json.dump(man, open(man_path, "w"))
    with pytest.raises(StoreError, match=rf"model 'm02', split oof, fold 4.*NaN.*'{third_id}'"):
        small_store.load_oof(["m02"])

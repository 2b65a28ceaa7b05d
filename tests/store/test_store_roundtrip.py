"""The store returns exactly what was written, aligned, in targets order."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from oof_store import Store, StoreError, softmax, synthetic


def _targets(n=50, k=5, classes=("a", "b", "c"), seed=0):
    rng = np.random.default_rng(seed)
    ids = [f"id{i}" for i in rng.permutation(n)]
    return pd.DataFrame(
        {"image_id": ids, "label": rng.choice(classes, n), "fold": np.arange(n) % k,
         "source": rng.choice(["2019", "2020"], n)}
    )


def test_create_infers_task_classes_and_keeps_extra_columns(tmp_path):
    store = Store.create(tmp_path / "s", _targets(), id_col="image_id", target_cols="label",
                         fold_col="fold", test_ids=["t1", "t2"])
    assert store.task == "multiclass"
    assert store.class_names == ["a", "b", "c"]
    assert store.n_folds == 5
    assert list(store.test_ids) == ["t1", "t2"]
    assert "source" in store.targets.columns
    reopened = Store(tmp_path / "s")
    np.testing.assert_array_equal(reopened.y, store.y)
    assert reopened.fingerprint == store.fingerprint


def test_numeric_classes_sort_numerically(tmp_path):
    df = pd.DataFrame({"id": range(30), "y": np.arange(30) % 11, "fold": np.arange(30) % 3})
    store = Store.create(tmp_path / "s", df, target_cols="y")
    assert store.class_names == [str(i) for i in range(11)]


@pytest.mark.parametrize("task", ["binary", "multiclass", "softclass", "regression"])
def test_every_task_round_trips(tmp_path, task):
    data = synthetic.make_oof(n_models=2, n_rows=200, n_classes=4, n_folds=4, n_test=30,
                              task=task, seed=3)
    store = synthetic.make_store(tmp_path / task, n_models=2, n_rows=200, n_classes=4,
                                 n_folds=4, n_test=30, task=task, seed=3)
    assert store.task == task
    oof = store.load_oof()
    np.testing.assert_allclose(oof.preds, data.logits, rtol=0, atol=0)
    test = store.load_test(folds="all")
    np.testing.assert_allclose(test.preds, data.test_logits)
    if task == "softclass":
        np.testing.assert_allclose(store.y, data.y, atol=1e-12)
    elif task == "regression":
        np.testing.assert_allclose(store.y, data.y)
    else:
        np.testing.assert_array_equal(store.y, data.y)


def test_tta_mean_and_pick_and_output_conversion(small_store):
    full = small_store.load_oof()
    assert full.preds.shape == (4, 2, 600, 3)
    mean = small_store.load_oof(tta="mean")
    np.testing.assert_allclose(mean.preds[:, 0], full.preds.mean(axis=1), rtol=1e-6, atol=1e-6)
    one = small_store.load_oof(tta=1)
    np.testing.assert_array_equal(one.preds[:, 0], full.preds[:, 1])
    assert small_store.load_oof(tta="view1").tta_views == ["view1"]
    probs = small_store.load_oof(output="probs")
    np.testing.assert_allclose(probs.preds, softmax(full.preds.copy()), rtol=1e-6)
    np.testing.assert_allclose(probs.preds.sum(-1), 1, atol=1e-5)


def test_test_predictions_average_folds(small_store):
    per_fold = small_store.load_test(folds="all")
    assert per_fold.preds.shape == (4, 5, 2, 100, 3)
    mean = small_store.load_test(folds="mean")
    np.testing.assert_allclose(mean.preds, per_fold.preds.mean(axis=1), rtol=1e-5, atol=1e-5)
    both = small_store.load_test(tta="mean", folds="mean")
    np.testing.assert_allclose(both.preds[:, 0], per_fold.preds.mean(axis=(1, 2)), atol=1e-5)


def test_blocks_written_out_of_order_load_in_targets_order(tmp_path, rng):
    store = Store.create(tmp_path / "s", _targets(), id_col="image_id", target_cols="label",
                         fold_col="fold")
    truth = rng.dirichlet(np.ones(3), size=len(store.ids)).astype(np.float32)
    for f in store.fold_ids:
        rows = np.flatnonzero(store.folds == f)[::-1]  # reversed order on purpose
        store.write_block("oof", "m", f, 0, store.ids[rows], truth[rows])
    store.finish_model("m", kind="probs")
    np.testing.assert_array_equal(store.load_oof("m").preds[0, 0], truth)


def test_duckdb_style_hive_read_of_preds(small_store):
    import pyarrow.dataset as ds

    table = ds.dataset(f"{small_store.uri}/preds", format="parquet", partitioning="hive").to_table()
    df = table.to_pandas()
    assert set(df["split"].unique()) == {"oof", "test"}
    assert set(df["model"].astype(str).unique()) == {"m00", "m01", "m02", "m03"}
    n_oof = (df["split"] == "oof").sum()
    assert n_oof == 4 * 2 * 600  # models x views x rows


def test_store_opens_through_a_pyarrow_uri(tmp_path):
    store = synthetic.make_store(f"file://{tmp_path}/uri-store", n_models=2, n_rows=60,
                                 n_classes=3, n_folds=3)
    again = Store(f"file://{tmp_path}/uri-store")
    assert again.models() == ["m00", "m01"]
    assert again.load_oof().preds.shape == (2, 1, 60, 3)
    assert store.validate() == []


def test_cache_never_serves_stale_blocks(small_store, tmp_path):
    first = small_store.load_oof(["m00", "m01"]).preds  # assembles and caches
    assert os.listdir(os.path.join(small_store.uri, ".cache"))
    rows = np.flatnonzero(small_store.folds == 2)
    new = np.full((len(rows), 3), 7.0, np.float32)
    small_store.write_block("oof", "m01", 2, 1, small_store.ids[rows], new, overwrite=True)
    small_store.finish_model("m01", overwrite=True)
    again = Store(small_store.uri).load_oof(["m00", "m01"]).preds
    np.testing.assert_array_equal(again[1, 1, rows], new)
    np.testing.assert_array_equal(again[0], first[0])
    # a block corrupted in place after caching is still caught
    path = small_store.block_file("oof", "m00", 0, 0)
    with open(path, "r+b") as f:
        f.seek(30)
        f.write(b"\x00" * 64)
    with pytest.raises(StoreError, match="fold=0/tta=0"):
        Store(small_store.uri).load_oof(["m00", "m01"])


def test_hive_read_of_committed_files_skips_pending_and_interrupted_writes(small_store):
    import pyarrow.dataset as ds

    rows = np.flatnonzero(small_store.folds == 0)
    # a pending rewrite of m00 and a new model's first block: neither is committed
    small_store.write_block("oof", "m00", 0, 0, small_store.ids[rows], np.zeros((len(rows), 3)),
                            overwrite=True)
    small_store.write_block("oof", "new", 0, 0, small_store.ids[rows], np.zeros((len(rows), 3)))
    everything = ds.dataset(f"{small_store.uri}/preds", format="parquet", partitioning="hive")
    assert everything.count_rows() == 4 * 2 * (600 + 5 * 100) + 2 * len(rows)
    files = small_store.committed_files()
    table = ds.dataset(files, format="parquet", partitioning="hive",
                       partition_base_dir=f"{small_store.uri}/preds").to_table()
    df = table.to_pandas()
    assert set(df["model"].astype(str).unique()) == {"m00", "m01", "m02", "m03"}
    assert (df["split"] == "oof").sum() == 4 * 2 * 600
    m00 = df[(df["model"] == "m00") & (df["split"] == "oof") & (df["fold"] == 0) & (df["tta"] == 0)]
    expected = small_store.load_oof("m00").preds[0, 0, rows]
    np.testing.assert_array_equal(m00[["c0", "c1", "c2"]].to_numpy(), expected)

"""A model written back with --overwrite is replaced all at once (one store write)."""

from __future__ import annotations

import numpy as np
import pytest

from oof_store import synthetic
from oof_store._errors import StoreError


def _store(tmp_path):
    return synthetic.make_store(tmp_path / "s", n_models=2, n_rows=60, n_classes=3, n_folds=3,
                                n_test=10, n_tta=1, seed=3)


def test_replace_keeps_no_block_of_the_old_model(tmp_path):
    store = _store(tmp_path)
    old = store.manifest("m00")
    assert any(k.startswith("test") for k in old["blocks"])
    with store.transaction("m00", replace=True) as tx:
        for k in store.fold_ids:
            rows = np.flatnonzero(store.folds == k)
            tx.write_block("oof", k, 0, store.ids[rows], np.full((len(rows), 3), 1 / 3, np.float32))
        tx.finish_model(kind="probs", tta_views=["none"], overwrite=True)
    new = store.manifest("m00")
    assert not any(k.startswith("test") for k in new["blocks"])  # the old test blocks are gone
    assert store.validate() == []
    np.testing.assert_allclose(store.load_oof(["m00"], output="probs").preds, 1 / 3, rtol=1e-6)


def test_a_failed_replacement_leaves_the_old_model_whole(tmp_path):
    store = _store(tmp_path)
    before = store.load_oof(["m00"], output="probs").preds.copy()
    k = store.fold_ids[0]
    rows = np.flatnonzero(store.folds == k)

    def half_a_replacement():
        with store.transaction("m00", replace=True) as tx:
            tx.write_block("oof", k, 0, store.ids[rows], np.full((len(rows), 3), 1 / 3, np.float32))
            raise StoreError("refused mid-way")

    with pytest.raises(StoreError, match="refused"):
        half_a_replacement()
    np.testing.assert_array_equal(store.load_oof(["m00"], output="probs").preds, before)
    assert store.manifest("m00")["blocks"]
    assert store.validate() == []


def test_a_checkpointed_replacement_keeps_its_own_folds(tmp_path):
    # a trainer's --overwrite: replace=True, a checkpoint after each fold, then finish_model
    store = _store(tmp_path)
    before = store.load_oof(["m00"], output="probs").preds.copy()
    with store.transaction("m00", replace=True) as tx:
        for k in store.fold_ids:
            rows = np.flatnonzero(store.folds == k)
            tx.write_block("oof", k, 0, store.ids[rows], np.full((len(rows), 3), 1 / 3, np.float32))
            tx.checkpoint()
            assert ("oof", k, 0) in tx.blocks()  # checkpointed folds still count for this write
            # readers still see the old model, whole
            np.testing.assert_array_equal(store.load_oof(["m00"], output="probs").preds, before)
        assert tx.blocks() == [("oof", k, 0) for k in store.fold_ids]
        tx.finish_model(kind="probs", tta_views=["none"], overwrite=True)
    np.testing.assert_allclose(store.load_oof(["m00"], output="probs").preds, 1 / 3, rtol=1e-6)
    assert not any(k.startswith("test") for k in store.manifest("m00")["blocks"])
    assert store.validate() == []

"""Real OOF (Assembled metatask -2: digits, 10 classes, 5 scikit-learn models, 10 folds)."""

from __future__ import annotations

import numpy as np
import pytest

from blend.combine import combine
from blend.metrics import get_metric
from blend.search import brute_force_search
from blend.workflows.search import search_store
from oof_store.assembled import import_metatask


def test_search_on_real_oof_matches_brute_force_and_the_nested_selection(assembled_dir, tmp_path):
    store = import_metatask(assembled_dir / "metatask_-2.csv", assembled_dir / "metatask_-2.json",
                            tmp_path / "digits")
    res = search_store(store, metric="accuracy", rule="prob", top=31, nested=True)
    oof = store.load_oof(tta="mean", output="probs")
    ref = brute_force_search(oof.preds, oof.y, top=31)
    assert [r.indices for r in res.results] == [s for s, _ in ref]
    assert [r.score for r in res.results] == pytest.approx([v for _, v in ref])
    # the nested score, recomputed independently: each fold's subset chosen by brute force
    # on the other folds only, the held-out blends pooled and scored once
    pooled = np.zeros(oof.preds.shape[2:])
    for k, choice in zip(res.fold_ids, res.nested_choices, strict=True):
        tr, te = oof.folds != k, oof.folds == k
        best = brute_force_search(oof.preds[:, :, tr], oof.y[tr], top=1)[0][0]
        assert choice == tuple(oof.models[i] for i in best)
        pooled[te] = combine(oof.preds[list(best)][:, :, te])
    assert res.nested_score == pytest.approx(get_metric("accuracy")(oof.y, pooled), abs=1e-12)
    for metric in ("logloss", "f1_macro"):
        r = search_store(store, metric=metric, top=5)
        ref = brute_force_search(oof.preds, oof.y, metric=metric, top=5)
        assert [x.indices for x in r.results] == [s for s, _ in ref]

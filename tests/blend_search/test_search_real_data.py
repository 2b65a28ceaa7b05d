"""Real OOF (Assembled metatask -2: digits, 10 classes, 5 scikit-learn models, 10 folds)."""

from __future__ import annotations

import pytest

from blend.cli.search import search_store
from blend.search import brute_force_search
from oof_store.assembled import import_metatask


def test_search_on_real_oof_matches_brute_force_and_nested_is_not_optimistic(assembled_dir, tmp_path):
    store = import_metatask(assembled_dir / "metatask_-2.csv", assembled_dir / "metatask_-2.json",
                            tmp_path / "digits")
    res = search_store(store, metric="accuracy", rule="prob", top=31, nested=True)
    oof = store.load_oof(tta="mean", output="probs")
    ref = brute_force_search(oof.preds, oof.y, top=31)
    assert [r.indices for r in res.results] == [s for s, _ in ref]
    assert [r.score for r in res.results] == pytest.approx([v for _, v in ref])
    # the held-out score of the selection cannot beat the in-sample winner by more than noise
    # (tolerance: 1% of accuracy, ~18 of 1797 rows)
    assert res.nested_score <= res.best.score + 0.01
    for metric in ("logloss", "f1_macro"):
        r = search_store(store, metric=metric, top=5)
        ref = brute_force_search(oof.preds, oof.y, metric=metric, top=5)
        assert [x.indices for x in r.results] == [s for s, _ in ref]

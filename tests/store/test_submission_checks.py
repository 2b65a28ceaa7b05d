"""The submission-bug checks: test predictions that do not behave like their OOF (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oof_store import Store, softmax, synthetic
from oof_store.cli import main as oof
from oof_store.submission_checks import check_store, check_test_predictions

NAMES = [f"m{i}" for i in range(5)]


def _arrays(task: str, seed: int, n_rows: int = 300, n_test: int = 120):
    d = synthetic.make_oof(
        n_models=5, n_rows=n_rows, n_classes=3, n_folds=5, n_test=n_test, task=task, seed=seed,
        accuracy=(0.6, 0.8) if task != "regression" else (0.5, 0.7), correlation=0.5,
    )
    if task == "regression":
        oof_p, test_f = d.logits[:, 0], d.test_logits[:, :, 0]
    else:
        oof_p, test_f = softmax(d.logits[:, 0].copy()), softmax(d.test_logits[:, :, 0].copy())
    return oof_p, test_f.mean(axis=1), [test_f[m] for m in range(5)]


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_clean_synthetic_stores_raise_no_alarm(task):
    """The false-alarm rate: 14 clean stores per task (300 OOF rows, 120 test rows), none flagged."""
    flagged = []
    for seed in range(14):
        oof_p, test, per_fold = _arrays(task, seed)
        flagged += check_test_predictions(oof_p, test, NAMES, test_folds=per_fold)
    assert flagged == []


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_shuffled_test_file_is_flagged_misaligned_with_the_model_named(task):
    oof_p, test, _ = _arrays(task, 1)
    test[2] = test[2][np.random.default_rng(0).permutation(test.shape[1])]
    found = check_test_predictions(oof_p, test, NAMES)
    assert [(f.model, f.kind) for f in found] == [("m2", "misaligned")]
    assert "shuffled, or joined on the wrong id" in found[0].evidence


def test_test_predictions_from_another_temperature_are_flagged_shifted():
    oof_p, test, _ = _arrays("multiclass", 2, n_rows=1000, n_test=600)
    test[1] = softmax((3 * np.log(np.clip(test[1], 1e-9, 1))).astype(np.float32))
    found = check_test_predictions(oof_p, test, NAMES)
    assert [(f.model, f.kind) for f in found] == [("m1", "shifted")]
    assert "Kolmogorov-Smirnov" in found[0].evidence


def test_one_fold_model_from_another_run_is_flagged():
    oof_p, test, per_fold = _arrays("binary", 3)
    per_fold[4] = per_fold[4].copy()
    per_fold[4][1] = per_fold[4][1][np.random.default_rng(1).permutation(test.shape[1])]
    found = check_test_predictions(oof_p, test, NAMES, test_folds=per_fold, fold_ids=[1, 2, 3, 4, 5])
    assert [(f.model, f.kind, f.stats["fold"]) for f in found] == [("m4", "fold disagreement", 2)]


def test_peer_checks_need_three_models():
    oof_p, test, _ = _arrays("binary", 4)
    test[1] = test[1][::-1]
    assert check_test_predictions(oof_p[:2], test[:2], NAMES[:2]) == []


def test_oof_validate_names_a_misaligned_test_file(misaligned_folder, capsys):
    """End to end: an id-less folder whose one test file was written in another row order."""
    store = misaligned_folder
    capsys.readouterr()
    assert oof(["validate", store]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "warning: model 'vit': misaligned" in out
    assert "'effnet'" not in out
    assert [f.model for f in check_store(Store(store))] == ["vit"]


@settings(max_examples=60)
@given(st.integers(1, 40), st.integers(1, 3), st.integers(0, 2**32 - 1), st.integers(1, 6))
def test_fast_ranks_equal_scipy_rankdata_ties_included(n, cols, seed, levels):
    from scipy.stats import rankdata

    from oof_store.submission_checks import _ranks

    x = np.random.default_rng(seed).integers(0, levels, size=(2, n, cols)).astype(float)  # many ties
    np.testing.assert_allclose(_ranks(x), rankdata(x, axis=-2))


@settings(max_examples=60)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1), st.integers(2, 8))
def test_ks_statistic_equals_scipy(n, m, seed, levels):
    from scipy.stats import ks_2samp

    from oof_store.submission_checks import _ks

    rng = np.random.default_rng(seed)
    a = rng.integers(0, levels, size=(n, 2)) / levels  # ties included
    b = rng.integers(0, levels, size=(m, 2)) / levels
    want = max(ks_2samp(a[:, j], b[:, j]).statistic for j in range(2))
    assert _ks(a, b) == pytest.approx(want)


def test_check_store_reads_each_test_block_once_and_sees_what_the_loaders_give(tmp_path, monkeypatch):
    """The fold mean and the fold predictions come from one read per model; they equal
    ``load_test(folds="mean")`` and ``load_test(folds="all")`` (logits averaged as stored,
    then the softmax), and a model with one whole-test prediction keeps its own."""
    import oof_store.submission_checks as sc
    from oof_store import synthetic

    store = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=120, n_classes=3, n_folds=3,
                                 n_test=25, n_tta=2, seed=1, kind="logits")
    rng = np.random.default_rng(0)
    ids = store.test_ids
    with store.transaction("whole", "test") as tx:
        for f in store.fold_ids:
            rows = store.folds == f
            tx.write_block("oof", f, 0, store.ids[rows], rng.normal(size=(int(rows.sum()), 3)))
        tx.write_block("test", -1, 0, ids, rng.normal(size=(len(ids), 3)))
        tx.finish_model(kind="logits", tta_views=["none"], source="test")
    seen = {}
    monkeypatch.setattr(sc, "check_test_predictions",
                        lambda oof, test, names, test_folds, fold_ids: seen.update(
                            test=test, names=names, per=test_folds) or [])
    reads = []
    real = type(store).load_test
    monkeypatch.setattr(type(store), "load_test",
                        lambda self, models=None, **kw: reads.append(list(models)) or real(self, models, **kw))
    sc.check_store(store)
    assert sorted(m for r in reads for m in r) == sorted(seen["names"])  # each model once
    monkeypatch.setattr(type(store), "load_test", real)
    names = seen["names"]
    mean = store.load_test(names, tta="mean", folds="mean", output="probs").preds[:, 0]
    np.testing.assert_allclose(seen["test"], mean, atol=1e-6)
    for m, per in zip(names, seen["per"], strict=True):
        if m == "whole":
            assert per is None
        else:
            want = store.load_test([m], tta="mean", folds="all", output="probs").preds[0, :, 0]
            np.testing.assert_allclose(per, want, atol=1e-6)

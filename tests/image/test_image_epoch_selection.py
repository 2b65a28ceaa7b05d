"""The image trainer selects its epoch on an inner split, never on the OOF fold (issue 10, item 3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import base_models.image.trainer as trainer
import base_models.image.trainer._folds as fold_runner
from base_models.image.trainer import inner_split
from blend.cli import main as blend
from oof_store import Store
from oof_store.cli import main as oof


@pytest.fixture
def spy(monkeypatch):
    """Record the rows each fold's model was fitted on and selected its epoch on."""
    seen = []
    real = trainer.fit_fold

    def fit_fold(model, train_ds, val_ds, config, *, fold, **kw):
        seen.append((fold, set(train_ds.index.tolist()), set(val_ds.index.tolist())))
        return real(model, train_ds, val_ds, config, fold=fold, **kw)

    monkeypatch.setattr(fold_runner, "fit_fold", fit_fold)  # where each fold calls it
    return seen


def test_best_epoch_is_selected_on_an_inner_split_of_the_training_folds(tiny, fast, spy):
    man = trainer.train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="m",
                                    select_by="accuracy", **{**fast, "epochs": 2})
    folds = Store(tiny.store_uri).folds
    assert len(spy) == 2
    for k, fit_rows, sel_rows in spy:
        oof_rows = set(np.flatnonzero(folds == k).tolist())
        assert not (sel_rows & oof_rows)  # the OOF fold chooses nothing
        assert not (fit_rows & oof_rows)
        assert not (fit_rows & sel_rows)
        assert fit_rows | sel_rows == set(np.flatnonzero(folds != k).tolist())
    assert man["params"]["select_epoch_on"] == "inner"
    assert man["params"]["inner_fraction"] == 0.1


def test_selecting_on_the_oof_fold_is_explicit_recorded_and_flagged(tiny, fast, spy, capsys):
    man = trainer.train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="m",
                                    select_by="accuracy", select_epoch_on="oof",
                                    **{**fast, "epochs": 2})
    folds = Store(tiny.store_uri).folds
    for k, _, sel_rows in spy:
        assert sel_rows == set(np.flatnonzero(folds == k).tolist())
    assert man["params"]["select_epoch_on"] == "oof"
    assert oof(["ls", str(tiny.store_uri)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "EPOCH-ON-OOF" in out
    assert "m: its epoch was selected on the fold it predicted" in out
    rep = tiny.store_uri.parent / "r.json"
    assert blend(["report", str(tiny.store_uri), "--json", str(rep), "--quiet"]) == 0
    d = json.loads(rep.read_text())
    assert d["honest"] is False
    assert d["flagged_models"] == {"m": ["epoch-on-oof"]}
    assert any(n.startswith("NOT HONEST: m (epoch-on-oof)") for n in d["notes"])


def test_by_default_the_last_epoch_is_kept_and_every_training_row_fitted(tiny, fast, spy):
    man = trainer.train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="m",
                                    **{**fast, "epochs": 2})
    folds = Store(tiny.store_uri).folds
    for k, fit_rows, _ in spy:
        assert fit_rows == set(np.flatnonzero(folds != k).tolist())
    assert man["params"]["select_by"] == "last"
    assert man["params"]["best_epoch"] == {"0": 2, "1": 2}


def test_inner_split_is_stratified_seeded_and_disjoint():
    rows = np.arange(100, 400)
    targets = np.zeros(400, dtype=np.int64)
    targets[rows] = np.repeat([0, 1, 2], 100)
    fit_rows, sel = inner_split(rows, targets, 0.1, seed=7)
    assert np.bincount(targets[sel], minlength=3).tolist() == [10, 10, 10]
    assert np.intersect1d(fit_rows, sel).size == 0
    assert np.array_equal(np.union1d(fit_rows, sel), rows)
    again = inner_split(rows, targets, 0.1, seed=7)[1]
    assert np.array_equal(sel, again)
    assert not np.array_equal(sel, inner_split(rows, targets, 0.1, seed=8)[1])
    soft = np.eye(3)[targets]
    assert np.array_equal(inner_split(rows, soft, 0.1, seed=7)[1], sel)

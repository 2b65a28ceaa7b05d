"""Binary outputs say which class their AUC / log loss is about; nested scores sit beside the
plain mean's (issue 21 C, E), on a store shaped like the medical-imaging folder (CE/LAA labels,
one-hot folds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from blend.cli import main as blend
from oof_store import Store
from oof_store.importing import import_predictions


@pytest.fixture(scope="module")
def laa_store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("laa")
    rng = np.random.default_rng(21)
    n = 300
    ids = [f"img{i:04d}" for i in range(n)]
    y = np.where(rng.random(n) < 0.35, "LAA", "CE")
    fold = np.arange(n) % 5
    df = pd.DataFrame({"image_id": ids, "label": y})
    for k in range(6):
        df[f"fold{k + 1}"] = (fold == k).astype(int)
    store = Store.create(tmp / "store", df, id_col="image_id", target_cols="label",
                         fold_col=[f"fold{k}" for k in range(1, 7)], positive="LAA",
                         test_ids=[f"t{i}" for i in range(80)])
    shared = rng.normal(size=n)
    for m in ["effnet", "resnet", "vit"]:
        p = 1 / (1 + np.exp(-(2.5 * (y == "LAA") - 1.2 + shared + rng.normal(size=n))))
        import_predictions(store, m, "oof", pd.DataFrame({"image_id": ids, "LAA": p}))
        import_predictions(store, m, "test", pd.DataFrame({"image_id": [f"t{i}" for i in range(80)],
                                                             "LAA": rng.random(80)}))
    return store


@pytest.mark.parametrize("argv", [
    ["optimize", "--method", "de", "--maxiter", "3"],
    ["optimize", "--method", "lbfgs"],
    ["report"],
])
def test_binary_outputs_name_the_positive_class(laa_store, argv, capsys):
    assert blend([argv[0], str(laa_store.uri), *argv[1:]]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "positive class 'LAA' (negative 'CE'): auc is about 'LAA'" in out


def test_optimize_prints_the_nested_score_beside_the_plain_mean(laa_store, capsys):
    assert blend(["optimize", str(laa_store.uri), "--method", "de", "--maxiter", "3"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(plain mean 0." in out
    assert any(w in out for w in ("above the mean", "below the mean", "level with the mean"))


def test_stack_prints_the_nested_score_beside_the_plain_mean(laa_store, capsys):
    from blend.cli.stack import main as stack

    assert stack(["linear", str(laa_store.uri), "--no-write"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "stack linear: nested 0." in out
    assert "(plain mean 0." in out
    assert "positive class 'LAA'" in out

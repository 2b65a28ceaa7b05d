"""End to end with a folder of Kaggle-style files: train/folds, oof_<m>.csv, sub_<m>.csv, sample.

`oof init` + `oof import` per file, `blend optimize --recipe`, `blend apply --sample-submission`;
the submission is checked column by column against the blend computed by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from blend.cli import main as blend_main
from blend.recipe import Recipe
from oof_store import Store
from oof_store.cli import main as oof_main


def _kaggle_folder(root, rng):
    """A binary competition: 'PassengerId'-style integer ids, label 0/1, 3 models."""
    n, nt = 240, 50
    ids = np.arange(1, n + 1)
    test_ids = np.arange(1001, 1001 + nt)
    y = rng.integers(0, 2, n)
    folds = np.arange(n) % 4
    pd.DataFrame({"PassengerId": ids, "Survived": y, "fold": folds}).to_csv(root / "train_folds.csv", index=False)
    # the sample lists the test ids in its own (shuffled) order, value 0 everywhere
    sample = pd.DataFrame({"PassengerId": rng.permutation(test_ids), "Survived": 0})
    sample.to_csv(root / "sample_submission.csv", index=False)
    for k, noise in enumerate((0.8, 1.0, 1.3)):
        p = 1 / (1 + np.exp(-(2.0 * (2 * y - 1) + noise * rng.normal(size=n))))
        pd.DataFrame({"PassengerId": ids, "0": 1 - p, "1": p}).to_csv(root / f"oof_m{k}.csv", index=False)
        pt = 1 / (1 + np.exp(-noise * rng.normal(size=nt)))
        pd.DataFrame({"PassengerId": test_ids, "0": 1 - pt, "1": pt}).to_csv(root / f"sub_m{k}.csv", index=False)
    return sample


def test_a_kaggle_folder_in_a_submission_out(tmp_path):
    rng = np.random.default_rng(11)
    sample = _kaggle_folder(tmp_path, rng)
    store = str(tmp_path / "store")
    assert oof_main(["init", store, "--targets", str(tmp_path / "train_folds.csv"), "--id", "PassengerId",
                     "--target", "Survived", "--fold", "fold",
                     "--test", str(tmp_path / "sub_m0.csv")]) == 0  # test ids in another order
    for k in range(3):
        for split, prefix in (("oof", "oof"), ("test", "sub")):
            assert oof_main(["import", store, "--model", f"m{k}", "--split", split, "--file",
                             str(tmp_path / f"{prefix}_m{k}.csv"), "--columns", "0,1"]) == 0
    s = Store(store)
    assert s.task == "binary"
    assert [int(i) for i in s.test_ids] != sample["PassengerId"].tolist()
    recipe = tmp_path / "r.json"
    assert blend_main(["optimize", store, "--method", "de", "--maxiter", "3", "--no-nested",
                       "--recipe", str(recipe)]) == 0
    assert Recipe.load(recipe).metric == "auc"  # the binary default
    out = tmp_path / "submission.csv"
    assert blend_main(["apply", str(recipe), "--store", store, "--out", str(out),
                       "--sample-submission", str(tmp_path / "sample_submission.csv")]) == 0

    sub = pd.read_csv(out)
    # column by column: the sample's header, the sample's ids in its order, probabilities
    assert list(sub.columns) == ["PassengerId", "Survived"]
    assert sub["PassengerId"].tolist() == sample["PassengerId"].tolist()
    P = Recipe.load(recipe).predict_test(s)  # (Nt, 2), rows in the store's test order
    row = {int(i): r for r, i in enumerate(s.test_ids)}
    expected = P[[row[i] for i in sample["PassengerId"]], 1]
    np.testing.assert_allclose(sub["Survived"].to_numpy(), expected, rtol=0, atol=1e-12)
    assert sub["Survived"].between(0, 1).all()
    assert sub["Survived"].nunique() > 2  # probabilities, not 0/1 labels

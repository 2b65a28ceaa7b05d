"""Submissions keep the ids as the user spelled them (issues 21 and 23 item 5)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from blend.cli import main as blend
from oof_store.cli import main as oof


def _folder(tmp_path, train_ids, test_ids):
    rng = np.random.default_rng(8)
    n, nt = 120, 40
    y = (rng.random(n) < 0.4).astype(int)
    train = pd.DataFrame({"target": y})
    if train_ids is not None:
        train.insert(0, "id", train_ids)
    train.to_csv(tmp_path / "train.csv", index=False)
    test = pd.DataFrame({"f": rng.normal(size=nt)})
    if test_ids is not None:
        test.insert(0, "id", test_ids)
    test.to_csv(tmp_path / "test.csv", index=False)
    store = str(tmp_path / "store")
    assert oof(["init", store, "--targets", str(tmp_path / "train.csv"), "--target", "target",
                "--make-folds", "stratified:4:0", "--test", str(tmp_path / "test.csv")]) == 0
    preds = {}
    for m in ["a", "b", "c"]:
        p = 1 / (1 + np.exp(-(2 * (y - 0.5) + rng.normal(size=n))))
        pt = rng.random(nt)
        preds[m] = pt
        pd.DataFrame({m: p}).to_csv(tmp_path / f"{m}_oof.csv", index=False)
        pd.DataFrame({m: pt}).to_csv(tmp_path / f"{m}_test.csv", index=False)
    assert oof(["import", store, "--split", "oof", "--file", str(tmp_path / "{model}_oof.csv")]) == 0
    assert oof(["import", store, "--split", "test", "--file", str(tmp_path / "{model}_test.csv")]) == 0
    recipe = tmp_path / "r.json"
    assert blend(["search", store, "--top", "1", "--models", "a", "b", "c", "--min-size", "3",
                  "--save-recipe", str(recipe)]) == 0
    return store, recipe, preds


def test_zero_padded_test_ids_are_written_as_the_test_file_spells_them(tmp_path):
    test_ids = [f"{i:05d}" for i in range(600, 640)]
    store, recipe, preds = _folder(tmp_path, [f"{i:05d}" for i in range(120)], test_ids)
    out = tmp_path / "sub.csv"
    assert blend(["apply", str(recipe), "--store", store, "--out", str(out), "--probs"]) == 0
    sub = pd.read_csv(out, dtype=str)
    assert sub["id"].tolist() == test_ids
    np.testing.assert_allclose(sub["target"].astype(float), np.mean([preds[m] for m in "abc"], axis=0),
                               rtol=1e-5)


def test_a_row_numbered_store_takes_the_sample_submission_in_order(tmp_path, capsys):
    store, recipe, preds = _folder(tmp_path, None, None)
    sample = pd.DataFrame({"PatientId": [f"P-{i:04d}" for i in range(40)], "target": 0.5})
    sample.to_csv(tmp_path / "sample.csv", index=False)
    out = tmp_path / "sub.csv"
    assert blend(["apply", str(recipe), "--store", store, "--out", str(out), "--probs",
                  "--sample-submission", str(tmp_path / "sample.csv")]) == 0
    sub = pd.read_csv(out, dtype=str)
    assert sub["PatientId"].tolist() == sample["PatientId"].tolist()
    np.testing.assert_allclose(sub["target"].astype(float), np.mean([preds[m] for m in "abc"], axis=0),
                               rtol=1e-5)


def test_a_binary_submission_says_whose_probability_it_holds(tmp_path, capsys):
    store, recipe, _ = _folder(tmp_path, None, None)
    capsys.readouterr()
    assert blend(["apply", str(recipe), "--store", store, "--out", str(tmp_path / "s.csv"), "--probs"]) == 0
    assert "the probability of the positive class '1'" in " ".join(capsys.readouterr().out.split())

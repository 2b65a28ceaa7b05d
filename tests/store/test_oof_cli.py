"""End to end: the `oof` commands on real OOF from another project (Assembled metatasks)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from oof_store import Store
from oof_store.cli import main as oof


@pytest.fixture
def digits_files(assembled_dir, tmp_path):
    """The digits metatask split the way users have it: targets, one CSV per model, one per fold."""
    meta = json.loads((assembled_dir / "metatask_-2.json").read_text())
    df = pd.read_csv(assembled_dir / "metatask_-2.csv")
    ids = [f"img_{i}" for i in range(len(df))]
    folds = np.asarray(meta["folds"], dtype=int)
    pd.DataFrame({"image_id": ids, "label": df["target"], "fold": folds}).to_csv(
        tmp_path / "train.csv", index=False
    )
    pd.DataFrame({"image_id": [f"test_{i}" for i in range(20)]}).to_csv(tmp_path / "test.csv", index=False)
    classes = [str(c) for c in meta["class_labels"]]
    files = {}
    for m in meta["predictors"]:
        p = df[[f"confidence.{c}.{m}" for c in classes]].to_numpy(float)
        p /= p.sum(axis=1, keepdims=True)
        out = pd.DataFrame(p, columns=classes)
        out.insert(0, "image_id", ids)
        out["fold"] = folds
        files[m] = out
    return tmp_path, files, classes, meta


def test_oof_commands_on_real_metatask(digits_files, capsys):
    tmp, files, classes, meta = digits_files
    store = str(tmp / "store")
    assert oof(["init", store, "--targets", str(tmp / "train.csv"), "--id", "image_id",
                "--target", "label", "--fold", "fold", "--test", str(tmp / "test.csv")]) == 0
    # one model from a single CSV with a fold column (checked against the store)
    files["RF_10"].to_csv(tmp / "rf10.csv", index=False)
    assert oof(["import", store, "--model", "RF_10", "--split", "oof", "--file", str(tmp / "rf10.csv"),
                "--fold", "fold"]) == 0
    # one model as Parquet, one file per fold
    for k in range(10):
        part = files["GB_100"][files["GB_100"]["fold"] == k].drop(columns="fold")
        part.to_parquet(tmp / f"gb_{k}.parquet")
        assert oof(["import", store, "--model", "GB_100", "--split", "oof",
                    "--file", str(tmp / f"gb_{k}.parquet"), "--fold", str(k)]) == 0
    # one model as .npy in targets order
    np.save(tmp / "rf100.npy", files["RF_100"][classes].to_numpy())
    assert oof(["import", store, "--model", "RF_100", "--split", "oof", "--file", str(tmp / "rf100.npy")]) == 0
    # a Kaggle-style test CSV
    sub = pd.DataFrame(np.full((20, 10), 0.1), columns=classes)
    sub.insert(0, "image_id", [f"test_{i}" for i in range(20)])
    sub.to_csv(tmp / "sub.csv", index=False)
    assert oof(["import", store, "--model", "RF_100", "--split", "test", "--file", str(tmp / "sub.csv")]) == 0
    capsys.readouterr()

    assert oof(["ls", store, "--json"]) == 0
    listed = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"RF_10", "GB_100", "RF_100"}
    s = Store(store)
    y = s.y
    for m in listed:
        p = files[m][classes].to_numpy()
        assert listed[m]["accuracy"] == pytest.approx((p.argmax(1) == y).mean())
    assert listed["RF_100"]["test_folds"] == [-1]
    assert 0.93 <= listed["GB_100"]["accuracy"] <= 0.99  # SOURCE.txt: 0.93-0.98

    assert oof(["ls", store]) == 0
    assert "GB_100" in capsys.readouterr().out
    assert oof(["validate", store]) == 0

    # round trip: export -> the same numbers
    assert oof(["export", store, "--model", "GB_100", "--to", str(tmp / "out.csv")]) == 0
    back = pd.read_csv(tmp / "out.csv")
    np.testing.assert_allclose(back[classes].to_numpy(), files["GB_100"][classes].to_numpy(), atol=1e-6)
    assert (back["fold"].to_numpy() == files["GB_100"]["fold"].to_numpy()).all()

    assert oof(["rm", store, "--model", "RF_10"]) == 0
    assert Store(store).models() == ["GB_100", "RF_100"]


def test_oof_cli_errors_are_one_red_line_and_exit_2(digits_files, capsys):
    tmp, files, classes, meta = digits_files
    store = str(tmp / "store")
    oof(["init", store, "--targets", str(tmp / "train.csv"), "--id", "image_id", "--target", "label",
         "--fold", "fold"])
    capsys.readouterr()
    bad = files["RF_10"].copy()
    bad.loc[3, classes[0]] = np.nan
    bad.to_csv(tmp / "bad.csv", index=False)
    code = oof(["import", store, "--model", "RF_10", "--split", "oof", "--file", str(tmp / "bad.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'RF_10'" in err
    assert "NaN" in err
    assert "Traceback" not in err
    assert oof(["ls", str(tmp / "nowhere")]) == 2
    assert "oof init" in capsys.readouterr().err


def test_oof_validate_fails_on_a_broken_store(digits_files, capsys):
    tmp, files, classes, meta = digits_files
    store = str(tmp / "store")
    oof(["init", store, "--targets", str(tmp / "train.csv"), "--id", "image_id", "--target", "label",
         "--fold", "fold"])
    part = files["RF_10"][files["RF_10"]["fold"] == 0].drop(columns="fold")
    part.to_csv(tmp / "part.csv", index=False)
    assert oof(["import", store, "--model", "RF_10", "--split", "oof", "--file", str(tmp / "part.csv"),
                "--fold", "0"]) == 0
    assert "incomplete: still missing OOF fold 1" in capsys.readouterr().out
    assert oof(["validate", store]) == 2
    err = capsys.readouterr().err
    assert "model 'RF_10' is incomplete (no manifest; 1 block(s) written)" in err
    assert "missing OOF blocks (fold, TTA view): (1, none), (2, none)" in err


def test_oof_import_is_refused_while_another_process_writes_the_model(tmp_path, capsys):
    import subprocess
    import sys
    import textwrap

    from oof_store import synthetic

    store = synthetic.make_store(tmp_path / "s", n_models=2, n_rows=60, n_classes=3, n_folds=3)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from oof_store import Store
            with Store({store.uri!r}).transaction("m00", "import"):
                print("holding", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        df = pd.DataFrame(np.full((60, 3), 1 / 3), columns=store.class_names)
        df.insert(0, "id", store.ids)
        df.to_csv(tmp_path / "m.csv", index=False)
        capsys.readouterr()
        code = oof(["import", store.uri, "--model", "m00", "--split", "oof", "--file",
                    str(tmp_path / "m.csv"), "--kind", "logits", "--overwrite"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"model 'm00' is being written by another writer (import by pid {holder.pid}" in err
        assert oof(["rm", store.uri, "--model", "m00"]) == 2
    finally:
        holder.communicate("\n", timeout=60)
    assert oof(["import", store.uri, "--model", "m00", "--split", "oof", "--file",
                str(tmp_path / "m.csv"), "--kind", "logits", "--overwrite"]) == 0
    assert oof(["validate", store.uri]) == 0

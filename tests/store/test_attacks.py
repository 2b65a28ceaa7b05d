"""Attacks on a store: links out of it, inputs read as something else, edits behind its back.

Each case is one of issue 23's findings. The link cases keep a sentinel file outside the
store that must survive (and keep its bytes) whatever the command does.
"""

from __future__ import annotations

import glob
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

from oof_store import Store, StoreError, SymlinkError, synthetic
from oof_store._schema import CACHE_DIR
from oof_store.cli import main as oof


@pytest.fixture
def store(tmp_path):
    """3 models, 200 rows, 3 classes, 4 folds, 30 test rows, logits."""
    return synthetic.make_store(tmp_path / "store", n_models=3, n_rows=200, n_classes=3,
                                n_folds=4, n_test=30, seed=3)


@pytest.fixture
def outside(tmp_path):
    """A user's folder outside the store, with a sentinel file whose bytes must survive."""
    folder = tmp_path / "user-files"
    folder.mkdir()
    (folder / "thesis.txt").write_text("four years of work\n")
    return folder


def _sentinel_intact(folder) -> None:
    assert (folder / "thesis.txt").read_text() == "four years of work\n"


def _oof_csv(store: Store, path, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(len(store.ids), store.n_classes)), columns=store.class_names)
    df.insert(0, store.id_col, store.ids)
    df.to_csv(path, index=False)
    return str(path)


# ----------------------------------------------------------------------------- 1: links
def _link_model_dir(store: Store, model: str, outside) -> None:
    """Replace the model's OOF directory by a link to ``outside`` (its files copied there)."""
    d = os.path.join(store.uri, f"preds/split=oof/model={model}")
    shutil.copytree(d, outside, dirs_exist_ok=True)
    shutil.rmtree(d)
    os.symlink(outside, d)


def test_import_overwrite_into_a_model_dir_linked_outside_is_refused(store, outside, tmp_path, capsys):
    _link_model_dir(store, "m01", outside)
    before = sorted(os.listdir(outside))
    csv = _oof_csv(store, tmp_path / "new.csv")
    rc = oof(["import", store.uri, "--model", "m01", "--split", "oof", "--file", csv,
              "--kind", "logits", "--overwrite"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "symbolic link" in err
    assert "model=m01" in err
    _sentinel_intact(outside)
    assert sorted(os.listdir(outside)) == before  # nothing written there, nothing deleted


def test_library_writes_never_follow_a_link_even_past_the_upfront_check(store, outside, monkeypatch):
    """The file operations themselves refuse links (a link made after the check, say)."""
    import oof_store._writing as W

    _link_model_dir(store, "m02", outside)
    before = sorted(os.listdir(outside))
    monkeypatch.setattr(W, "refuse_links", lambda *a, **k: None, raising=False)  # check gone
    rows = np.flatnonzero(store.folds == 0)
    with pytest.raises(SymlinkError, match="symbolic link"):
        store.write_block("oof", "m02", 0, 0, store.ids[rows], np.zeros((len(rows), 3)),
                          overwrite=True)
    store.remove_model("m02")  # without the check: the link itself is removed, not its files
    assert not os.path.lexists(os.path.join(store.uri, "preds/split=oof/model=m02"))
    _sentinel_intact(outside)
    assert sorted(os.listdir(outside)) == before


def test_rm_of_a_model_linked_outside_deletes_nothing_outside(store, outside, capsys):
    _link_model_dir(store, "m00", outside)
    assert oof(["rm", store.uri, "--model", "m00"]) == 2
    assert "symbolic link" in capsys.readouterr().err
    _sentinel_intact(outside)
    assert len(os.listdir(outside)) > 1


def test_a_lock_file_linked_to_a_user_file_is_never_truncated(store, outside):
    lock = os.path.join(store.uri, "models", ".lock-m00")
    if os.path.exists(lock):
        os.remove(lock)
    os.symlink(outside / "thesis.txt", lock)
    rows = np.flatnonzero(store.folds == 1)
    with pytest.raises(SymlinkError, match=r"\.lock-m00 is a symbolic link"):
        store.write_block("oof", "m00", 1, 0, store.ids[rows], np.zeros((len(rows), 3)),
                          overwrite=True)
    _sentinel_intact(outside)


def test_a_models_folder_linked_outside_is_refused(store, outside, tmp_path):
    models = os.path.join(store.uri, "models")
    shutil.copytree(models, outside / "models")
    shutil.rmtree(models)
    os.symlink(outside / "models", models)
    rows = np.flatnonzero(store.folds == 1)
    with pytest.raises(SymlinkError, match="models is a symbolic link"):
        store.write_block("oof", "new", 1, 0, store.ids[rows], np.zeros((len(rows), 3)))
    _sentinel_intact(outside)
    assert not glob.glob(str(outside / "models" / "*new*"))


def test_a_record_that_is_a_link_is_replaced_or_removed_never_written_through(store, outside):
    """A link in a file's own place: the rename replaces the link, the delete removes it."""
    (outside / "record.json").write_text("{}\n")
    pending = os.path.join(store.uri, "models", ".pending-m00.json")
    os.symlink(outside / "record.json", pending)  # a pending record that is a link
    rows = np.flatnonzero(store.folds == 2)
    store.write_block("oof", "m00", 2, 0, store.ids[rows], np.zeros((len(rows), 3)), overwrite=True)
    assert (outside / "record.json").read_text() == "{}\n"
    assert os.path.isfile(pending)
    assert not os.path.islink(pending)
    store.finish_model("m00", overwrite=True)
    os.symlink(outside / "record.json", pending)
    store.finish_model("m00", overwrite=True)  # deletes the pending record: the link itself
    assert not os.path.lexists(pending)
    assert (outside / "record.json").read_text() == "{}\n"
    _sentinel_intact(outside)


# ----------------------------------------------------------------------------- 2: cache
def _user_npy_folder(outside, n: int = 20) -> list[str]:
    names = []
    for i in range(n):
        # names like the store's own entries: 40 hex digits
        name = f"{i:040x}.npy"
        np.save(outside / name, np.arange(i + 1))
        names.append(name)
    return names


def test_a_cache_linked_to_a_user_folder_is_never_used_or_evicted(store, outside, monkeypatch):
    names = _user_npy_folder(outside)
    os.symlink(outside, os.path.join(store.uri, CACHE_DIR))
    monkeypatch.setattr("oof_store._cache.CACHE_KEEP", 2)  # evict hard
    s = Store(store.uri)
    for tta in ("all", "mean", 0):
        for output in ("raw", "probs", "logits"):
            s.load_oof(tta=tta, output=output)
            s.load_oof(["m00"], tta=tta, output=output)
    _sentinel_intact(outside)
    assert sorted(n for n in os.listdir(outside) if n.endswith(".npy")) == names
    problems = s.validate()
    assert len(problems) == 1
    assert "symbolic link" in problems[0]
    assert CACHE_DIR in problems[0]


def test_blend_search_with_a_linked_cache_deletes_nothing(store, outside, tmp_path):
    from blend.cli import main as blend

    names = _user_npy_folder(outside)
    os.symlink(outside, os.path.join(store.uri, CACHE_DIR))
    assert blend(["search", store.uri, "--metric", "logloss", "--json",
                  str(tmp_path / "s.json")]) == 0
    _sentinel_intact(outside)
    assert sorted(n for n in os.listdir(outside) if n.endswith(".npy")) == names


def test_cache_eviction_spares_files_the_store_did_not_name(store, monkeypatch):
    """Even in a real .cache folder, only the store's own entries are ever evicted."""
    folder = os.path.join(store.uri, CACHE_DIR)
    os.makedirs(folder, exist_ok=True)
    keep = os.path.join(folder, "my-notes.npy")
    np.save(keep, np.arange(3))
    monkeypatch.setattr("oof_store._cache.CACHE_KEEP", 1)
    s = Store(store.uri)
    for output in ("raw", "probs", "logits"):
        s.load_oof(output=output)
    assert os.path.exists(keep)
    assert len(glob.glob(os.path.join(folder, "*.npy"))) == 2  # its one entry + the user's file


# ----------------------------------------------------------------------------- 11: names
@pytest.mark.parametrize("name", ["x\n", "x\ny", "a/b", "a\\b", "x\r", "x\t", "tab\x07", "../m00",
                                  "x ", "é"])
def test_model_names_with_control_characters_or_separators_are_refused(store, name):
    rows = np.flatnonzero(store.folds == 0)
    with pytest.raises(StoreError, match="is not allowed"):
        store.write_block("oof", name, 0, 0, store.ids[rows], np.zeros((len(rows), 3)))
    assert store.models(include_incomplete=True) == ["m00", "m01", "m02"]


def test_oof_import_of_a_model_named_with_a_newline_is_refused(store, tmp_path, capsys):
    csv = _oof_csv(store, tmp_path / "p.csv")
    assert oof(["import", store.uri, "--model", "x\n", "--split", "oof", "--file", csv,
                "--kind", "logits"]) == 2
    assert "is not allowed" in capsys.readouterr().err
    assert oof(["ls", store.uri, "--json"]) == 0
    assert '"x' not in capsys.readouterr().out


# ----------------------------------------------------------------------------- 6: targets
def _targets_csv(tmp_path, target, name="train.csv") -> str:
    n = len(target)
    df = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "target": target,
                       "fold": np.arange(n) % 4})
    df.to_csv(tmp_path / name, index=False)
    return str(tmp_path / name)


@pytest.mark.parametrize("task", [None, "regression"])
def test_an_infinite_target_is_refused_at_init(tmp_path, capsys, task):
    y = np.linspace(0.1, 9.9, 80)
    y[17] = np.inf
    args = ["init", str(tmp_path / "s"), "--targets", _targets_csv(tmp_path, y), "--id", "id",
            "--target", "target", "--fold", "fold"] + (["--task", task] if task else [])
    assert oof(args) == 2
    err = capsys.readouterr().err
    assert "infinite or implausibly large" in err
    assert "'r17'" in err
    assert not os.path.exists(tmp_path / "s" / "store.json")


def test_a_stray_non_integer_label_does_not_turn_classes_into_regression(tmp_path, capsys):
    y = np.tile([0.0, 1.0], 40)
    y[5] = 1.5
    csv = _targets_csv(tmp_path, y)
    base = ["init", str(tmp_path / "s"), "--targets", csv, "--id", "id", "--target", "target",
            "--fold", "fold"]
    assert oof(base) == 2
    err = capsys.readouterr().err
    assert "looks like class labels [0, 1]" in err
    assert "[1.5]" in err
    assert "'r5'" in err
    assert "--task" in err
    assert oof([*base, "--task", "regression"]) == 0  # said explicitly: fine
    assert Store(tmp_path / "s").task == "regression"


def test_real_regression_targets_are_still_inferred(tmp_path):
    y = np.round(np.random.default_rng(0).normal(size=80), 2)
    s = Store.create(tmp_path / "s", pd.read_csv(_targets_csv(tmp_path, y)), id_col="id")
    assert s.task == "regression"


def _rewrite_targets(store: Store, n_changed: int) -> None:
    t = store.targets.copy()
    rows = np.arange(n_changed)
    names = store.class_names
    t.loc[rows, "target"] = [names[(names.index(v) + 1) % len(names)] for v in t.loc[rows, "target"]]
    t.to_parquet(os.path.join(store.uri, "targets.parquet"), index=False)


def test_targets_with_labels_changed_fail_validate_and_load(store, capsys):
    _rewrite_targets(store, 100)  # ids and folds kept: the fingerprint alone passes it
    assert oof(["validate", store.uri]) == 2
    err = capsys.readouterr().err
    assert "targets.parquet fails its checksum" in err
    with pytest.raises(StoreError, match="targets.parquet fails its checksum"):
        Store(store.uri).load_oof()


def test_test_ids_rewritten_fail_validate(store):
    ids = pd.DataFrame({"id": [f"x{i}" for i in range(30)]})
    ids.to_parquet(os.path.join(store.uri, "test.parquet"), index=False)
    problems = Store(store.uri).validate()
    assert any("test.parquet fails its checksum" in p for p in problems), problems


def _as_older_store(uri: str) -> None:
    """Drop the checksums a store of the previous release did not have."""
    meta_path = os.path.join(uri, "store.json")
    meta = json.load(open(meta_path))
    meta.pop("checksums")
    json.dump(meta, open(meta_path, "w"))
    for path in glob.glob(os.path.join(uri, "models", "*.json")):
        man = json.load(open(path))
        man.pop("checksum")
        for entry in man["blocks"].values():
            entry.pop("origin")
        json.dump(man, open(path, "w"))


def test_an_older_store_opens_with_a_note_and_its_next_write_adds_the_checksums(store, capsys):
    _as_older_store(store.uri)
    old = Store(store.uri)
    assert old.validate() == []
    notes = old.notes()
    assert len(notes) == 2
    assert "no checksum" in notes[0]
    assert "m00, m01, m02" in notes[1]
    assert oof(["validate", store.uri]) == 0
    assert "note: targets.parquet and test.parquet have no checksum" in capsys.readouterr().err
    rows = np.flatnonzero(old.folds == 0)
    old.write_block("oof", "m01", 0, 0, old.ids[rows], np.zeros((len(rows), 3)), overwrite=True)
    old.finish_model("m01", overwrite=True)
    again = Store(store.uri)
    assert "checksums" in again.meta
    assert again.validate() == []
    assert again.notes() == [
        "2 manifest(s) have no checksum (written by an earlier version): m00, m02; an edit of "
        "their fields is caught only where a field check sees it. Each model's next write adds it"
    ]


def test_an_older_store_with_changed_targets_is_not_blessed_by_the_upgrade(store):
    _as_older_store(store.uri)
    t = Store(store.uri).targets.copy()
    t["fold"] = (t["fold"] + 1) % 4  # other folds: the fingerprint catches it
    t.to_parquet(os.path.join(store.uri, "targets.parquet"), index=False)
    with Store(store.uri).transaction("m00"):
        pass  # a write: would record the checksums, but not of targets that changed
    assert "checksums" not in Store(store.uri).meta
    assert any("does not match the fingerprint" in p for p in Store(store.uri).validate())


# ----------------------------------------------------------------------------- 7: manifests
@pytest.fixture
def probs_store(tmp_path):
    return synthetic.make_store(tmp_path / "p", kind="probs", n_models=3, n_rows=200,
                                n_classes=3, n_folds=4, n_test=30, seed=4)


def _edit(uri: str, rel: str, **fields) -> None:
    path = os.path.join(uri, rel)
    obj = json.load(open(path))
    obj.update(fields)
    json.dump(obj, open(path, "w"), indent=2)


def test_a_manifest_kind_edited_from_probs_to_logits_is_caught(probs_store, capsys):
    _edit(probs_store.uri, "models/m01.json", kind="logits")
    assert oof(["validate", probs_store.uri]) == 2
    err = capsys.readouterr().err
    assert "m01.json: its contents do not match its checksum" in err
    with pytest.raises(StoreError, match="do not match its checksum"):
        Store(probs_store.uri).load_oof(["m01"], output="probs")
    Store(probs_store.uri).load_oof(["m00", "m02"])  # the others still load


def test_a_pending_record_edited_is_caught(probs_store):
    s = probs_store
    rows = np.flatnonzero(s.folds == 0)
    p = np.full((len(rows), 3), 1 / 3)
    s.write_block("oof", "half", 0, 0, s.ids[rows], p)
    with s.transaction("half") as tx:
        tx.pending_extra.update(kind="probs")
    _edit(s.uri, "models/.pending-half.json", kind="logits")
    with pytest.raises(StoreError, match="do not match its checksum"):
        s.write_block("oof", "half", 1, 0, s.ids[s.folds == 1], p[: int((s.folds == 1).sum())])
    assert any("do not match its checksum" in x for x in Store(s.uri).validate())


def test_blend_search_names_the_models_it_skips(tmp_path, capsys):
    from blend.cli import main as blend

    s = synthetic.make_store(tmp_path / "p", kind="probs", n_models=4, n_rows=200, n_classes=3,
                             n_folds=4, n_test=30, seed=4)
    os.remove(os.path.join(s.uri, "models", "m01.json"))  # a deleted manifest
    _edit(s.uri, "models/m02.json", kind="logits")  # an edited one
    out = tmp_path / "s.json"
    assert blend(["search", s.uri, "--metric", "logloss", "--json", str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped model 'm01': no manifest" in err
    assert "skipped model 'm02'" in err
    assert "do not match its checksum" in err
    used = {m for r in json.load(open(out))["results"] for m in r["models"]}
    assert used == {"m00", "m03"}


# ----------------------------------------------------------------------------- 8: magnitudes
def _huge(store: Store, rows: np.ndarray) -> np.ndarray:
    v = np.where(np.random.default_rng(0).random((len(rows), 3)) > 0.5, 3e38, -3e38)
    return v.astype(np.float32)


def test_logits_whose_softmax_overflows_are_refused_on_write(store):
    rows = np.flatnonzero(store.folds == 0)
    with pytest.raises(StoreError, match=r"beyond \+-1e\+30 .* softmax, mean or sum of them overflows"):
        store.write_block("oof", "big", 0, 0, store.ids[rows], _huge(store, rows))
    assert "big" not in store.models(include_incomplete=True)


def test_oof_import_of_huge_logits_is_refused_before_writing(store, tmp_path, capsys):
    df = pd.DataFrame(_huge(store, np.arange(len(store.ids))), columns=store.class_names)
    df.insert(0, "id", store.ids)
    df.to_csv(tmp_path / "big.csv", index=False)
    assert oof(["import", store.uri, "--model", "big", "--split", "oof", "--file",
                str(tmp_path / "big.csv"), "--kind", "logits"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "big.csv: model 'big', split oof" in err
    assert "overflows" in err
    assert "big" not in store.models(include_incomplete=True)


def test_huge_values_written_behind_the_checks_fail_validate_and_load(store, monkeypatch, tmp_path):
    from oof_store._blocks import _BlockChecks

    monkeypatch.setattr(_BlockChecks, "check_magnitude", lambda *a, **k: None)
    with store.transaction("big") as tx:
        for f in store.fold_ids:
            rows = np.flatnonzero(store.folds == f)
            tx.write_block("oof", f, 0, store.ids[rows], _huge(store, rows))
        tx.finish_model(kind="logits")
    monkeypatch.undo()
    problems = Store(store.uri).validate()
    assert len(problems) == 4
    assert all("overflows" in p for p in problems)
    with pytest.raises(StoreError, match="overflows"):
        Store(store.uri).load_oof(["big"], output="probs")
    assert oof(["export", store.uri, "--model", "big", "--to", str(tmp_path / "x.csv"),
                "--output", "probs"]) == 2
    assert not os.path.exists(tmp_path / "x.csv")


# ----------------------------------------------------------------------------- 10: mixes
def _fold_write(store: Store, monkeypatch, who: str, fold: int, value: float) -> None:
    monkeypatch.setenv("OOF_STORE_SESSION", who)
    rows = np.flatnonzero(store.folds == fold)
    store.write_block("oof", "m00", fold, 0, store.ids[rows], np.full((len(rows), 3), value),
                      overwrite=True)
    store.finish_model("m00", overwrite=True)


def test_two_interleaved_per_fold_sequences_are_named(store, monkeypatch):
    for who, fold in [("B", 0), ("A", 0), ("B", 1), ("B", 2), ("B", 3)]:  # folds A B B B
        _fold_write(store, monkeypatch, who, fold, 1.0 if who == "A" else 2.0)
    problems = Store(store.uri).validate()
    assert len(problems) == 1
    assert problems[0].startswith("model 'm00' mixes blocks of 2 writers whose writes interleaved")
    assert "oof/0/0 by write_block (session A" in problems[0]
    assert "oof/1/0, oof/2/0, oof/3/0 by write_block (session B" in problems[0]


def test_sequences_one_after_the_other_are_not_a_mix(store, monkeypatch):
    for who, fold in [("A", 0), ("A", 1), ("B", 2), ("B", 3), ("C", 0)]:
        _fold_write(store, monkeypatch, who, fold, 1.0)
    assert Store(store.uri).validate() == []
    assert Store(store.uri).writer_mix("m00") is None


def test_two_shell_loops_of_oof_import_that_interleave_are_named(store, tmp_path):
    """End to end: two real shells, each a loop of `oof import --fold k --overwrite`."""
    import subprocess
    import sys

    for who in ("a", "b"):
        for f in store.fold_ids:
            rows = np.flatnonzero(store.folds == f)
            df = pd.DataFrame(np.full((len(rows), 3), 1.0 if who == "a" else 2.0),
                              columns=store.class_names)
            df.insert(0, "id", store.ids[rows])
            df.to_csv(tmp_path / f"{who}{f}.csv", index=False)
    env = {k: v for k, v in os.environ.items() if k != "OOF_STORE_SESSION"}
    env["PYTHONPATH"] = os.getcwd()
    shells = {w: subprocess.Popen(["bash"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=env) for w in "ab"}

    def step(who: str, fold: int) -> str:
        sh = shells[who]
        sh.stdin.write(f"{sys.executable} -m oof_store.cli import {store.uri} --model m00 "
                       f"--split oof --file {tmp_path}/{who}{fold}.csv --fold {fold} "
                       f"--kind logits --overwrite; echo done-$?\n")
        sh.stdin.flush()
        lines = []
        while not (line := sh.stdout.readline()).startswith("done-"):
            lines.append(line)
        assert line.strip() == "done-0", "".join(lines)
        return " ".join("".join(lines).split())

    try:
        step("b", 0)
        step("a", 0)  # shell a starts its loop, then falls behind
        step("b", 1)
        step("b", 2)
        said = step("b", 3)
    finally:
        for sh in shells.values():
            sh.stdin.close()
            sh.wait(timeout=30)
    assert "warning: model 'm00' mixes blocks of 2 writers whose writes interleaved" in said
    problems = Store(store.uri).validate()
    assert len(problems) == 1
    assert "oof/0/0 by import" in problems[0]
    oof_ = Store(store.uri).load_oof(["m00"]).preds[0, 0]
    assert set(np.unique(oof_)) == {1.0, 2.0}  # the mix really is there


# ----------------------------------------------------------------------------- 3: outputs
def test_oof_export_into_the_store_is_refused(store, tmp_path, capsys):
    before = open(os.path.join(store.uri, "store.json")).read()
    for target in ("store.json", "models/m00.json", "preds/x.csv"):
        assert oof(["export", store.uri, "--model", "m00", "--to",
                    os.path.join(store.uri, target)]) == 2
        assert "is inside the OOF store" in capsys.readouterr().err
    link = tmp_path / "looks-outside.csv"  # a link leading into the store counts as inside
    os.symlink(os.path.join(store.uri, "store.json"), link)
    assert oof(["export", store.uri, "--model", "m00", "--to", str(link)]) == 2
    assert open(os.path.join(store.uri, "store.json")).read() == before
    assert Store(store.uri).validate() == []
    assert oof(["export", store.uri, "--model", "m00", "--to", str(tmp_path / "ok.csv")]) == 0


def test_check_output_path_finds_the_store_above_a_path_that_does_not_exist_yet(store, tmp_path):
    from oof_common.outputs import check_output_path, store_containing

    assert store_containing(os.path.join(store.uri, "new", "deeper", "x.json")) == os.path.realpath(
        store.uri)
    assert store_containing(tmp_path / "x.json") is None
    assert store_containing("s3://bucket/store/store.json") is None
    with pytest.raises(ValueError, match="--json .* is inside the OOF store"):
        check_output_path(os.path.join(store.uri, "models"), "--json")

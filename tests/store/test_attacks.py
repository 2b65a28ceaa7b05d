"""Attacks on a store: links out of it, inputs read as something else, edits behind its back.

Each case is one of issue 23's findings. The link cases keep a sentinel file outside the
store that must survive (and keep its bytes) whatever the command does.
"""

from __future__ import annotations

import glob
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
    assert "symbolic link" in err and "model=m01" in err
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
    assert os.path.isfile(pending) and not os.path.islink(pending)  # renamed over the link
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
    assert len(problems) == 1 and "symbolic link" in problems[0] and CACHE_DIR in problems[0]


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

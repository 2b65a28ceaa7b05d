"""Integrity: checksums, atomic overwrite, one writer per model, old stores, the cache."""

from __future__ import annotations

import glob
import json
import os
import shutil

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oof_store import (
    ConcurrentWriteError,
    CorruptFileError,
    Store,
    StoreError,
    synthetic,
)
from oof_store._fs import FS
from oof_store.cli import main as oof
from oof_store.importing import import_predictions


def _flip_float_byte(path: str) -> None:
    """Flip one byte in the middle of the first class column's data (not the ids, not the footer)."""
    meta = pq.ParquetFile(path).metadata
    col = meta.row_group(0).column(1)  # column 0 is the id
    start = col.dictionary_page_offset or col.data_page_offset
    at = start + col.total_compressed_size // 2
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x40]))


def test_a_flipped_byte_in_a_block_is_caught_by_validate_and_load(small_store):
    assert small_store.validate() == []
    path = small_store.block_file("oof", "m02", 3, 1)
    _flip_float_byte(path)
    problems = small_store.validate()
    assert len(problems) == 1
    assert path in problems[0]
    assert "fails its checksum" in problems[0]
    with pytest.raises(CorruptFileError, match=rf"{path} fails its checksum"):
        Store(small_store.uri).load_oof(["m02"])
    # page checksums are written too: other Parquet readers that verify them see the damage
    with pytest.raises(OSError, match="CRC checksum verification failed"):
        pq.ParquetFile(path, page_checksum_verification=True).read()
    Store(small_store.uri).load_oof(["m00", "m01", "m03"])  # the others still load


def test_a_block_checked_once_is_not_hashed_again_until_it_changes(small_store, monkeypatch):
    from oof_store import _schema as S

    calls = []
    real = S.content_hash
    monkeypatch.setattr(S, "content_hash", lambda b: calls.append(len(b)) or real(b))
    monkeypatch.setenv("OOF_STORE_CACHE", "0")
    store = Store(small_store.uri)
    store.ids  # noqa: B018 - the targets file is checked against its own checksum once
    calls.clear()
    store.load_oof(["m01"])
    n_first = len(calls)
    assert n_first == 5 * 2  # folds x views, each hashed once
    store.load_oof(["m01"])
    assert len(calls) == n_first
    _flip_float_byte(store.block_file("oof", "m01", 0, 0))  # new mtime: hashed again, and caught
    with pytest.raises(CorruptFileError, match="fails its checksum"):
        store.load_oof(["m01"])


def test_a_tampered_cache_entry_is_never_served(small_store):
    truth = small_store.load_oof(["m00", "m01"]).preds  # builds the cache entry
    (entry,) = glob.glob(os.path.join(small_store.uri, ".cache", "*.npy"))
    arr = np.load(entry)
    arr[0, 0, 0, 0] += 1000.0
    np.save(entry, arr)  # a valid .npy, but not the one whose hash was recorded
    problems = small_store.validate()
    assert len(problems) == 1
    assert entry in problems[0]
    assert "never served" in problems[0]
    again = Store(small_store.uri).load_oof(["m00", "m01"]).preds
    np.testing.assert_array_equal(again, truth)
    assert small_store.validate() == []  # rebuilt
    os.remove(entry + ".check")
    assert any("checksum file is missing" in p for p in small_store.validate())
    np.testing.assert_array_equal(Store(small_store.uri).load_oof(["m00", "m01"]).preds, truth)


@pytest.fixture(params=["path", "file-uri"])
def any_store(request, small_store):
    """The small store opened by path, and through a ``file://`` URI (pyarrow.fs)."""
    return small_store if request.param == "path" else Store(f"file://{small_store.uri}")


def test_a_second_writer_of_the_same_model_is_refused(any_store):
    small_store = any_store
    rows = np.flatnonzero(small_store.folds == 0)
    other = Store(small_store.uri)
    with small_store.transaction("m00", "import") as tx:
        tx.write_block("oof", 0, 0, small_store.ids[rows], np.zeros((len(rows), 3)), overwrite=True)
        with pytest.raises(ConcurrentWriteError, match=r"model 'm00' is being written by .*import by pid"):
            other.write_block("oof", "m00", 0, 0, small_store.ids[rows], np.ones((len(rows), 3)),
                              overwrite=True)
        with pytest.raises(ConcurrentWriteError, match="being written"):
            other.remove_model("m00")
        other.write_block("oof", "m01", 0, 0, small_store.ids[rows], np.ones((len(rows), 3)),
                          overwrite=True)  # another model: fine
        tx.finish_model(overwrite=True)
    np.testing.assert_array_equal(other.load_oof("m00").preds[0, 0, rows], 0.0)
    other.write_block("oof", "m00", 0, 0, small_store.ids[rows], np.ones((len(rows), 3)),
                      overwrite=True)  # the lock is free again


def test_a_commit_over_another_writers_commit_is_refused(small_store):
    """Where there is no lock (object stores), the generation check at commit stands in."""
    with small_store.transaction("m00") as tx:
        man = small_store.manifest("m00")
        small_store._fs.write_json("models/m00.json", {**man, "generation": "someone-else"})
        with pytest.raises(ConcurrentWriteError, match="changed by another writer"):
            tx.finish_model(overwrite=True)


def test_an_overwrite_that_fails_half_way_leaves_the_old_model_whole(any_store, monkeypatch):
    small_store = any_store
    root = small_store.uri.removeprefix("file://")
    before = small_store.load_oof(["m00"], tta=0).preds
    files_before = sorted(glob.glob(f"{root}/preds/*/model=m00/**/*.parquet", recursive=True))
    new = pd.DataFrame(np.full((600, 3), 1 / 3), columns=small_store.class_names)
    new.insert(0, "id", small_store.ids)
    real, calls = FS.put_bytes, []

    def failing(self, rel, payload):
        calls.append(rel)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, rel, payload)

    monkeypatch.setattr(FS, "put_bytes", failing)
    with pytest.raises(OSError, match="disk full"):
        import_predictions(small_store, "m00", "oof", new, kind="logits", overwrite=True)
    monkeypatch.setattr(FS, "put_bytes", real)
    np.testing.assert_array_equal(Store(small_store.uri).load_oof(["m00"], tta=0).preds, before)
    after = sorted(glob.glob(f"{root}/preds/*/model=m00/**/*.parquet", recursive=True))
    assert after == files_before  # the two blocks written were deleted again
    assert small_store.validate() == []
    import_predictions(small_store, "m00", "oof", new, kind="logits", overwrite=True)
    got = Store(small_store.uri).load_oof(["m00"], tta=0).preds
    np.testing.assert_allclose(got, 1 / 3, rtol=1e-6)
    assert small_store.validate() == []
    # the replaced generation is gone from disk
    left = glob.glob(f"{root}/preds/split=oof/model=m00/fold=0/tta=0/*")
    assert len(left) == 1


def _as_version_1(uri: str) -> None:
    """Rewrite a store as format version 1 wrote it: part-0.parquet, no block records."""
    for man_path in glob.glob(f"{uri}/models/*.json"):
        if os.path.basename(man_path).startswith("."):
            continue
        man = json.load(open(man_path))
        for entry in man.pop("blocks").values():
            src = os.path.join(uri, entry["file"])
            os.replace(src, os.path.join(os.path.dirname(src), "part-0.parquet"))
        man.pop("generation")
        man.pop("checksum", None)  # version 1 had no record checksums
        man["format_version"] = 1
        json.dump(man, open(man_path, "w"))
    meta = json.load(open(f"{uri}/store.json"))
    meta.pop("checksums", None)
    json.dump({**meta, "format_version": 1}, open(f"{uri}/store.json", "w"))


def test_a_version_1_store_is_read_and_upgraded_by_its_first_write(tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=2, n_rows=90, n_classes=3, n_folds=3,
                                 n_test=20, n_tta=2, seed=3)
    truth = store.load_oof().preds
    test_truth = store.load_test().preds
    _as_version_1(store.uri)
    old = Store(store.uri)
    assert old.meta["format_version"] == 1
    np.testing.assert_array_equal(old.load_oof().preds, truth)
    np.testing.assert_array_equal(old.load_test().preds, test_truth)
    assert old.validate() == []
    rows = np.flatnonzero(old.folds == 0)
    old.write_block("oof", "m00", 0, 1, old.ids[rows], np.zeros((len(rows), 3)), overwrite=True)
    old.finish_model("m00", overwrite=True)
    assert json.load(open(f"{store.uri}/store.json"))["format_version"] == 2
    again = Store(store.uri)
    assert set(again.manifest("m00")["blocks"]) >= {"oof/0/0", "oof/0/1", "test/2/1"}
    got = again.load_oof().preds
    np.testing.assert_array_equal(got[0, 1, rows], 0.0)
    np.testing.assert_array_equal(got[1], truth[1])
    assert again.validate() == []


def test_a_store_from_a_newer_version_says_so(small_store):
    meta = json.load(open(f"{small_store.uri}/store.json"))
    json.dump({**meta, "format_version": 3}, open(f"{small_store.uri}/store.json", "w"))
    with pytest.raises(StoreError, match=r"format version 3; this version of oof_store reads "
                                         r"versions \[1, 2\]: upgrade oof-blend"):
        Store(small_store.uri)


def test_copying_a_store_keeps_it_valid(small_store, tmp_path):
    small_store.load_oof()
    dst = shutil.copytree(small_store.uri, tmp_path / "copy")
    assert Store(dst).validate() == []
    assert oof(["validate", str(dst)]) == 0


def test_a_reader_overtaken_by_a_commit_reads_the_new_model_whole(small_store, monkeypatch):
    from oof_store._reading import _Reader

    monkeypatch.setenv("OOF_STORE_CACHE", "0")
    rows = np.flatnonzero(small_store.folds == 0)
    real, seen = _Reader._read_block_bytes, []

    def overtaken(self, *args, **kwargs):
        if not seen:  # the reader has the old manifest; a writer commits and collects it now
            seen.append(1)
            writer = Store(small_store.uri)
            writer.write_block("oof", "m03", 0, 0, small_store.ids[rows],
                               np.full((len(rows), 3), 5.0), overwrite=True)
            writer.finish_model("m03", overwrite=True)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(_Reader, "_read_block_bytes", overtaken)
    got = Store(small_store.uri).load_oof(["m03"], tta=0).preds
    np.testing.assert_array_equal(got[0, 0, rows], 5.0)  # the new model, not a mix


def test_an_incomplete_version_1_model_keeps_its_folds_after_the_upgrade(tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=1, n_rows=90, n_classes=3, n_folds=3,
                                 seed=4)
    truth = store.load_oof().preds[0, 0]
    _as_version_1(store.uri)
    # version 1 wrote a model being built as bare block files: make 'part' hold folds 0 and 1
    for f in (0, 1):
        src = f"{store.uri}/preds/split=oof/model=m00/fold={f}/tta=0/part-0.parquet"
        dst = f"{store.uri}/preds/split=oof/model=part/fold={f}/tta=0"
        os.makedirs(dst)
        shutil.copy(src, dst)
    old = Store(store.uri)
    assert old.blocks("part") == [("oof", 0, 0), ("oof", 1, 0)]
    rows = np.flatnonzero(old.folds == 2)
    old.write_block("oof", "part", 2, 0, old.ids[rows], truth[rows])  # upgrades the store
    assert Store(store.uri).meta["format_version"] == 2
    problems = Store(store.uri).validate()
    assert len(problems) == 1
    assert "model 'part' is incomplete (no manifest; 3 block(s) written)" in problems[0]
    Store(store.uri).finish_model("part", kind="logits")
    again = Store(store.uri)
    np.testing.assert_array_equal(again.load_oof(["part"]).preds[0, 0], truth)
    assert all(e["sha256"] for e in again.manifest("part")["blocks"].values())
    assert again.validate() == []


@settings(max_examples=25)
@given(fail_at=st.integers(min_value=0, max_value=12), seed=st.integers(0, 2**16))
def test_an_import_failing_at_any_write_commits_all_or_nothing(tmp_path_factory, fail_at, seed):
    """Property: whichever write fails (0 = none), the model equals the old or the new file."""
    root = tmp_path_factory.mktemp("prop")
    store = synthetic.make_store(root / "s", n_models=1, n_rows=40, n_classes=3, n_folds=3,
                                 n_test=5, seed=seed % 7)
    old = store.load_oof().preds
    rng = np.random.default_rng(seed)
    new = pd.DataFrame(rng.normal(size=(40, 3)).astype(np.float32), columns=store.class_names)
    new.insert(0, "id", store.ids)
    real, calls = FS.put_bytes, []

    def flaky(self, rel, payload):
        calls.append(rel)
        if len(calls) == fail_at:
            raise OSError("injected failure")
        return real(self, rel, payload)

    FS.put_bytes = flaky
    try:
        import_predictions(store, "m00", "oof", new, kind="logits", overwrite=True)
        failed = False
    except OSError:
        failed = True
    finally:
        FS.put_bytes = real
    got = Store(store.uri).load_oof().preds
    if failed:
        np.testing.assert_array_equal(got, old)
    else:
        np.testing.assert_array_equal(got[0, 0], new[store.class_names].to_numpy())
    assert Store(store.uri).validate() == []


def test_a_checkpointed_long_write_keeps_its_folds_and_the_model_to_itself(small_store):
    rows = {f: np.flatnonzero(small_store.folds == f) for f in small_store.fold_ids}

    def killed_run():
        with small_store.transaction("long") as tx:
            for f in (0, 1):
                tx.write_block("oof", f, 0, small_store.ids[rows[f]],
                               np.full((len(rows[f]), 3), f))
                tx.checkpoint()
            tx.write_block("oof", 2, 0, small_store.ids[rows[2]], np.zeros((len(rows[2]), 3)))
            with pytest.raises(ConcurrentWriteError, match="being written"):
                Store(small_store.uri).write_block("oof", "long", 3, 0, small_store.ids[rows[3]],
                                                   np.zeros((len(rows[3]), 3)))
            raise RuntimeError("killed after fold 2 was written, before its checkpoint")

    with pytest.raises(RuntimeError, match="killed"):
        killed_run()
    store = Store(small_store.uri)
    assert store.blocks("long") == [("oof", 0, 0), ("oof", 1, 0)]  # fold 2 was not recorded
    assert len(glob.glob(f"{small_store.uri}/preds/split=oof/model=long/**/*.parquet",
                         recursive=True)) == 2
    with store.transaction("long") as tx:  # the resumed run
        for f in (2, 3, 4):
            tx.write_block("oof", f, 0, store.ids[rows[f]], np.full((len(rows[f]), 3), f))
        tx.finish_model(kind="logits")
    got = store.load_oof("long").preds[0, 0]
    for f in small_store.fold_ids:
        np.testing.assert_array_equal(got[rows[f]], f)
    assert store.validate() == []

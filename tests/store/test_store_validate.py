"""`validate` and `oof validate`: every kind of damage is named, none gives a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil

import numpy as np
import pytest

from oof_store import CorruptFileError, Store, synthetic
from oof_store.cli import main as oof


@pytest.fixture
def store(tmp_path):
    """3 models x 2 views, 90 rows, 3 folds, 20 test rows."""
    return synthetic.make_store(tmp_path / "s", n_models=3, n_rows=90, n_classes=3, n_folds=3,
                                n_test=20, n_tta=2, seed=5)


def _edit_json(uri, rel, change):
    path = os.path.join(uri, rel)
    with open(path) as f:
        obj = json.load(f)
    obj = change(obj)
    with open(path, "w") as f:
        json.dump(obj, f)


def _manifest(field, value):
    return lambda uri: _edit_json(uri, "models/m01.json", lambda m: {**m, field: value})


def _link_block_outside(uri):
    man = json.load(open(os.path.join(uri, "models/m01.json")))
    path = os.path.join(uri, man["blocks"]["oof/1/0"]["file"])
    outside = os.path.join(os.path.dirname(uri), "elsewhere.parquet")
    shutil.copy(path, outside)
    os.remove(path)
    os.symlink(outside, path)


def _link_block_into_other_model(uri):
    man = json.load(open(os.path.join(uri, "models/m01.json")))
    theirs = json.load(open(os.path.join(uri, "models/m00.json")))["blocks"]["oof/1/0"]["file"]
    path = os.path.join(uri, man["blocks"]["oof/1/0"]["file"])
    os.remove(path)
    os.symlink(os.path.join(uri, theirs), path)


def _link_model_dir(uri):
    os.symlink(os.path.join(uri, "preds/split=oof/model=m00"),
               os.path.join(uri, "preds/split=oof/model=copy"))


def _entry_into_other_model(uri):
    theirs = json.load(open(os.path.join(uri, "models/m00.json")))["blocks"]["oof/2/1"]

    def change(m):
        m["blocks"]["oof/2/1"] = theirs
        return m

    _edit_json(uri, "models/m01.json", change)


def _drop_block_record(uri):
    def change(m):
        del m["blocks"]["oof/0/1"]
        return m

    _edit_json(uri, "models/m01.json", change)


def _corrupt_pending_block(uri):
    store = Store(uri)
    rows = np.flatnonzero(store.folds == 0)
    store.write_block("oof", "half", 0, 0, store.ids[rows], np.zeros((len(rows), 3)))
    with open(store.block_file("oof", "half", 0, 0), "r+b") as f:
        f.seek(40)
        f.write(b"\xff" * 4)


def _leftover_file(uri):
    d = os.path.join(uri, "preds/split=oof/model=m02/fold=0/tta=0")
    shutil.copy(os.path.join(d, os.listdir(d)[0]), os.path.join(d, "part-deadbeef.parquet"))


def _pending_rewrite(uri):
    store = Store(uri)
    rows = np.flatnonzero(store.folds == 2)
    store.write_block("oof", "m02", 2, 1, store.ids[rows], np.zeros((len(rows), 3)), overwrite=True)


# (damage, where it is caught, what the message says)
CASES = [
    ("store.json holds []", lambda u: _edit_json(u, "store.json", lambda m: []),
     "open", r"store.json holds list JSON \(\[\]\), not the object a store description is"),
    ("store.json task", lambda u: _edit_json(u, "store.json", lambda m: {**m, "task": "bogus"}),
     "open", r"task is 'bogus', not one of \['binary', 'multiclass'"),
    ("store.json class names", lambda u: _edit_json(u, "store.json", lambda m: {**m, "class_names": 3}),
     "open", r"class_names is 3, not a list of distinct strings"),
    ("manifest holds []", lambda u: _edit_json(u, "models/m01.json", lambda m: []),
     "validate", r"m01.json holds list JSON \(\[\]\), not the object a model manifest is"),
    ("manifest kind", _manifest("kind", "bogus"),
     "validate", r"m01.json: kind is 'bogus', not one of \['probs', 'logits', 'raw'\]"),
    ("manifest test folds", _manifest("test_folds", [7]),
     "validate", r"test_folds is \[7\]: each must be a store fold \[0, 1, 2\] or -1"),
    ("manifest class names", _manifest("class_names", ["a", "b", "c"]),
     "validate", r"class_names is \['a', 'b', 'c'\], the store's are \["),
    ("manifest name", _manifest("name", "m00"),
     "validate", r"name is 'm00', the file is that of model 'm01'"),
    ("manifest views", _manifest("tta_views", ["x", "x"]),
     "validate", r"tta_views is \['x', 'x'\], not a list of distinct view names"),
    ("manifest lacks a block", _drop_block_record,
     "validate", r"blocks lacks \['oof/0/1'\]"),
    ("manifest names another model's file", _entry_into_other_model,
     "validate", r"file 'preds/split=oof/model=m00/fold=2/tta=1/part-\w+.parquet' is not a block "
                 r"file of model 'm01'"),
    ("symlink out of the store", _link_block_outside,
     "validate", r"is a symbolic link to .*elsewhere.parquet, outside the store"),
    ("symlink into another model", _link_block_into_other_model,
     "validate", r"is a symbolic link into model 'm00': model 'm01' would share"),
    ("model directory linked", _link_model_dir,
     "validate", r"model=copy is a symbolic link into model 'm00'"),
    ("incomplete model's block damaged", _corrupt_pending_block,
     "validate", r"model 'half', split oof, fold 0, TTA view 0: .*(fails its checksum|cannot read)"),
    ("incomplete model lists what it misses", _corrupt_pending_block,
     "validate", r"model 'half' is incomplete \(no manifest; 1 block\(s\) written\): missing OOF "
                 r"blocks \(fold, TTA view\): \(1, none\), \(2, none\); no test predictions yet"),
    ("unreferenced file", _leftover_file,
     "validate", r"model 'm02': 1 file\(s\) no manifest or pending record names .*part-deadbeef"),
    ("pending blocks of a finished model", _pending_rewrite,
     "validate", r"model 'm02': 1 block\(s\) written but not committed \(oof/2/1\); readers still "
                 r"see the committed model"),
    ("targets changed behind the store's back",
     lambda u: shutil.copy(os.path.join(u, "test.parquet"), os.path.join(u, "targets.parquet")),
     "validate", r"targets.parquet (does not match the fingerprint|cannot be read|fails its checksum)"),
]


@pytest.mark.parametrize(("damage", "where", "message"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_validate_names_the_damage(store, damage, where, message, capsys):
    assert store.validate() == []
    damage(store.uri)
    if where == "open":
        with pytest.raises(CorruptFileError, match=message):
            Store(store.uri)
    else:
        problems = Store(store.uri).validate()
        assert any(re.search(message, p) for p in problems), problems
    capsys.readouterr()
    assert oof(["validate", store.uri]) == 2  # one clear report, no traceback
    err = capsys.readouterr().err
    assert re.search(message, err.replace("\n", " ")), err
    assert "Traceback" not in err


def test_a_broken_manifest_is_a_clear_error_on_load_too(store):
    _edit_json(store.uri, "models/m01.json", lambda m: {**m, "kind": "bogus"})
    with pytest.raises(CorruptFileError, match=r"m01.json: kind is 'bogus'.*oof rm"):
        Store(store.uri).load_oof(["m01"])
    Store(store.uri).load_oof(["m00", "m02"])
    _edit_json(store.uri, "models/m01.json", lambda m: "text")
    with pytest.raises(CorruptFileError, match="holds str JSON"):
        Store(store.uri).load_oof(["m01"])


def test_validate_lists_the_missing_views_and_test_folds_of_an_incomplete_model(store):
    rows = np.flatnonzero(store.folds == 1)
    with store.transaction("part") as tx:
        tx.write_block("oof", 1, 0, store.ids[rows], np.zeros((len(rows), 3)))
        tx.write_block("oof", 1, 1, store.ids[rows], np.zeros((len(rows), 3)))
        tx.write_block("test", 1, 0, store.test_ids, np.zeros((20, 3)))
        tx.pending_extra["tta_views"] = ["none", "hflip"]
    (msg,) = store.validate()
    assert msg == (
        "model 'part' is incomplete (no manifest; 3 block(s) written): missing OOF blocks "
        "(fold, TTA view): (0, none), (0, hflip), (2, none), (2, hflip); test fold 1 lacks "
        "view(s) ['hflip']"
    )


def test_oof_ls_shows_a_broken_manifest_as_one_red_row(store, capsys):
    _edit_json(store.uri, "models/m01.json", lambda m: [])
    capsys.readouterr()
    assert oof(["ls", store.uri, "--json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["m01"]["status"].startswith("error: ")
    assert "holds list JSON" in rows["m01"]["status"]
    assert rows["m00"]["status"] == "ok"

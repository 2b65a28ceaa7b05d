"""`train_image_model`: K-fold training writes complete OOF + test logits; resume; checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from base_models.image import ImageTrainerError, train_image_model
from oof_store import Store


def test_two_folds_one_epoch_write_complete_loadable_blocks_for_two_views(tiny, fast):
    man = train_image_model(
        str(tiny.store_uri),
        tiny.images,
        tiny.labels,
        tta="hflip",
        name="tiny_resnet",
        seed=3,
        **fast,
    )
    assert man["kind"] == "logits"
    assert man["tta_views"] == ["plain", "hflip"]
    assert man["source"] == "base-models image"
    p = man["params"]
    assert (p["arch"], p["img_size"], p["epochs"], p["seed"]) == ("test_resnet", 16, 1, 3)
    assert p["best_epoch"] == {"0": 1, "1": 1}

    store = Store(tiny.store_uri)
    assert store.models() == ["tiny_resnet"]
    assert store.validate() == []
    oof = store.load_oof(["tiny_resnet"], tta="all", output="raw")
    assert oof.preds.shape == (1, 2, 24, 3)
    assert np.isfinite(oof.preds).all()
    # the hflip view is a different input, so its logits differ from the plain view's
    assert not np.allclose(oof.preds[0, 0], oof.preds[0, 1])
    test = store.load_test(["tiny_resnet"], tta="all", folds="all", output="raw")
    assert test.preds.shape == (1, 2, 2, 6, 3)  # (models, folds, views, rows, classes)
    assert list(test.ids) == tiny.test_ids
    # the two fold models are different models
    assert not np.allclose(test.preds[0, 0], test.preds[0, 1])


def test_a_complete_model_is_not_trained_again(tiny, fast):
    first = train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="m", **fast)
    logs: list[str] = []
    again = train_image_model(
        tiny.store_uri, tiny.images, tiny.labels, name="m", log=logs.append, **fast
    )
    assert again["created"] == first["created"]
    assert any("already complete" in m for m in logs)
    with pytest.raises(ImageTrainerError, match="already has a model 'm' trained with other"):
        train_image_model(
            tiny.store_uri, tiny.images, tiny.labels, name="m", **{**fast, "epochs": 2}
        )


class _Killed(Exception):
    pass


def _kill_at(marker: str):
    def log(msg: str) -> None:
        if msg.startswith(marker):
            raise _Killed(msg)

    return log


def test_a_killed_run_resumes_skipping_finished_folds_and_matches_an_unbroken_run(
    tiny, fast, make_tiny_images
):
    kw = {**fast, "epochs": 2, "tta": "vflip", "name": "r"}
    # killed right after fold 1's first epoch was checkpointed; fold 0 is complete
    with pytest.raises(_Killed):
        train_image_model(
            tiny.store_uri, tiny.images, tiny.labels, log=_kill_at("fold 1 epoch 1/2"), **kw
        )
    store = Store(tiny.store_uri)
    assert store.has_block("oof", "r", 0, 1)
    assert not store.has_block("oof", "r", 1, 0)
    assert (tiny.store_uri.parent / "store.work" / "image" / "r" / "fold1.pt").is_file()
    mtimes = {p: p.stat().st_mtime_ns for p in tiny.store_uri.rglob("fold=0/**/*.parquet")}
    logs: list[str] = []
    man = train_image_model(tiny.store_uri, tiny.images, tiny.labels, log=logs.append, **kw)
    assert "fold 0: already complete in the store; skipped" in logs
    assert any(m.startswith("fold 1: resuming from epoch 2") for m in logs)
    assert not any(m.startswith("fold 1 epoch 1/2") for m in logs)
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert man["params"]["best_epoch"]["0"] in (1, 2)

    # the same settings without the interruption give the same logits
    other = make_tiny_images("unbroken")
    train_image_model(other.store_uri, other.images, other.labels, **kw)
    a = Store(tiny.store_uri).load_oof(["r"], tta="all", output="raw").preds
    b = Store(other.store_uri).load_oof(["r"], tta="all", output="raw").preds
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_resume_with_other_settings_is_refused(tiny, fast):
    with pytest.raises(_Killed):
        train_image_model(
            tiny.store_uri,
            tiny.images,
            tiny.labels,
            name="s",
            log=_kill_at("fold 0 epoch 1/1"),
            **fast,
        )
    with pytest.raises(ImageTrainerError, match="started with other settings.*--overwrite"):
        train_image_model(
            tiny.store_uri, tiny.images, tiny.labels, name="s", **{**fast, "lr": 0.01}
        )
    man = train_image_model(
        tiny.store_uri, tiny.images, tiny.labels, name="s", overwrite=True, **{**fast, "lr": 0.01}
    )
    assert man["params"]["lr"] == 0.01


# ---------------------------------------------------------------- bad inputs, each named


def _remove(path):
    path.unlink()


def _garble(path):
    path.write_bytes(b"this is not a png")


def _relabel(labels, row, value):
    df = pd.read_csv(labels, dtype=str)
    df.loc[row, "label"] = value
    df.to_csv(labels, index=False)


def _add_row(labels, id_, value):
    df = pd.read_csv(labels, dtype=str)
    pd.concat([df, pd.DataFrame({"image_id": [id_], "label": [value]})]).to_csv(labels, index=False)


BAD_INPUTS = [
    (
        "missing image",
        lambda t: _remove(t.images / "img005.png"),
        {},
        r"1 of 24 image\(s\) are missing in '.*images'.*'img005'",
    ),
    (
        "missing test image",
        lambda t: _remove(t.images / "test002.jpg"),
        {},
        r"1 of 6 image\(s\) are missing.*'test002'",
    ),
    (
        "unreadable image",
        lambda t: _garble(t.images / "img007.png"),
        {},
        r"1 image file\(s\) cannot be read: '.*img007.png'",
    ),
    (
        "label not a class",
        lambda t: _relabel(t.labels, 4, "emu"),
        {},
        r"1 label\(s\) in labels file '.*labels.csv' are not classes of the store "
        r"\(cat, dog, owl\): values 'emu' \(first ids 'img004'\)",
    ),
    (
        "label disagrees",
        lambda t: _relabel(t.labels, 0, "owl"),
        {},
        r"disagree with the store's targets, e.g. id 'img000' is 'owl' in the file and 'cat'",
    ),
    (
        "id not in store",
        lambda t: _add_row(t.labels, "stranger", "cat"),
        {},
        r"1 id\(s\) in labels file .* are not rows of the store: 'stranger'",
    ),
    (
        "store row without label",
        lambda t: _relabel_drop(t.labels, 3),
        {},
        r"1 store row\(s\) have no row in labels file .*'img003'",
    ),
    (
        "no such id column",
        None,
        {"id_col": "id"},
        r"has no column 'id' \(given as --id\); its columns are: image_id, label",
    ),
    (
        "unknown arch",
        None,
        {"arch": "resnet19"},
        r"unknown timm architecture 'resnet19'; close matches: .*resnet18",
    ),
    ("unknown view", None, {"tta": "hflip,flop"}, r"unknown TTA view 'flop'"),
    (
        "missing checkpoint",
        None,
        {"pretrained": "nowhere.pth"},
        r"checkpoint 'nowhere.pth' does not exist; pass --pretrained none",
    ),
    ("bad epochs", None, {"epochs": 0}, r"'epochs' parameter must be an integer >= 1; got 0"),
    ("bad smoothing", None, {"label_smoothing": 1.5}, r"'label_smoothing' parameter must be"),
    ("bad model name", None, {"name": "my model!"}, r"model name 'my model!' is not allowed"),
]


def _relabel_drop(labels, row):
    df = pd.read_csv(labels, dtype=str)
    df.drop(index=row).to_csv(labels, index=False)


@pytest.mark.parametrize(
    ("case", "spoil", "override", "message"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_named_before_any_training(tiny, fast, case, spoil, override, message):
    if spoil is not None:
        spoil(tiny)
    with pytest.raises(ValueError, match=message):
        train_image_model(tiny.store_uri, tiny.images, tiny.labels, **{**fast, **override})
    # nothing was trained or written
    assert Store(tiny.store_uri).models(include_incomplete=True) == []


def test_regression_store_is_refused(tmp_path, fast):
    uri = tmp_path / "reg"
    Store.create(
        uri,
        pd.DataFrame({"id": ["a", "b"], "y": [0.5, 1.5], "fold": [0, 1]}),
        target_cols="y",
        task="regression",
    )
    with pytest.raises(ImageTrainerError, match="needs a classification store.*'regression'"):
        train_image_model(uri, tmp_path, None, **fast)


def test_work_dir_sits_beside_the_store_and_is_cleaned_per_fold(tiny, fast):
    train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="w", **fast)
    wd = tiny.store_uri.parent / "store.work" / "image" / "w"
    assert sorted(p.name for p in wd.iterdir()) == ["fold0.json", "fold1.json", "run.json"]
    rec = json.loads((wd / "fold0.json").read_text())
    assert rec["best_epoch"] == 1
    assert len(rec["history"]) == 1


def test_overwrite_with_bad_input_keeps_the_existing_model(tiny, fast):
    train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="keep", **fast)
    (tiny.images / "img001.png").unlink()
    with pytest.raises(ImageTrainerError, match="missing"):
        train_image_model(
            tiny.store_uri, tiny.images, tiny.labels, name="keep", overwrite=True, **fast
        )
    assert Store(tiny.store_uri).models() == ["keep"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_refused(tiny, fast):
    with pytest.raises(ImageTrainerError, match="torch sees no CUDA GPU; use --device cpu"):
        train_image_model(tiny.store_uri, tiny.images, tiny.labels, **{**fast, "device": "cuda"})


def test_an_overwrite_holds_the_model_and_switches_it_at_once(tiny, fast):
    from oof_store import ConcurrentWriteError

    first = train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="o", **fast)
    old = Store(tiny.store_uri).load_oof(["o"], output="raw").preds
    seen = []

    def log(msg):
        if msg.startswith("fold ") and "skipped" not in msg:  # inside the run, after a fold's fit
            other = Store(tiny.store_uri)
            try:
                with other.transaction("o"):
                    refused = False
            except ConcurrentWriteError:
                refused = True
            seen.append((refused, other.load_oof(["o"], output="raw").preds))

    man = train_image_model(tiny.store_uri, tiny.images, tiny.labels, name="o", overwrite=True,
                            log=log, **{**fast, "lr": 0.05})
    assert len(seen) >= 2  # every fold logs while it trains
    for refused, preds in seen:
        assert refused  # one writer for the whole run
        np.testing.assert_array_equal(preds, old)  # readers see the old model, whole
    assert man["created"] != first["created"] or man["generation"] != first["generation"]
    store = Store(tiny.store_uri)
    assert not np.array_equal(store.load_oof(["o"], output="raw").preds, old)
    assert store.validate() == []

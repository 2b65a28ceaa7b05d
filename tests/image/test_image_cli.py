"""`base-models image` and `base-models digits-images` through the console entry."""

from __future__ import annotations

import pandas as pd
import pytest

from base_models.cli import main
from oof_store import Store


def test_digits_images_then_image_fills_the_store(tmp_path):
    out, uri = tmp_path / "digits", tmp_path / "store"
    code = main(
        [
            "digits-images",
            str(out),
            "--n",
            "60",
            "--size",
            "16",
            "--store",
            str(uri),
            "--folds",
            "2",
        ]
    )
    assert code == 0
    train = pd.read_csv(out / "train.csv")
    test = pd.read_csv(out / "test.csv")
    assert (len(train), len(test)) == (48, 12)
    assert sorted(p.name for p in (out / "images").iterdir())[:2] == [
        "digit_0000.png",
        "digit_0001.png",
    ]
    store = Store(uri)
    assert list(store.test_ids) == list(test["id"])

    code = main(
        [
            "image",
            str(uri),
            "--images",
            str(out / "images"),
            "--labels",
            str(out / "train.csv"),
            "--id",
            "id",
            "--label",
            "label",
            "--arch",
            "test_resnet",
            "--img-size",
            "16",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--tta",
            "hflip",
            "--name",
            "cnn",
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0
    store = Store(uri)
    assert store.manifest("cnn")["tta_views"] == ["plain", "hflip"]
    assert store.load_test(["cnn"], tta="all").preds.shape == (1, 2, 12, 10)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--arch", "resnet19"], "unknown timm architecture 'resnet19'; close matches"),
        (["--arch", "test_resnet", "--tta", "mirror"], "unknown TTA view 'mirror'"),
        (["--arch", "test_resnet", "--label", "klass"], "has no column 'klass'"),
    ],
)
def test_bad_input_prints_one_red_line_and_exits_2(tiny, capsys, extra, message):
    code = main(
        [
            "image",
            str(tiny.store_uri),
            "--images",
            str(tiny.images),
            "--labels",
            str(tiny.labels),
            "--id",
            "image_id",
            *extra,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert message in " ".join(err.split())
    assert "Traceback" not in err

"""`blend report STORE ...` end to end: the numbers it writes equal direct computations."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from blend import BlendError
from blend.cli import main
from blend.report_html import SECTIONS
from blend.workflows.report import report
from oof_store import synthetic


def _acc(P, y):
    return float(np.mean(P.argmax(axis=1) == y))


def test_cli_writes_json_html_and_noise_csv_that_match_the_store(source_store, tmp_path, capsys):
    out_json, out_html, out_csv = tmp_path / "r.json", tmp_path / "r.html", tmp_path / "noise.csv"
    code = main(["report", str(source_store.uri), "--by", "source", "--json", str(out_json),
                 "--html", str(out_html), "--noise-csv", str(out_csv)])
    assert code == 0
    shown = capsys.readouterr().out
    for heading in ["Scores per model", "TTA gain per view", "Correlation of models",
                    "accuracy by fold", "accuracy by source", "Label-noise candidates"]:
        assert heading in shown

    d = json.loads(out_json.read_text())
    oof = source_store.load_oof(tta="all", output="probs")
    y, folds = source_store.y, source_store.folds
    source = source_store.targets["source"].to_numpy()
    assert [m["name"] for m in d["models"]] == oof.models
    for i, m in enumerate(d["models"]):
        pm = oof.preds[i].astype(np.float64).mean(axis=0)
        assert m["score"] == pytest.approx(_acc(pm, y))
        for k in source_store.fold_ids:
            assert m["fold_scores"][str(k)] == pytest.approx(_acc(pm[folds == k], y[folds == k]))
    blend = oof.preds.astype(np.float64).mean(axis=(0, 1))
    assert d["blend"]["score"] == pytest.approx(_acc(blend, y))
    by_source = next(b for b in d["breakdowns"] if b["column"] == "source")
    for g in by_source["groups"]:
        rows = source == g["value"]
        assert g["n_rows"] == rows.sum()
        assert g["blend"] == pytest.approx(_acc(blend[rows], y[rows]))
    assert len(d["tta"]) == 3
    assert d["tta"][0]["views"] == ["none", "flip1"]

    noise = pd.read_csv(out_csv)
    assert list(noise.columns[:4]) == ["image_id", "given_label", "predicted_label", "score"]
    assert len(noise) == d["noise"]["n_candidates"]
    if len(noise):
        row = np.flatnonzero(source_store.ids == noise["image_id"].iloc[0])[0]
        names = source_store.class_names
        assert noise["given_label"].iloc[0] == names[y[row]]
        prior = np.bincount(y, minlength=len(names)) / len(y)
        k = int((blend[row] / prior).argmax())
        assert noise["predicted_label"].iloc[0] == names[k]
        assert noise["score"].iloc[0] == pytest.approx(np.log(prior[y[row]] / blend[row, y[row]]), abs=1e-4)

    page = out_html.read_text()
    for sid, _ in SECTIONS:
        assert f'id="{sid}"' in page
    assert "http://" not in page
    assert "https://" not in page


def test_models_and_metric_options(source_store, tmp_path):
    out = tmp_path / "r.json"
    assert main(["report", str(source_store.uri), "--models", "model_2", "model_0",
                 "--metric", "logloss", "--json", str(out), "--quiet"]) == 0
    d = json.loads(out.read_text())
    assert [m["name"] for m in d["models"]] == ["model_2", "model_0"]
    assert d["metric"] == "logloss"
    assert d["greater_is_better"] is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--by", "nope"], r"unknown --by column 'nope'.*extra columns: source"),
        (["--models", "model_0", "zzz"], r"unknown model\(s\) 'zzz'; the store holds: model_0, model_1, model_2"),
        (["--metric", "rmse"], "metric 'rmse' does not fit a multiclass task"),
        (["--metric", "nope"], "unknown metric 'nope'"),
        (["--noise-top", "-1"], "--noise-top must be >= 0"),
    ],
)
def test_cli_bad_input_prints_one_red_line_and_exits_2(source_store, capsys, argv, message):
    assert main(["report", str(source_store.uri), *argv]) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    import re

    assert re.search(message, " ".join(err.split())), err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"by": ["nope"]}, "unknown --by column 'nope'"),
        ({"models": ["zzz"]}, r"unknown model\(s\) 'zzz'"),
        ({"models": ["model_0", "model_0"]}, "named more than once: model_0"),
    ],
)
def test_library_function_raises_blend_error(source_store, kwargs, message):
    with pytest.raises(BlendError, match=message):
        report(source_store, **kwargs)


def test_missing_store_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["binary", "softclass", "regression"])
def test_cli_on_every_task_type(make_source_store, tmp_path, task):
    store = make_source_store(tmp_path / task, task=task, n_classes=3)
    out, html = tmp_path / f"{task}.json", tmp_path / f"{task}.html"
    assert main(["report", str(store.uri), "--by", "source", "--json", str(out), "--html", str(html)]) == 0
    d = json.loads(out.read_text())
    assert d["task"] == task
    assert (d["noise"] is None) == (task == "regression")
    page = html.read_text()
    for sid, _ in SECTIONS:
        assert f'id="{sid}"' in page
    if task == "regression":
        assert "Does not apply to a regression task." in page


def test_noise_csv_on_regression_is_refused(make_source_store, tmp_path, capsys):
    store = make_source_store(tmp_path / "reg", task="regression")
    assert main(["report", str(store.uri), "--noise-csv", str(tmp_path / "n.csv")]) == 2
    assert "do not apply to a regression task" in capsys.readouterr().err


def test_one_model_store(tmp_path, capsys):
    store = synthetic.make_store(tmp_path / "one", n_models=1, n_rows=300, n_classes=3, seed=2)
    out = tmp_path / "one.json"
    assert main(["report", str(store.uri), "--json", str(out), "--html", str(tmp_path / "one.html")]) == 0
    d = json.loads(out.read_text())
    assert len(d["models"]) == 1
    assert d["most_correlated"] == []
    assert d["blend"]["score"] == d["models"][0]["score"]
    assert "one model" in capsys.readouterr().out


def test_real_assembled_metatask(assembled_dir, tmp_path):
    """Breast-cancer metatask (5 predictors): per-model accuracy equals the CSV's, exactly."""
    from oof_store.assembled import import_metatask

    csv, meta = assembled_dir / "metatask_-1.csv", assembled_dir / "metatask_-1.json"
    store = import_metatask(csv, meta, tmp_path / "bc")
    r = report(store)
    info = json.loads(meta.read_text())
    df = pd.read_csv(csv)
    classes = [str(c) for c in info["class_labels"]]
    y = df[info["target_name"]].astype(str).map({c: i for i, c in enumerate(classes)}).to_numpy()
    for s in r.models:
        conf = df[[f"confidence.{c}.{s.name}" for c in classes]].to_numpy()
        # tolerance: exact up to argmax ties (the importer renormalises rounded confidences)
        assert s.secondary["accuracy"] == pytest.approx(_acc(conf, y), abs=2 / len(y))
    assert r.task == "binary"
    assert len(r.models) == len(store.models())


def test_noise_csv_without_candidates_has_only_the_header(tmp_path):
    # separable data: the blend agrees with every label, so no row is a candidate
    store = synthetic.make_store(tmp_path / "easy", n_models=2, n_rows=200, n_classes=3,
                                 accuracy=(0.999, 0.9999), seed=4)
    out = tmp_path / "noise.csv"
    assert main(["report", str(store.uri), "--noise-csv", str(out), "--quiet"]) == 0
    noise = pd.read_csv(out)
    assert len(noise) == 0
    assert list(noise.columns) == ["id", "given_label", "predicted_label", "score", "p_given",
                                   "p_predicted", "fold"]

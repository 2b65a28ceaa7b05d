"""Outputs never land in a store; recipes and search results are data, never code (issue 23).

Item 3: every option naming a file to write is refused when the file is inside a store.
Item 9: recipe weights that overflow, a recipe for other classes or another store, and a
submission with a NaN cell. Item 12: a custom metric named in a search JSON, a recipe or a
store is never imported (a module with an import side effect proves it).
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from blend import BlendError
from blend.cli import main as blend
from blend.cli.stack import main as stack
from blend.recipe import Recipe
from oof_store import Store, synthetic


@pytest.fixture
def store(tmp_path):
    return synthetic.make_store(tmp_path / "s", kind="probs", n_models=3, n_rows=240,
                                n_classes=3, n_folds=4, n_test=40, accuracy=(0.6, 0.8), seed=9)


def _snapshot(uri: str) -> dict[str, bytes]:
    out = {}
    for here, _, files in os.walk(uri):
        for n in files:
            if ".cache" not in here and not n.startswith(".lock-"):
                p = os.path.join(here, n)
                out[os.path.relpath(p, uri)] = open(p, "rb").read()
    return out


# ----------------------------------------------------------------------------- 3: outputs
def _recipe_file(store, tmp_path) -> str:
    path = tmp_path / "r.json"
    Recipe.for_store(store, ("m00", "m01"), rule="prob", metric="logloss").save(path)
    return str(path)


COMMANDS = [  # (argv before the output option, the option, the store file it aims at)
    ("apply", "--out", "store.json"),
    ("search", "--json", "models/m00.json"),
    ("search", "--save-recipe", "targets.parquet"),
    ("optimize", "--json", "models/m01.json"),
    ("optimize", "--recipe", "test.parquet"),
    ("report", "--json", "store.json"),
    ("report", "--html", "models/m02.json"),
    ("report", "--noise-csv", "preds/noise.csv"),
    ("compare", "--json", "store.json"),
    ("compare", "--html", "report.html"),
    ("compare", "--recipe", "models/m00.json"),
]


@pytest.mark.parametrize(("command", "option", "target"), COMMANDS,
                         ids=[f"{c} {o}" for c, o, _ in COMMANDS])
def test_an_output_inside_the_store_is_refused_before_any_work(store, tmp_path, capsys,
                                                               command, option, target):
    before = _snapshot(store.uri)
    head = (["apply", _recipe_file(store, tmp_path), "--store", store.uri] if command == "apply"
            else [command, store.uri])
    assert blend([*head, option, os.path.join(store.uri, target)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: {option} {os.path.join(store.uri, target)} is inside the OOF store" in err
    assert _snapshot(store.uri) == before
    assert Store(store.uri).validate() == []


@pytest.mark.parametrize("option", ["--json", "--recipe"])
def test_stack_outputs_inside_the_store_are_refused(store, capsys, option):
    before = _snapshot(store.uri)
    assert stack(["linear", store.uri, option, os.path.join(store.uri, "store.json")]) == 2
    assert "is inside the OOF store" in capsys.readouterr().err
    assert _snapshot(store.uri) == before


def test_library_writers_refuse_the_store_too(store, tmp_path):
    from blend.workflows.apply import apply

    r = Recipe.load(_recipe_file(store, tmp_path))
    with pytest.raises(ValueError, match="the recipe .* is inside the OOF store"):
        r.save(os.path.join(store.uri, "models", "m00.json"))
    sub = apply(r, store)
    with pytest.raises(ValueError, match="the submission .* is inside the OOF store"):
        sub.to_csv(os.path.join(store.uri, "store.json"))
    sub.to_csv(tmp_path / "fine.csv")
    assert Store(store.uri).validate() == []


# ----------------------------------------------------------------------------- 9: recipes
def test_recipe_weights_that_overflow_are_refused(store, tmp_path, capsys):
    d = Recipe.for_store(store, ("m00", "m01"), rule="prob", metric="logloss").to_dict()
    d["weights"] = [1e308, 1e308]
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(d))
    with pytest.raises(BlendError, match="above 1e\\+100 .* sum overflows"):
        Recipe.load(path)
    out = tmp_path / "sub.csv"
    assert blend(["apply", str(path), "--store", store.uri, "--out", str(out)]) == 2
    assert "sum overflows" in capsys.readouterr().err
    assert not out.exists()


def test_a_recipe_for_other_classes_is_refused(store, tmp_path, capsys):
    d = Recipe.for_store(store, ("m00", "m01"), rule="prob", metric="logloss").to_dict()
    d["class_names"] = ["c2", "c1", "c0"]  # same count, another order: columns misread
    path = tmp_path / "other.json"
    path.write_text(json.dumps(d))
    out = tmp_path / "sub.csv"
    assert blend(["apply", str(path), "--store", store.uri, "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "recipe is for the classes ['c2', 'c1', 'c0'], the store's are ['c0', 'c1', 'c2']" in err
    assert not out.exists()


def test_a_recipe_fitted_on_another_store_is_applied_with_a_loud_warning(store, tmp_path, capsys):
    d = Recipe.for_store(store, ("m00", "m01"), rule="prob", metric="logloss").to_dict()
    d["store_fingerprint"] = "0123456789abcdef"
    path = tmp_path / "elsewhere.json"
    path.write_text(json.dumps(d))
    out = tmp_path / "sub.csv"
    assert blend(["apply", str(path), "--store", store.uri, "--out", str(out)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: the recipe was fitted on another store (fingerprint 0123456789abcdef" in err
    assert out.exists()


def test_a_submission_with_a_nan_cell_is_never_written(store, tmp_path, capsys, monkeypatch):
    path = _recipe_file(store, tmp_path)
    real = Recipe.predict_test

    def with_nan(self, st, *a, **k):
        P = real(self, st, *a, **k).copy()
        P[7, 1] = np.nan
        return P

    monkeypatch.setattr(Recipe, "predict_test", with_nan)
    out = tmp_path / "sub.csv"
    for output in ("--probs", "--labels"):  # a label taken from a NaN row is refused too
        assert blend(["apply", path, "--store", store.uri, "--out", str(out), output]) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "1 NaN or infinite value(s) in 1 of 40 row(s) (test ids ['t000007'])" in err
        assert not out.exists()


# ----------------------------------------------------------------------------- 12: metrics
@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """A module whose import leaves a marker file: importing it is what must not happen."""
    marker = tmp_path / "IMPORTED"
    (tmp_path / "evilmetric.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "import numpy as np\n"
        "def neg_brier(y, P):\n"
        "    return -float(((np.eye(P.shape[1])[y] - P) ** 2).sum(axis=1).mean())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "evilmetric:neg_brier", marker
    sys.modules.pop("evilmetric", None)


def _search_json(store, tmp_path, metric: str) -> str:
    out = tmp_path / "search.json"
    assert blend(["search", store.uri, "--metric", "logloss", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    d["metric"] = metric  # what an attacker edits
    out.write_text(json.dumps(d))
    return str(out)


def test_a_custom_metric_in_a_search_file_is_never_imported(store, tmp_path, capsys, evil_module):
    spec, marker = evil_module
    search = _search_json(store, tmp_path, spec)
    assert blend(["optimize", store.uri, "--method", "nelder-mead", "--metric", "logloss",
                  "--from-search", search]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"names the custom metric '{spec}'" in err
    assert "never from a file the tool reads" in err
    assert not marker.exists()
    shutil_search = _search_json(store, tmp_path, "shutil:rmtree")
    assert blend(["optimize", store.uri, "--method", "nelder-mead", "--from-search",
                  shutil_search]) == 2
    assert "names the custom metric 'shutil:rmtree'" in capsys.readouterr().err
    assert os.path.isdir(store.uri)
    assert Store(store.uri).validate() == []


def test_a_custom_metric_the_user_names_is_imported(store, tmp_path, capsys, evil_module):
    spec, marker = evil_module
    search = _search_json(store, tmp_path, spec)
    assert blend(["optimize", store.uri, "--method", "nelder-mead", "--metric", spec,
                  "--from-search", search]) == 0
    assert marker.exists()  # named on the command line: the user's own choice


def test_a_custom_metric_in_a_recipe_or_a_store_is_never_imported(store, tmp_path, evil_module):
    spec, marker = evil_module
    d = Recipe.for_store(store, ("m00", "m01"), rule="prob", metric=spec).to_dict()
    path = tmp_path / "r.json"
    path.write_text(json.dumps(d))
    assert blend(["apply", str(path), "--store", store.uri, "--out", str(tmp_path / "s.csv")]) == 0
    # a store: a manifest whose params name the metric (checksum kept valid)
    from oof_store import _schema as S

    man_path = os.path.join(store.uri, "models", "m00.json")
    man = json.load(open(man_path))
    man["params"] = {**man["params"], "metric": spec, "recipe": d}
    json.dump(S.with_checksum(man), open(man_path, "w"))
    assert Store(store.uri).validate() == []
    assert blend(["report", store.uri]) == 0
    assert blend(["search", store.uri, "--metric", "logloss"]) == 0
    assert not marker.exists()

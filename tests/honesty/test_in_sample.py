"""In-sample blends written back by `blend apply --write-model` (issue 10, item 1).

Such a blend's weights were chosen on every OOF row, so its "OOF" rows are in-sample. It is
marked in its manifest, left out by default by search, optimize, stack and report, usable
only with a loud ``--allow-in-sample`` that marks the results not honest; stackers written
back by ``stack`` are honest OOF and stay usable.
"""

from __future__ import annotations

import json

import pytest

from blend.cli import main as blend
from blend.cli.stack import main as stack
from blend.recipe import Recipe
from oof_store import Store, synthetic
from oof_store.cli import main as oof


@pytest.fixture
def store(tmp_path):
    s = synthetic.make_store(tmp_path / "s", n_models=4, n_rows=300, n_classes=3, n_folds=3,
                             n_test=30, accuracy=(0.6, 0.8), seed=5)
    recipe = tmp_path / "r.json"
    Recipe.for_store(s, ("m00", "m01"), weights=(0.3, 0.7)).save(recipe)
    assert blend(["apply", str(recipe), "--store", str(s.uri), "--write-model", "b01"]) == 0
    return Store(s.uri)


def test_apply_write_model_marks_the_blend_in_sample_with_its_parents(store):
    man = store.manifest("b01")
    assert man["params"]["in_sample"] is True
    assert man["parents"] == ["m00", "m01"]


def test_a_single_untempered_model_written_back_is_not_in_sample(store, tmp_path):
    recipe = tmp_path / "one.json"
    Recipe.for_store(store, ("m02",)).save(recipe)
    assert blend(["apply", str(recipe), "--store", str(store.uri), "--write-model", "c02"]) == 0
    assert Store(store.uri).manifest("c02")["params"]["in_sample"] is False


def test_oof_ls_shows_the_mark(store, capsys):
    assert oof(["ls", str(store.uri)]) == 0
    out = capsys.readouterr().out
    assert "IN-SAMPLE" in out
    assert "b01: a blend fitted on all OOF rows" in " ".join(out.split())
    assert oof(["ls", str(store.uri), "--json"]) == 0
    rows = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["b01"]["flags"] == ["in-sample"]
    assert rows["m00"]["flags"] == []


def test_search_leaves_it_out_by_default_and_refuses_it_by_name(store, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert blend(["search", str(store.uri), "--top", "50", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert "b01" not in d["models"]
    assert d["honest"] is True
    assert blend(["search", str(store.uri), "--models", "b01", "m02"]) == 2
    assert "--allow-in-sample" in capsys.readouterr().err


def test_allow_in_sample_is_loud_and_marks_the_result_not_honest(store, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert blend(["search", str(store.uri), "--top", "5", "--allow-in-sample",
                  "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "NOT HONEST b01 (in-sample)" in err
    d = json.loads(out.read_text())
    assert "b01" in d["models"]
    assert d["honest"] is False
    assert d["flagged_models"] == {"b01": ["in-sample"]}


def test_optimize_leaves_it_out_by_default(store, tmp_path, capsys):
    out = tmp_path / "o.json"
    assert blend(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                  "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert set(d["weights"]) == {"m00", "m01", "m02", "m03"}
    assert d["honest"] is True
    assert blend(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                  "--models", "b01", "m02"]) == 2
    out2 = tmp_path / "o2.json"
    assert blend(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                  "--models", "b01", "m02", "--allow-in-sample", "--json", str(out2)]) == 0
    assert json.loads(out2.read_text())["honest"] is False


def test_stack_leaves_it_out_and_its_own_output_stays_usable(store, tmp_path, capsys):
    out = tmp_path / "st.json"
    assert stack(["linear", str(store.uri), "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["honest"] is True
    s = Store(store.uri)
    assert s.manifest("stack_linear")["parents"] == ["m00", "m01", "m02", "m03"]
    assert s.manifest("stack_linear")["params"]["in_sample"] is False
    # the stacker is honest OOF, but a level-2 model: a search leaves it out by default and
    # takes it when named (issue 19, item 6: tests/honesty/test_level2_defaults.py)
    res = tmp_path / "s.json"
    assert blend(["search", str(store.uri), "--top", "3", "--json", str(res)]) == 0
    assert "stack_linear" not in json.loads(res.read_text())["models"]
    assert blend(["search", str(store.uri), "--top", "3", "--models", "m00", "stack_linear",
                  "--json", str(res)]) == 0
    assert "stack_linear" in json.loads(res.read_text())["models"]
    # a stacker of an in-sample blend is in-sample itself
    assert stack(["linear", str(store.uri), "--models", "b01", "m02", "--allow-in-sample",
                  "--name", "st2"]) == 0
    assert Store(store.uri).manifest("st2")["params"]["in_sample"] is True


def test_report_leaves_it_out_with_a_note_or_shows_it_labelled(store, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert blend(["report", str(store.uri), "--json", str(out), "--quiet"]) == 0
    d = json.loads(out.read_text())
    assert "b01" not in [m["name"] for m in d["models"]]
    assert any("left out the in-sample blend(s) b01" in n for n in d["notes"])
    assert blend(["report", str(store.uri), "--allow-in-sample", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert "b01" in [m["name"] for m in d["models"]]
    assert d["honest"] is False
    assert any(n.startswith("NOT HONEST: b01 (in-sample)") for n in d["notes"])
    assert "NOT HONEST: b01" in capsys.readouterr().out

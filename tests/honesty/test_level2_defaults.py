"""Level-2 models (stackers written by ``stack`` or ``blend compare``) stay out of level-2 fits.

Weights or subsets fitted on a stacker's out-of-fold predictions are not nested the way
``blend compare``'s level 3 is (the stacker's OOF rows come from fits on the same folds).
``blend optimize`` and ``blend search`` used to take them by default: after ``stack
lgbm``, ``blend optimize`` weighed "subsets of 21 models", the stacker among them. Now every
command leaves them out of its default list, says so in one line, and when one is named
with ``--models`` says that the score is not nested for it (JSON: ``level2_models``,
``honest: false``).
"""

from __future__ import annotations

import json

import pytest

from blend.cli import main as blend
from blend.cli.stack import main as stack
from oof_store import Store, synthetic

BASE = ["m00", "m01", "m02"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = synthetic.make_store(tmp_path_factory.mktemp("l2") / "s", n_models=3, n_rows=240,
                             n_classes=3, n_folds=4, accuracy=(0.6, 0.8), seed=2)
    assert stack(["linear", str(s.uri)]) == 0
    s = Store(s.uri)
    assert set(s.models()) == {*BASE, "stack_linear"}
    return s


COMMANDS = {
    "optimize": (["optimize", "--method", "nelder-mead", "--maxiter", "20"], "weights"),
    "search": (["search", "--top", "3"], "models"),
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_level2_models_are_left_out_by_default_and_that_is_said(store, command, tmp_path,
                                                                capsys):
    argv, key = COMMANDS[command]
    out = tmp_path / "o.json"
    capsys.readouterr()
    assert blend([argv[0], str(store.uri), *argv[1:], "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert sorted(d[key]) == BASE
    assert d["level2_models"] == []
    err = capsys.readouterr().err
    assert err.count("left out 1 level-2 model(s) (stack_linear)") == 1


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_named_level2_model_is_used_and_its_score_said_not_nested(store, command, tmp_path,
                                                                    capsys):
    argv, key = COMMANDS[command]
    out = tmp_path / "o.json"
    capsys.readouterr()
    assert blend([argv[0], str(store.uri), *argv[1:], "--models", "m00", "m01",
                  "stack_linear", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert "stack_linear" in d[key]
    assert d["level2_models"] == ["stack_linear"]
    assert d["honest"] is False
    err = " ".join(capsys.readouterr().err.split())
    assert "NOT NESTED for the level-2 model(s) stack_linear" in err


def test_report_still_shows_them(store, tmp_path):
    out = tmp_path / "r.json"
    assert blend(["report", str(store.uri), "--quiet", "--json", str(out)]) == 0
    assert "stack_linear" in json.dumps(json.loads(out.read_text()))

"""Models without test predictions are named when search, optimize and stack start.

Not at `blend apply` time: the warning line comes before the work; `stack` also says when
the stacker it wrote has no test predictions.
"""

from __future__ import annotations

import pytest

from blend.cli import main as blend_main
from blend.cli.stack import main as stack_main
from oof_store import synthetic


@pytest.fixture
def store(tmp_path):
    s = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=240, n_classes=3, n_folds=3,
                             n_test=30, accuracy=(0.7, 0.85), seed=7, kind="probs")
    oof = s.load_oof(["m00"], output="probs")
    for k in s.fold_ids:  # a copy of m00's OOF predictions, with no test predictions
        rows = oof.folds == k
        s.write_block("oof", "oof_only", int(k), 0, s.ids[rows], oof.preds[0, 0][rows])
    s.finish_model("oof_only", kind="probs")
    return s


WARNING = "1 model(s) have no test predictions: oof_only;"


@pytest.mark.parametrize("argv", [
    ["search", "{s}", "--top", "2", "--max-size", "2"],
    ["optimize", "{s}", "--method", "lbfgs", "--metric", "logloss", "--no-nested"],
])
def test_blend_commands_name_the_models_without_test_predictions_first(store, capsys, argv):
    assert blend_main([a.format(s=store.uri) for a in argv]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert WARNING in err
    assert "cannot be applied to the test set" in err


def test_a_command_on_models_that_all_have_test_predictions_says_nothing(store, capsys):
    assert blend_main(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss", "--no-nested",
                       "--models", "m00", "m01"]) == 0
    assert "no test predictions" not in capsys.readouterr().err


def test_stack_warns_at_start_and_says_its_stacker_has_no_test_predictions(store, capsys):
    assert stack_main(["linear", str(store.uri), "--name", "st"]) == 0
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert WARNING in err
    assert err.index(WARNING) < err.index("fold ")  # before the first outer fold reports
    assert "the stacker written as 'st' has no test predictions" in err
    assert "cannot write a submission from it" in err
    assert stack_main(["linear", str(store.uri), "--name", "st2",
                       "--models", "m00", "m01", "m02"]) == 0
    assert "no test predictions" not in capsys.readouterr().err

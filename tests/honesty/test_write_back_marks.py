"""Every write-back sets the honesty marks through one function (issue 19, item 7).

A level-2 model is in-sample when what it was fitted on was chosen on all OOF rows (a blend
written back by ``blend apply --write-model``) or when any model it was fitted over is
in-sample. ``stack`` set that mark; the stackers ``blend compare`` writes for a recipe did
not, so a stacker over in-sample blends looked like honest OOF to search, optimize and stack.
"""

from __future__ import annotations

import pytest

from blend.cli import main as blend
from blend.cli.stack import main as stack
from blend.recipe import Recipe
from blend.workflows.compare import compare_store, write_stackers
from oof_store import Store, synthetic
from oof_store.flags import is_in_sample


@pytest.fixture
def store(tmp_path):
    s = synthetic.make_store(tmp_path / "s", n_models=4, n_rows=300, n_classes=3, n_folds=4,
                             n_test=30, accuracy=(0.6, 0.8), seed=5)
    recipe = tmp_path / "r.json"
    Recipe.for_store(s, ("m00", "m01"), weights=(0.3, 0.7)).save(recipe)
    assert blend(["apply", str(recipe), "--store", str(s.uri), "--write-model", "b01"]) == 0
    return Store(s.uri)


@pytest.mark.parametrize(("models", "in_sample"), [(["m02", "m03"], False),
                                                     (["b01", "m02", "m03"], True)])
def test_compare_marks_the_stackers_it_writes_as_stack_does(store, models, in_sample):
    res = compare_store(store, models=models, methods=["stack:linear"], procedure=False,
                        n_jobs=1, allow_in_sample=True)
    written = write_stackers(store, res, ["stack:linear"])
    man = Store(store.uri).manifest(written["stack:linear"])
    assert man["params"]["in_sample"] is in_sample
    assert is_in_sample(man) is in_sample
    # the same as `stack` writes over the same models
    assert stack(["linear", str(store.uri), "--models", *models, "--allow-in-sample",
                  "--name", "s_lin"]) == 0
    assert Store(store.uri).manifest("s_lin")["params"]["in_sample"] is in_sample


def test_a_write_back_cannot_set_the_mark_by_hand(store):
    from blend.workflows._write_back import write_model

    with pytest.raises(TypeError, match="in_sample"):
        write_model(store, "x", "test", oof={}, test=None, replace=False, kind="probs",
                    params={"in_sample": False}, source="stack", parents=["b01"],
                    overwrite=False, fitted_on_all_rows=False)

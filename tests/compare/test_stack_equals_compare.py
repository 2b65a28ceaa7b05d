"""``stack NAME`` and compare's ``stack:NAME`` are one candidate (issue 18).

Same store, same seed, default settings: the same nested score and fold scores, exactly
(the same models are fitted: same defaults, features, bagging over the inner folds and
seeds, ``blend.stack._nested.outer_fold_seed``).
"""

from __future__ import annotations

import numpy as np
import pytest

from blend.workflows.compare import compare_store
from blend.workflows.stack import run_stack


@pytest.mark.parametrize("stacker", ["lgbm", "linear"])
@pytest.mark.parametrize("seed", [0, 3])
def test_stack_and_compare_give_the_same_nested_score(tiny_store, stacker, seed):
    res, _ = run_stack(tiny_store, stacker, write=False, seed=seed, n_jobs=1)
    cmp = compare_store(tiny_store, methods=[f"stack:{stacker}"], procedure=False, seed=seed,
                        n_jobs=1)
    row = next(c for c in cmp.candidates if c.name == f"stack:{stacker}")
    assert row.nested_score == res.nested_score
    assert row.fold_scores == pytest.approx(res.fold_scores, rel=0, abs=0)
    oof = cmp.in_sample_predictions(f"stack:{stacker}")
    np.testing.assert_array_equal(oof, np.asarray(res.oof).reshape(oof.shape))


def test_the_cli_prints_the_same_number(tiny_store, capsys):
    from blend.cli import main as blend_main
    from blend.cli.stack import main as stack_main

    assert stack_main(["lgbm", str(tiny_store.uri), "--no-write", "--seed", "1"]) == 0
    out_stack = capsys.readouterr().out
    assert blend_main(["compare", str(tiny_store.uri), "--methods", "stack:lgbm",
                       "--no-procedure", "--seed", "1"]) == 0
    out_cmp = capsys.readouterr().out
    res, _ = run_stack(tiny_store, "lgbm", write=False, seed=1)
    assert f"{res.nested_score:.5f}" in out_stack
    assert f"{res.nested_score:.5f}" in out_cmp

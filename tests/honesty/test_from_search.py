"""``blend optimize --from-search``: the subset search is rerun on each outer fold's rows.

The nested score covers the selection only when each outer fold's subset is chosen by the
search rerun on that fold's training rows. The test recomputes every fold's choice
independently (``blend.search.search_subsets`` on the training rows, the file's settings)
and compares it with the JSON's ``fold_selected``: a ``select`` that ignores its rows (and
returns the all-rows choice everywhere) fails it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from blend.cli import main
from blend.search import search_subsets
from oof_store import Store, synthetic


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """6 nearly equal, weakly correlated models on 300 rows: the folds choose differently."""
    return synthetic.make_store(tmp_path_factory.mktemp("fs") / "store", n_models=6, n_rows=300,
                                n_classes=3, n_folds=5, accuracy=(0.55, 0.6), correlation=0.3,
                                seed=11)


def test_every_fold_reruns_the_search_on_its_own_training_rows(store, tmp_path):
    search, out = tmp_path / "search.json", tmp_path / "w.json"
    assert main(["search", str(store.uri), "--top", "3", "--max-size", "3", "--json",
                 str(search)]) == 0
    assert main(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                 "--from-search", str(search), "--rank", "2", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    s = Store(store.uri)
    oof = s.load_oof(list(s.models()), tta="mean", output="probs")
    names = list(oof.models)
    expected = []
    for k in s.fold_ids:
        rows = np.flatnonzero(s.folds != k)
        res = search_subsets(oof.preds[:, :, rows], oof.y[rows], metric="accuracy", rule="prob",
                             top=2, max_size=3, names=names, n_jobs=1)
        expected.append(sorted(names[i] for i in res.results[1].indices))
    assert [sorted(f) for f in d["fold_selected"]] == expected
    # not vacuous: some fold chooses another subset than the all-rows search
    assert any(f != sorted(d["selected"]) for f in expected)


def test_a_fold_whose_search_returns_fewer_subsets_than_the_rank_is_an_error(store, tmp_path,
                                                                             capsys):
    """No silent fall back to a lower-ranked subset: the rank asked for must exist."""
    search = tmp_path / "search.json"
    # two candidates, one model per subset: any search has 2 results, but the file has 3
    search.write_text(json.dumps({
        "models": ["m00", "m01"], "metric": "accuracy", "rule": "prob", "method": "exhaustive",
        "settings": {"max_size": 1},
        "results": [{"models": ["m00"]}, {"models": ["m01"]}, {"models": ["m00", "m01"]}],
    }))
    assert main(["optimize", str(store.uri), "--method", "lbfgs", "--metric", "logloss",
                 "--from-search", str(search), "--rank", "3"]) == 2
    err = capsys.readouterr().err
    assert "returned 2 subsets, fewer than --rank 3" in err

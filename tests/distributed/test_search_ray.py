"""`blend search --ray local`: shards of the Gray-code walk merged into the single-process top-k."""

from __future__ import annotations

import json

import numpy as np
import pytest

from blend.cli import main
from blend.metrics import get_metric
from blend.search import search_subsets
from blend.search._kernels import AccuracyKernel, GenericKernel, run_sharded, shard_bounds
from oof_store import synthetic
from oof_store.distributed import SerialExecutor, get_executor


@pytest.fixture(scope="module")
def ties():
    """Coarse probabilities (many equal scores), so the tie order is exercised."""
    d = synthetic.make_oof(n_models=9, n_rows=300, n_classes=3, n_folds=4, accuracy=(0.6, 0.8), seed=7)
    from oof_store import softmax

    P = np.round(softmax(d.logits.mean(axis=1).astype(np.float64)), 1) + 1e-3
    return P / P.sum(-1, keepdims=True), d.y, d.folds


@pytest.mark.parametrize("n_shards", [1, 2, 3, 7, 64])
def test_any_shard_boundaries_give_the_single_process_topk(ties, n_shards):
    P, y, _ = ties
    k = AccuracyKernel(P, y, list(range(1, 9)), [0], 1, 9, inner_bits=3)
    g0, m0 = k.run(40, n_jobs=1)
    g1, m1 = run_sharded(k, 40, SerialExecutor(), n_shards=n_shards)
    assert m1.tolist() == m0.tolist()
    assert g1.tolist() == g0.tolist()
    assert len(set(g0.tolist())) < len(g0)  # ties are present, and kept in order


def test_generic_kernel_shards_match(ties):
    P, y, _ = ties
    k = GenericKernel(P, y, list(range(9)), [], 2, 5, metric=get_metric("logloss"), rule="prob",
                      kind="probs", inner_bits=2)
    g0, m0 = k.run(25, n_jobs=1)
    g1, m1 = run_sharded(k, 25, SerialExecutor(), n_shards=5)
    assert m1.tolist() == m0.tolist()
    assert g1.tolist() == g0.tolist()


def test_shard_bounds_cover_the_walk_once():
    for n_outer, n in [(1, 4), (8, 3), (1024, 16), (5, 5)]:
        b = shard_bounds(n_outer, n)
        assert b[0][0] == 0
        assert b[-1][1] == n_outer
        assert all(a1 == b0 for (_, a1), (b0, _) in zip(b, b[1:], strict=False))


def test_search_on_ray_is_the_plain_search(ray_session):
    # 13 models: 2**3 outer subsets of the walk (10 inner bits), so several shards
    d = synthetic.make_oof(n_models=13, n_rows=300, n_classes=3, n_folds=3, accuracy=(0.6, 0.8), seed=2)
    P, y, folds = d.logits.mean(axis=1), d.y, d.folds
    plain = search_subsets(P, y, folds, top=30, method="exhaustive", nested=True,
                           kind="logits")
    ex = get_executor("local")
    dist = search_subsets(P, y, folds, top=30, method="exhaustive", nested=True, executor=ex,
                          kind="logits")
    assert [r.indices for r in dist.results] == [r.indices for r in plain.results]
    assert [r.score for r in dist.results] == [r.score for r in plain.results]
    assert dist.nested_choices == plain.nested_choices
    assert dist.nested_score == plain.nested_score
    assert dist.extra["shards"]["shards"] >= 2
    assert ex.maps
    assert ex.maps[0].tasks == dist.extra["shards"]["shards"]


def test_search_cli_with_ray_local_matches_the_plain_run(ray_session, tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=12, n_rows=400, n_classes=3, n_tta=1,
                                 accuracy=(0.6, 0.85), seed=5)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["search", str(store.uri), "--top", "20", "--method", "exhaustive", "--nested"]
    assert main([*args, "--json", str(a)]) == 0
    assert main([*args, "--json", str(b), "--ray", "local"]) == 0
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert db["results"] == da["results"]
    assert db["nested_choices"] == da["nested_choices"]
    assert db["nested_score"] == da["nested_score"]

"""`blend compare --ray local`: candidates x folds as Ray tasks give the plain run's answer."""

from __future__ import annotations

import json

import numpy as np

from blend.cli import main as blend
from blend.workflows.compare import compare_store
from oof_store import synthetic
from oof_store.distributed import get_executor

METHODS = ["lbfgs/prob", "stack:linear", "level3"]


def _store(tmp_path):
    return synthetic.make_store(tmp_path / "s", n_models=4, n_rows=200, n_classes=3, n_folds=4,
                                n_test=10, accuracy=(0.55, 0.75), correlation=0.5, seed=8)


def _without_seconds(d):
    d = {k: v for k, v in d.items() if k != "seconds"}
    d["candidates"] = [{k: v for k, v in c.items() if k != "seconds"} for c in d["candidates"]]
    return d


def test_compare_cli_with_ray_matches_the_plain_run(ray_session, tmp_path, capsys):
    store = _store(tmp_path)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    args = ["compare", str(store.uri), "--methods", *METHODS, "--threads", "1", "--seed", "3"]
    assert blend([*args, "--json", str(a)]) == 0
    assert blend([*args, "--json", str(b), "--ray", "local"]) == 0
    assert "ray executor" in capsys.readouterr().err.lower()
    da, db = json.loads(a.read_text()), json.loads(b.read_text())
    assert _without_seconds(db) == _without_seconds(da)


def test_compare_on_ray_fits_every_pair_once_with_the_same_label_reads(ray_session, tmp_path):
    store = _store(tmp_path)
    plain = compare_store(store, methods=METHODS, n_jobs=1, seed=3)
    with get_executor("local") as ex:
        on_ray = compare_store(store, methods=METHODS, n_jobs=1, seed=3, executor=ex)
        n_tasks = ex.maps[-1].tasks
    pe, re_ = plain.engine, on_ray.engine
    # every planned fit of the candidates that use no other fit ran as a task (level 3 here)
    assert n_tasks == sum(1 for name, _ in re_._fits if not re_.by_name[name].depends)
    assert set(re_._fits) == set(pe._fits)
    for key in pe._fits:  # the spy's record of the labels each fit read is the plain run's
        np.testing.assert_array_equal(re_.fit_rows[key], pe.fit_rows[key])
    for k in pe.choice_rows:
        np.testing.assert_array_equal(re_.choice_rows[k], pe.choice_rows[k])
    np.testing.assert_array_equal(on_ray.in_sample_predictions(), plain.in_sample_predictions())


def test_compare_qwk_cut_candidates_on_ray_match_the_plain_run(ray_session, tmp_path):
    # the ordinal candidates (weights and cut points fitted inside every fit) travel too
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "_ordinal_fixtures", Path(__file__).parents[1] / "ordinal" / "conftest.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    store = fixtures.make_ordinal_store(tmp_path / "o", n_rows=300, n_folds=4, seed=2)
    methods = ["mean+cuts", "nelder-mead+cuts"]
    plain = compare_store(store, metric="qwk", methods=methods, n_jobs=1)
    with get_executor("local") as ex:
        on_ray = compare_store(store, metric="qwk", methods=methods, n_jobs=1, executor=ex)
    assert _without_seconds(on_ray.to_dict()) == _without_seconds(plain.to_dict())

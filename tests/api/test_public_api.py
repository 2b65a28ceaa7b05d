"""The notebook face: the issue's snippet runs as written, with the CLI's defaults and JSON."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest

import blend
from blend.cli import main as blend_main
from oof_store import synthetic

#: The snippet of issue 20, as written there.
SNIPPET = textwrap.dedent('''
    import blend
    from oof_store import Store
    store = Store("my-store")                      # or blend.open_store(path)
    res = blend.compare(store, metric="auc")       # same defaults as `blend compare`
    res.leaderboard()                              # a pandas DataFrame, like AutoGluon's
    res.recommended, res.procedure_score
    res.to_recipe().apply(store).to_csv("submission.csv")
    blend.optimize(store, method="de"), blend.search(store, top=50), blend.stack(store, "lgbm"), blend.report(store)
''')


def _binary_store(path):
    return synthetic.make_store(path, task="binary", n_models=4, n_rows=240, n_folds=4,
                                n_test=30, accuracy=(0.6, 0.8), correlation=0.4, seed=5)


@pytest.fixture
def my_store(tmp_path, monkeypatch):
    """A small binary store at ``./my-store`` (the snippet's path), cwd in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return _binary_store(tmp_path / "my-store")


def test_the_issue_snippet_runs_as_written(my_store, tmp_path):
    ns: dict = {}
    exec(compile(SNIPPET, "issue-20-snippet", "exec"), ns)  # noqa: S102 - the test's own text
    res, store = ns["res"], ns["store"]
    board = res.leaderboard()
    assert isinstance(board, pd.DataFrame)
    assert board["candidate"].iloc[0] == res.result.candidates[0].name
    assert board["recommended"].sum() == 1
    assert res.recommended.name in set(board["candidate"])
    assert res.procedure_score == res.result.procedure_nested_score
    sub = pd.read_csv(tmp_path / "submission.csv")
    assert list(sub.columns)[0] == store.id_col  # no index column written
    assert sub[store.id_col].tolist() == list(store.test_ids)
    page = res._repr_html_()
    assert "<table" in page
    assert res.recommended.name in page


def test_results_give_the_json_the_cli_writes(my_store, tmp_path):
    out = tmp_path / "cli.json"
    assert blend_main(["optimize", str(my_store.uri), "--json", str(out)]) == 0
    lib = blend.optimize(my_store)  # the CLI's defaults: de, the task's metric (auc), seed 0
    cli = json.loads(out.read_text())
    mine = json.loads(json.dumps(lib.to_dict()))
    for d in (cli, mine):
        d.pop("seconds", None)
    assert mine == cli
    assert lib.metric == "auc"
    assert set(lib.leaderboard()["model"]) == set(my_store.models())  # real names, not m0..


def test_report_and_search_json_match_the_cli(my_store, tmp_path):
    for cmd, fn in (("report", blend.report), ("search", blend.search)):
        out = tmp_path / f"{cmd}.json"
        assert blend_main([cmd, str(my_store.uri), "--json", str(out)]) == 0
        cli = json.loads(out.read_text())
        mine = json.loads(json.dumps(fn(my_store).to_dict()))
        for d in (cli, mine):
            d.pop("seconds", None)
            d.pop("elapsed_s", None)
        assert mine == cli, cmd


def test_the_library_defaults_are_the_cli_defaults():
    from blend.cli import build_parser
    from blend.workflows import _defaults as D

    sub = build_parser()._subparsers._group_actions[0].choices
    opt = sub["optimize"].parse_args(["s"])
    assert (opt.method, opt.rule, opt.seed) == (D.OPTIMIZE_METHOD, D.RULE, D.SEED)
    cmp = sub["compare"].parse_args(["s"])
    assert (cmp.budget, cmp.seed, cmp.prefix) == (D.COMPARE_BUDGET, D.SEED, D.COMPARE_PREFIX)
    se = sub["search"].parse_args(["s"])
    assert (se.top, se.jobs, se.time_budget, se.tta) == (D.SEARCH_TOP, D.SEARCH_JOBS,
                                                          D.SEARCH_TIME_BUDGET, D.TTA)


def test_optimize_is_seeded_by_default(my_store):
    a = blend.optimize(my_store, nested=False)
    b = blend.optimize(my_store, nested=False)
    assert a.score == b.score
    np.testing.assert_array_equal([a.weights[m] for m in a.models],
                                  [b.weights[m] for m in b.models])


def test_the_packages_stay_packages_when_called():
    import blend.compare._candidates as cand
    from blend.compare import CompareData

    assert callable(blend.compare)
    assert blend.compare.CompareData is CompareData
    assert cand.build_candidates is blend.compare.build_candidates
    from blend import report

    assert report.build_report is blend.report.build_report


def test_open_store_refuses_what_is_not_a_store():
    with pytest.raises(blend.BlendError, match="expected an OOF store or its path"):
        blend.open_store(42)


def test_a_stack_run_without_write_has_no_recipe(my_store):
    run = blend.stack(my_store, "linear", write=False)
    assert run.written is None
    with pytest.raises(blend.BlendError, match="was not written into the store"):
        run.to_recipe()


@pytest.mark.parametrize("prog", ["blend", "stack", "oof", "base-models"])
def test_every_command_says_its_version(prog, capsys):
    import importlib

    mod = {"blend": "blend.cli", "stack": "blend.cli.stack", "oof": "oof_store.cli",
           "base-models": "base_models.cli"}[prog]
    with pytest.raises(SystemExit) as exc:
        importlib.import_module(mod).main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"{prog} {blend.__version__}"


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    assert blend.__version__ == version("oof-blend")

"""``blend compare --time-limit``: the plan line, the limit honoured, what was skipped."""

from __future__ import annotations

import time

import pytest

from blend._errors import BlendError
from blend.cli import main as blend
from blend.compare import compare
from blend.compare._budget import parse_time_limit
from blend.workflows.compare import load_data


@pytest.mark.parametrize(("text", "sec"), [("15m", 900.0), ("1h30m", 5400.0), ("90s", 90.0),
                                           ("900", 900.0), (12, 12.0), ("1.5m", 90.0)])
def test_parse_time_limit(text, sec):
    assert parse_time_limit(text) == sec


@pytest.mark.parametrize("text", ["soon", "15x", "-3", "0", "15m later"])
def test_bad_time_limits_are_refused(text):
    with pytest.raises(BlendError, match="time-limit"):
        parse_time_limit(text)


METHODS = ["lbfgs/prob", "hill-climb/prob", "stack:lgbm", "stack:linear", "level3",
           "level3/logit"]


def test_the_limit_is_honoured(tiny_store):
    # whether everything fits in 12 s depends on the machine's load (LightGBM's 100 fits
    # took 2 s on a quiet moment, 100 s at load 15); the limit holds either way
    data = load_data(tiny_store)
    plans = []
    limit = 12.0
    t = time.perf_counter()
    res = compare(data, methods=METHODS, time_limit=limit, n_jobs=1, on_plan=plans.append)
    wall = time.perf_counter() - t
    assert wall <= 1.1 * limit, (wall, res.time_plan.line())
    tp = res.time_plan
    assert plans == [tp]
    assert set(tp.kept).isdisjoint(tp.skipped)
    names = {c.name for c in res.candidates}
    assert names.isdisjoint(tp.skipped)
    assert names | set(tp.skipped) >= {"lbfgs prob", "stack:lgbm", "level3 lbfgs"}
    assert {"mean", "best single"} <= names  # the baselines always run
    assert res.procedure_nested_score is not None
    assert tp.line() in res.notes


def test_what_does_not_fit_is_skipped_and_named(tiny_store, monkeypatch):
    # every estimate made 1,000 x larger: only the candidates whose first fit already
    # holds their whole plan could stay; the stackers and their level 3s cannot
    import blend.compare._budget as bb

    monkeypatch.setattr(bb, "_speedup", lambda eng, c: 1e-3)
    res = compare(load_data(tiny_store), methods=METHODS, time_limit=30, n_jobs=1)
    tp = res.time_plan
    assert tp.skipped["stack:lgbm"].startswith("estimated")
    assert tp.skipped["level3 lbfgs"] == "its stackers stack:lgbm, stack:linear skipped"
    assert "skipped: stack:lgbm (estimated" in tp.line()
    assert not any(c.kind in ("stacker", "level3") and c.name == "stack:lgbm"
                   for c in res.candidates)


def test_a_generous_limit_keeps_everything_and_bags_the_stackers_over_two_seeds(tiny_store):
    data = load_data(tiny_store)
    res = compare(data, methods=["lbfgs/prob", "stack:linear", "stack:lgbm", "level3"],
                  time_limit="10m", n_jobs=1, procedure=False)
    tp = res.time_plan
    assert tp.skipped == {}
    assert tp.seeds == 2
    assert "bagged over 2 seeds" in tp.line()
    seeds = {c.name: c.extra["seeds"] for c in res.engine.candidates if c.kind == "stacker"}
    assert seeds == {"stack:lgbm": 2, "stack:linear": 1}  # linear is deterministic
    assert "estimated" in tp.line()


def test_cli_prints_the_plan_line(tiny_store, capsys):
    assert blend(["compare", str(tiny_store.uri), "--methods", "lbfgs/prob", "stack:linear",
                  "--time-limit", "5m", "--no-procedure"]) == 0
    out = capsys.readouterr().out
    assert "plan for --time-limit 5m00s: estimated" in " ".join(out.split())
    assert blend(["compare", str(tiny_store.uri), "--time-limit", "later"]) == 2
    assert "--time-limit 'later'" in capsys.readouterr().err


def test_level3_goes_on_over_the_stackers_that_fit(tiny_store, monkeypatch):
    # only the LightGBM stacker's estimate made 1,000 x larger: it is skipped, and level 3
    # blends the base models and the linear stacker instead of being skipped with it
    import blend.compare._budget as bb

    real = bb._speedup
    monkeypatch.setattr(bb, "_speedup",
                        lambda eng, c: 1e-3 if c.name == "stack:lgbm" else real(eng, c))
    res = compare(load_data(tiny_store), methods=["lbfgs/prob", "stack:lgbm", "stack:linear",
                                                  "level3"], time_limit=60, n_jobs=1)
    tp = res.time_plan
    assert tp.skipped["stack:lgbm"].startswith("estimated")
    assert "level3 lbfgs" in tp.kept
    l3 = res.engine.by_name["level3 lbfgs"]
    assert l3.depends == ("stack:linear",)
    assert "stack:lgbm skipped by --time-limit" in l3.note
    scores = {c.name: c.nested_score for c in res.candidates}
    assert "stack:lgbm" not in scores
    assert scores["level3 lbfgs"] is not None
    # its fits saw only the linear stacker's level-2 predictions
    assert not any(k[0] == "stack:lgbm" for k in res.engine._fits if len(k[1]) == 3)


def test_a_stacker_skipped_while_fitting_rebuilds_its_level3_cleanly(tmp_path, monkeypatch):
    # the clock jumps past the limit when the LightGBM stacker's fits after the plan begin:
    # it is skipped after its first chunk, its level 3 is rebuilt over the linear stacker
    # (then skipped too: no time is left for its own fits), and the comparison ends with a
    # recommendation and a procedure score (it used to fail on the stale level-3 object)
    import types

    import blend.compare._budget as bb
    from blend.compare._engine import Comparison
    from oof_store import synthetic

    store = synthetic.make_store(tmp_path / "s", n_models=4, n_rows=240, n_classes=3, n_folds=4,
                                 accuracy=(0.7, 0.85), seed=3, kind="probs")
    planned, offset = [], [0.0]
    monkeypatch.setattr(bb, "time", types.SimpleNamespace(
        perf_counter=lambda: time.perf_counter() + offset[0]))
    real = Comparison.prefit_stackers

    def jump(self, plan):
        if planned and plan.get("stack:lgbm"):
            offset[0] = 10_000.0
        return real(self, plan)

    monkeypatch.setattr(Comparison, "prefit_stackers", jump)
    res = compare(load_data(store), methods=["stack:linear", "stack:lgbm", "level3"],
                  time_limit=600, n_jobs=1, on_plan=planned.append)
    tp = res.time_plan
    assert tp.skipped["stack:lgbm"] == "ran out of time while fitting"
    assert tp.skipped["level3 lbfgs"] == "ran out of time while fitting"
    names = {c.name for c in res.candidates}
    assert "stack:lgbm" not in names
    assert "stack:linear" in names
    assert res.recommended.name in names
    assert res.procedure_nested_score is not None

"""The planted leaks and bugs, kept: each one a text substitution that named tests must catch.

A leakage test counts only once it has been seen failing with the leak planted. This table
keeps every leak (and bug) that was planted by hand to prove a test, so that the proof is
rerun on every test run instead of living in a branch's notes: for each row,
``tests/honesty/test_mutations.py`` copies the packages to a temporary directory, replaces
``old`` by ``new`` in ``file`` there (``old`` must occur exactly once: an edit of the code
that removes it fails the table, loudly, instead of letting a plant rot into a no-op), runs
the named ``tests`` against the copy (``PYTHONPATH`` pointing at it) and checks that **each**
of them fails, and fails as a test (an assertion or an error the code raises), not because
the copy cannot be imported.

Run by hand::

    python3 tests/honesty/mutations.py --list
    python3 tests/honesty/mutations.py train-rows-all stack-early-stop-on-held-out
    python3 tests/honesty/mutations.py --keep DIR ID   # leave the planted copy in DIR

``docs/design/honesty.md`` lists every plant with the tests that catch it.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the packages copied (the planted one and those it imports)
PACKAGES = ("blend", "oof_store", "oof_common", "base_models")
#: a failure caused by a broken copy, not by the plant
BROKEN = re.compile(r"\b(SyntaxError|IndentationError|NameError|ImportError|ModuleNotFoundError)\b")


@dataclass(frozen=True)
class Mutation:
    """One planted leak or bug.

    Attributes
    ----------
    id : str
    file : str
        Path from the repository root.
    old, new : str
        ``old`` (exactly once in ``file``) is replaced by ``new``.
    tests : tuple of str
        pytest node ids (from the repository root); each must fail with the plant.
    plants : str
        What the substitution plants, in words.
    origin : str
        Where the plant comes from (the issue and item).
    """

    id: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    plants: str
    origin: str = ""


LEAK = "tests/honesty/test_leakage.py::"
ORD = "tests/ordinal/test_ordinal_nested.py::"
CMP = "tests/honesty/test_compare_procedure.py::"
FS = "tests/honesty/test_from_search.py::"
L2 = "tests/honesty/test_level2_defaults.py::"
WB = "tests/honesty/test_write_back_marks.py::"

MUTATIONS: tuple[Mutation, ...] = (
    # ------------------------------------------------------------------ the nested engine
    Mutation(
        "train-rows-all", "blend/nested.py",
        "    return np.flatnonzero(folds != k)",
        "    return np.arange(len(folds))",
        (f"{LEAK}test_optimizer_nested_score_never_sees_the_held_out_fold[nelder-mead]",
         f"{LEAK}test_stacker_nested_score_never_sees_the_held_out_fold[linear]",
         f"{LEAK}test_search_nested_score_never_sees_the_held_out_fold[exhaustive]",
         f"{LEAK}test_the_nested_score_covers_the_subset_selection"),
        "the outer loop trains every fit on all rows, the held-out fold included",
        "issue 10 (the leakage suite)",
    ),
    Mutation(
        "pooled-is-mean-of-folds", "blend/nested.py",
        "    return float(metric(y, pred)), tuple(_part_score(metric, t, p, i) for i, (_, t, p) "
        "in enumerate(parts))",
        "    scores = tuple(_part_score(metric, t, p, i) for i, (_, t, p) in enumerate(parts))\n"
        "    return float(np.average(scores, weights=[len(t) for _, t, _ in parts])), scores",
        ("tests/blend_search/test_nested_harness.py::"
         "test_the_nested_score_is_the_metric_of_the_pooled_predictions_not_a_mean_of_folds",),
        "the nested score is the size-weighted mean of fold scores, not the pooled metric",
        "issue 10, item 7",
    ),
    Mutation(
        "metric-error-is-nan", "blend/nested.py",
        "    except Exception as exc:\n        if hasattr(exc, \"add_note\"):",
        "    except (BlendError, ValueError, ZeroDivisionError):\n        return float(\"nan\")\n"
        "    except Exception as exc:\n        if hasattr(exc, \"add_note\"):",
        ("tests/blend_search/test_nested_harness.py::"
         "test_a_metric_that_fails_on_one_fold_raises_instead_of_giving_a_nan_fold_score",),
        "a ValueError inside the metric becomes a NaN fold score (a bug hidden)",
        "issue 19, item 9",
    ),
    # ------------------------------------------------------------------ optimise
    Mutation(
        "optimize-weights-on-all-rows", "blend/optimize/_api.py",
        "            res = fitter(Xi, y[idx], metric=fit_metric,",
        "            res = fitter(X[units], y, metric=fit_metric,",
        (f"{LEAK}test_optimizer_nested_score_never_sees_the_held_out_fold[nelder-mead]",
         f"{LEAK}test_optimizer_nested_score_never_sees_the_held_out_fold[hill-climb]"),
        "every outer fold's weights are fitted on all rows",
        "issue 10 (the leakage suite)",
    ),
    Mutation(
        "optimize-selection-on-all-rows", "blend/optimize/_api.py",
        "            chosen = range(M) if select is None else select(idx)",
        "            chosen = range(M) if select is None else select(np.arange(N))",
        (f"{LEAK}test_the_nested_score_covers_the_subset_selection",),
        "--from-search: the subset chosen on all rows, only the weights nested (the old "
        "'conditional' number called nested)",
        "issue 10, item 2",
    ),
    Mutation(
        "optimize-temperatures-on-all-rows", "blend/optimize/_api.py",
        "            temps = fit_temperatures(Xi, y[idx])",
        "            temps = fit_temperatures(X[units], y)",
        (f"{LEAK}test_temperatures_are_fitted_inside_each_outer_fold",),
        "the temperatures of every outer fold are fitted on all rows",
        "issue 10",
    ),
    Mutation(
        "optuna-study-ignores-seed", "blend/optimize/_optuna.py",
        "            sampler=params.get(\"sampler\", \"tpe\"), seed=seed, trials=trials,",
        "            sampler=params.get(\"sampler\", \"tpe\"), seed=0, trials=trials,",
        ("tests/honesty/test_optuna_identity.py::test_another_setting_starts_a_new_study[change0]",),
        "a stored Optuna study is resumed by a run with another --seed",
        "issue 10, item 4",
    ),
    # ------------------------------------------------------------------ search
    Mutation(
        "search-nested-on-all-rows", "blend/search/_core.py",
        "            return _run(prep, plan.method, None, 1, rows=train_idx, n_jobs=n_jobs,",
        "            return _run(prep, plan.method, None, 1, rows=None, n_jobs=n_jobs,",
        (f"{LEAK}test_search_nested_score_never_sees_the_held_out_fold[exhaustive]",
         f"{LEAK}test_search_nested_score_never_sees_the_held_out_fold[beam]"),
        "search --nested: each outer fold's subset searched on all rows",
        "issue 10 (the leakage suite)",
    ),
    Mutation(
        "search-kernel-order-trusted", "blend/search/_core.py",
        "    out.sort(key=lambda r: (-m.gain(r[1]), len(r[0]), r[0]))",
        "    pass  # the kernel's order kept at near-ties",
        ("tests/blend_search/test_search_near_ties.py::test_the_returned_top_k_is_sorted_best_first",),
        "the top K kept in the fixed-point kernel's order, not re-sorted after the float64 "
        "rescoring",
        "issue 10, item 8",
    ),
    # ------------------------------------------------------------------ stack
    Mutation(
        "stack-outer-fit-on-all-rows", "blend/stack/_nested.py",
        "        seed_k = seed_base + 10_000 * fold_pos[k] * (seeds + 1)\n",
        "        seed_k = seed_base + 10_000 * fold_pos[k] * (seeds + 1)\n"
        "        tr_rows = np.arange(N)\n",
        (f"{LEAK}test_stacker_nested_score_never_sees_the_held_out_fold[linear]",
         f"{LEAK}test_stacker_nested_score_never_sees_the_held_out_fold[lgbm]"),
        "every outer fold's stacker is fitted on all rows",
        "issue 10 (the leakage suite)",
    ),
    Mutation(
        "stack-early-stop-on-held-out", "blend/stack/_nested.py",
        "            m = fit_one(\n"
        "                X[tr], _take(extra, tr), y[tr], X[va], _take(extra, va), y[va],",
        "            ho = np.setdiff1d(np.arange(len(y)), rows)\n"
        "            m = fit_one(\n"
        "                X[tr], _take(extra, tr), y[tr], X[ho], _take(extra, ho), y[ho],",
        (f"{LEAK}test_stacker_nested_score_never_sees_the_held_out_fold[lgbm]",
         f"{LEAK}test_stacker_nested_score_never_sees_the_held_out_fold[mlp]"),
        "the bag's early stopping (rounds, epochs) validated on the outer held-out fold",
        "issue 19, item 3",
    ),
    Mutation(
        "stack-hpo-on-all-rows", "blend/stack/_nested.py",
        "                p, _, inner_score = _search(st, fit_bag, tr_rows,",
        "                p, _, inner_score = _search(st, fit_bag, np.arange(N),",
        (f"{LEAK}test_stacker_hpo_runs_inside_each_outer_fold",),
        "stack --hpo: the hyper-parameter search of each outer fold scored on all rows",
        "issue 10",
    ),
    # ------------------------------------------------------------------ compare
    Mutation(
        "compare-choice-on-all-folds", "blend/compare/_core.py",
        "                pick, _ = recommend(inner, met)",
        "                pick = chosen",
        (f"{CMP}test_the_choice_for_each_outer_fold_is_made_inside_it",),
        "the procedure loop keeps the recommendation made on all folds for every outer fold",
        "issue 19, item 1a",
    ),
    Mutation(
        "compare-held-out-by-all-rows-fit", "blend/compare/_core.py",
        "            preds[k] = eng.predict(pick.name, {k}, k)",
        "            preds[k] = eng.predict(pick.name, frozenset(), k)",
        (f"{CMP}test_each_outer_fold_is_predicted_by_its_pick_fitted_without_it",),
        "the procedure loop predicts the held-out fold with the pick's fit on all rows",
        "issue 19, item 1b",
    ),
    Mutation(
        "compare-best-single-on-raw-labels", "blend/compare/_candidates.py",
        "        scores = [eng.metric(y, _as_2d(P[m, rows])) for m in range(P.shape[0])]",
        "        scores = [eng.metric(data.y, _as_2d(P[m])) for m in range(P.shape[0])]",
        (f"{CMP}test_the_comparison_holds_no_raw_labels",
         "tests/compare/test_compare_engine.py::test_no_fold_reaches_its_own_fit_or_choice"),
        "the 'best single' baseline chooses its model on every row's label, read from the "
        "data rather than through the engine",
        "issue 19, item 2",
    ),
    # ------------------------------------------------------------------ optimize --from-search
    Mutation(
        "from-search-select-ignores-rows", "blend/workflows/optimize.py",
        "            oof.preds[:, :, rows], oof.y[rows], metric=",
        "            oof.preds, oof.y, metric=",
        (f"{FS}test_every_fold_reruns_the_search_on_its_own_training_rows",),
        "--from-search: the search 'rerun inside each outer fold' ignores its rows and returns "
        "the all-rows choice",
        "issue 19, item 5",
    ),
    Mutation(
        "from-search-silent-fallback", "blend/workflows/optimize.py",
        "        if len(res.results) < rank:  # never fall back to a lower-ranked subset silently",
        "        if len(res.results) < rank:\n"
        "            return list(res.results[-1].indices)\n"
        "        if False:",
        (f"{FS}test_a_fold_whose_search_returns_fewer_subsets_than_the_rank_is_an_error",),
        "--from-search: a fold whose search returns fewer subsets than --rank silently takes "
        "a lower-ranked one",
        "issue 19, item 5",
    ),
    # ------------------------------------------------------------------ level-2 models
    Mutation(
        "level2-in-default-lists", "blend/workflows/_models.py",
        "        if not level2:\n            have = without_stackers(store)(have)\n",
        "",
        (f"{L2}test_level2_models_are_left_out_by_default_and_that_is_said[optimize]",
         f"{L2}test_level2_models_are_left_out_by_default_and_that_is_said[search]"),
        "blend optimize / search weigh and select stackers' OOF by default",
        "issue 19, item 6",
    ),
    Mutation(
        "level2-named-said-nested", "blend/workflows/_models.py",
        "    used = level2_models(store, models)\n",
        "    used = []\n",
        (f"{L2}test_a_named_level2_model_is_used_and_its_score_said_not_nested[optimize]",
         f"{L2}test_a_named_level2_model_is_used_and_its_score_said_not_nested[search]"),
        "a level-2 model named with --models: the JSON calls the result honest",
        "issue 19, item 6",
    ),
    # ------------------------------------------------------------------ in-sample marks
    Mutation(
        "apply-write-model-not-marked", "blend/workflows/apply.py",
        "        fitted_on_all_rows=fitted_on_all_rows(recipe),",
        "        fitted_on_all_rows=False,",
        ("tests/honesty/test_in_sample.py::"
         "test_apply_write_model_marks_the_blend_in_sample_with_its_parents",
         "tests/honesty/test_in_sample.py::test_optimize_leaves_it_out_by_default"),
        "a blend written back by apply --write-model is not marked in-sample, so search, "
        "optimize, stack and report take it as honest OOF",
        "issue 10, item 1",
    ),
    Mutation(
        "write-back-ignores-parents-marks", "blend/workflows/_write_back.py",
        "    return bool(fitted_on_all_rows) or any(is_in_sample(store.manifest(m)) for m in parents)",
        "    return bool(fitted_on_all_rows)",
        (f"{WB}test_compare_marks_the_stackers_it_writes_as_stack_does[models1-True]",
         "tests/honesty/test_in_sample.py::test_stack_leaves_it_out_and_its_own_output_stays_usable"),
        "a stacker written back over in-sample blends (by stack or compare) is marked honest",
        "issue 19, item 7",
    ),
    # ------------------------------------------------------------------ ordinal
    Mutation(
        "ordinal-cuts-on-all-rows", "blend/ordinal/_fit.py",
        "        cuts = fit_cuts(s, y_idx[idx], grades, cut_method, **cut_params)",
        "        cuts = fit_cuts(w @ X, y_idx, grades, cut_method, **cut_params)",
        (f"{ORD}test_the_cut_points_that_grade_a_fold_were_fitted_on_the_other_folds_only[after]",
         f"{ORD}test_the_cut_points_that_grade_a_fold_were_fitted_on_the_other_folds_only[joint]"),
        "the cut points that grade each outer fold are fitted on all rows",
        "issue 19, item 4",
    ),
    Mutation(
        "ordinal-kept-as-nested-with-procedure", "blend/ordinal/_fit.py",
        "        facts.update(nested_score=procedure.score, nested_score_is=(",
        "        facts.update(nested_score=kept.nested_score, nested_score_is=(",
        (f"{ORD}test_cli_procedure_scores_the_choice_doubly_nested",),
        "--cuts all --procedure: the best candidate's own nested QWK reported as the nested "
        "score of the choice",
        "issue 19, item 8",
    ),
    Mutation(
        "ordinal-kept-as-nested", "blend/ordinal/_fit.py",
        "        facts.update(nested_score=None, nested_score_is=(",
        "        facts.update(nested_score=kept.nested_score, nested_score_is=(",
        (f"{ORD}test_cli_cuts_all_compares_every_method_by_nested_qwk",),
        "--cuts all: the best of several candidates' nested QWKs called the nested score",
        "issue 19, item 8",
    ),
    # ------------------------------------------------------------------ the image trainer
    Mutation(
        "image-epoch-on-oof-fold", "base_models/image/trainer/_folds.py",
        "        fit_rows, sel_rows = inner_split(tr, targets, config.inner_fraction,\n"
        "                                         fold_seed(config.seed, k))",
        "        fit_rows, sel_rows = tr, va",
        ("tests/image/test_image_epoch_selection.py::"
         "test_best_epoch_is_selected_on_an_inner_split_of_the_training_folds",),
        "--select-by accuracy selects the epoch on the fold that becomes OOF",
        "issue 10, item 3",
    ),
    # ------------------------------------------------------------------ bugs as user errors
    Mutation(
        "bugs-shown-as-user-errors", "oof_common/cli.py",
        "    except USER_ERRORS as exc:",
        "    except (*USER_ERRORS, ValueError, OSError, KeyError, ImportError, RuntimeError) as exc:",
        ("tests/store/test_cli_messages.py::"
         "test_any_other_exception_is_an_internal_error_with_its_traceback_in_a_log[ValueError]",
         "tests/store/test_cli_messages.py::test_a_bug_inside_a_command_exits_1_end_to_end"),
        "the CLI runner prints a bug (a ValueError from numpy) as a one-line user error, exit 2",
        "issue 19, item 9",
    ),
)


@dataclass
class Outcome:
    """What running one mutation's tests against its planted copy gave."""

    mutation: Mutation
    failed: dict[str, str] = field(default_factory=dict)  # node id -> its summary line
    errors: list[str] = field(default_factory=list)  # setup / collection errors
    returncode: int = 0
    seconds: float = 0.0
    output: str = ""

    def problems(self) -> list[str]:
        """Why the plant was not caught (empty: every named test failed, as a test)."""
        out = []
        for test in self.mutation.tests:
            line = self.failed.get(test)
            if line is None:
                out.append(f"{test} did not fail")
            elif BROKEN.search(line):
                out.append(f"{test} failed because the planted copy is broken: {line}")
        if self.errors:
            out.append("errors (not test failures): " + "; ".join(self.errors))
        return out


def get(mutation_id: str) -> Mutation:
    """The mutation named ``mutation_id``; the message lists the ids."""
    for m in MUTATIONS:
        if m.id == mutation_id:
            return m
    raise KeyError(f"no mutation {mutation_id!r}; choose one of {', '.join(m.id for m in MUTATIONS)}")


def plant(m: Mutation, dest: Path, root: Path = ROOT) -> Path:
    """Copy the packages from ``root`` to ``dest`` and plant ``m`` there; returns ``dest``.

    Raises
    ------
    LookupError
        When ``m.old`` does not occur exactly once in ``m.file``: the code changed under the
        table, and the row must be updated to plant the same leak in the new code.
    """
    text = (root / m.file).read_text()
    n = text.count(m.old)
    if n != 1:
        raise LookupError(
            f"mutation {m.id!r}: the text to replace occurs {n} times in {m.file} (must be "
            f"once); update its row in tests/honesty/mutations.py:\n{m.old}")
    dest.mkdir(parents=True, exist_ok=True)
    for pkg in PACKAGES:
        shutil.copytree(root / pkg, dest / pkg, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (dest / m.file).write_text(text.replace(m.old, m.new))
    return dest


def environment(dest: Path) -> dict[str, str]:
    """The environment of a run against the copy in ``dest``: it comes first on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("OOF_DEBUG", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = str(dest)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def imported_from(dest: Path) -> dict[str, str]:
    """Where each package is imported from in a run against ``dest`` (a sanity check)."""
    code = ("import importlib, json; print(json.dumps({p: importlib.import_module(p).__file__ "
            f"for p in {list(PACKAGES)!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=dest, env=environment(dest),
                         capture_output=True, text=True, check=True, timeout=120)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def run(m: Mutation, dest: Path, root: Path = ROOT, timeout: float = 300) -> Outcome:
    """Plant ``m`` in a copy at ``dest`` and run its tests there; the outcome."""
    plant(m, dest, root)
    t0 = time.perf_counter()
    # the plugins no named test needs are left out: they cost a second of start-up per run
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:anyio",
           "-p", "no:benchmark", "--tb=line", "-rfE",
           "--rootdir", str(root), "-c", str(root / "pyproject.toml"),
           *[str(root / t.split("::")[0]) + "::" + t.split("::", 1)[1] for t in m.tests]]
    proc = subprocess.run(cmd, cwd=dest, env=environment(dest), capture_output=True, text=True,
                          timeout=timeout)
    out = Outcome(m, returncode=proc.returncode, seconds=time.perf_counter() - t0,
                  output=proc.stdout + proc.stderr)
    for line in proc.stdout.splitlines():
        if line.startswith("FAILED "):
            # the node id's path is relative to the directory pytest ran in (the copy)
            path, _, name = line[len("FAILED "):].split(" - ")[0].strip().partition("::")
            try:
                path = (dest / path).resolve().relative_to(root.resolve()).as_posix()
            except ValueError:
                pass
            out.failed[f"{path}::{name}"] = line
        elif line.startswith("ERROR "):
            out.errors.append(line)
    if proc.returncode not in (0, 1):  # 2 interrupted, 3 internal error, 4 usage, 5 no tests
        out.errors.append(f"pytest exited {proc.returncode}")
    return out


def run_all(mutations: list[Mutation], base: Path, workers: int = 2,
            root: Path = ROOT) -> dict[str, Outcome]:
    """Run every mutation (``workers`` at a time), each in its own copy under ``base``."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {m.id: pool.submit(run, m, base / m.id, root) for m in mutations}
        return {k: f.result() for k, f in futures.items()}


def main(argv: list[str] | None = None) -> int:
    """Run the named mutations (default: all) and print whether each was caught."""
    import tempfile

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("ids", nargs="*", help="mutation ids (default: all)")
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    p.add_argument("--keep", metavar="DIR", help="plant in DIR/<id> and keep the copies")
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    if args.list:
        for m in MUTATIONS:
            print(f"{m.id:40s} {m.file:32s} {m.plants}")
        return 0
    chosen = [get(i) for i in args.ids] if args.ids else list(MUTATIONS)
    with tempfile.TemporaryDirectory(prefix="oof-mutations-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        outcomes = run_all(chosen, base, args.workers)
    bad = 0
    for mid, o in outcomes.items():
        problems = o.problems()
        bad += bool(problems)
        print(f"{'caught' if not problems else 'MISSED':7s} {mid:40s} {o.seconds:6.1f} s")
        for pr in problems:
            print(f"        {pr}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

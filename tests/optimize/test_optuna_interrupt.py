"""Ctrl-C in `blend optimize --method optuna` prints one line, and the study stays valid (issue 21)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna

from oof_store import synthetic

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
from blend.cli import main
from blend.optimize._objective import Objective
real, calls = Objective.scores, {"n": 0}
def interrupted(self, w):  # Ctrl-C arrives in the middle of trial 6
    calls["n"] += 1
    if calls["n"] == 6:
        raise KeyboardInterrupt
    return real(self, w)
Objective.scores = interrupted
sys.exit(main(["optimize", sys.argv[1], "--method", "optuna", "--trials", "40", "--no-nested",
               "--storage", sys.argv[2], "--study-name", "s"]))
"""


def test_ctrl_c_prints_one_line_not_optunas_traceback(tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=200, n_classes=3, n_folds=3, seed=2)
    journal = str(tmp_path / "study.log")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(store.uri), journal], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 130, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip() and not ln.startswith("warning:")]
    assert lines == ["interrupted"], run.stderr
    # the study is still readable and holds the trials done before Ctrl-C
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(journal))
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary.n_trials >= 5

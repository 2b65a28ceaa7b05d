"""scikit-learn's ConvergenceWarning is reported once, as a count, with what it means (issue 21)."""

from __future__ import annotations

import argparse
import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning

from oof_common.cli import run_main


def _parser(func):
    p = argparse.ArgumentParser()
    p.set_defaults(func=func)
    return p


def test_convergence_warnings_become_one_counted_line(capfd):
    def work(args):
        for _ in range(7):
            warnings.warn("lbfgs failed to converge (status=1)", ConvergenceWarning, stacklevel=1)
        return 0

    assert run_main(_parser(work), []) == 0
    err = capfd.readouterr().err
    assert err.count("failed to converge") == 0
    assert "scikit-learn warned 7 time(s) that a solver stopped before converging" in " ".join(err.split())


def test_other_warnings_pass_through_unchanged():
    def work(args):
        warnings.warn("something else", UserWarning, stacklevel=1)
        return 0

    with pytest.warns(UserWarning, match="something else"):
        assert run_main(_parser(work), []) == 0


def test_command_warnings_are_shown_when_raised_not_after_the_command(capfd):
    from oof_common.cli import err_console
    from oof_common.core import CommandWarning

    def work(args):
        warnings.warn("skipped model 'm01'", CommandWarning, stacklevel=1)
        err_console.print("the leaderboard", highlight=False)
        for _ in range(3):
            warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=1)
        return 0

    assert run_main(_parser(work), []) == 0
    err = capfd.readouterr().err
    assert err.index("warning: skipped model 'm01'") < err.index("the leaderboard")
    assert "scikit-learn warned 3 time(s)" in " ".join(err.split())

"""What the command lines print: `%` in help, bracketed text kept, no ANSI codes off a terminal."""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from oof_store import synthetic

ROOT = Path(__file__).resolve().parents[2]


def _parsers():
    from base_models.cli import build_parser as base_models
    from blend.cli import build_parser as blend
    from blend.cli.stack import build_parser as stack
    from oof_store.cli import build_parser as oof

    for top in (oof(), base_models(), blend(), stack()):
        yield top.prog, top
        for action in top._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield f"{top.prog} {name}", sub


@pytest.mark.parametrize(("prog", "parser"), list(_parsers()), ids=lambda v: v if isinstance(v, str) else "")
def test_help_shows_percent_signs_not_doubled_ones(prog, parser):
    text = parser.format_help()
    assert "%%" not in text, f"`{prog} --help` shows '%%'"


def test_the_demo_help_names_its_test_part_in_percent():
    from base_models.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert "a stratified 20% test part" in " ".join(sub.choices["demo"].format_help().split())
    assert "inner 10% split" in " ".join(sub.choices["tabular"].format_help().split())


def test_an_error_message_keeps_its_bracketed_text(capsys):
    from oof_common.cli import run_main
    from oof_store import StoreError

    def fail(args):
        raise StoreError("install the [vision] extra; values must lie in [nan, 1.0] not [bold]")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=fail)
    assert run_main(parser, []) == 2
    err = capsys.readouterr().err
    assert "install the [vision] extra; values must lie in [nan, 1.0] not [bold]" in err


def _runner(exc: BaseException, *, debug: bool = False):
    from oof_common.cli import add_debug_flag

    def fail(args):
        raise exc

    parser = argparse.ArgumentParser(prog="tool")
    add_debug_flag(parser)
    parser.set_defaults(func=fail)
    return parser, ["--debug"] if debug else []


def _user_errors():
    from base_models.image._errors import ImageTrainerError
    from blend import BlendError
    from oof_store import ModelNotFoundError, StoreError
    from oof_store.distributed import DistributedError

    return [
        (StoreError("model 'b4' has 3 NaN values"), "model 'b4' has 3 NaN values"),
        (ModelNotFoundError("no model 'zz' in the store"), "no model 'zz' in the store"),
        (BlendError("unknown method 'x'; available: de"), "unknown method 'x'; available: de"),
        (ImageTrainerError("image a.png not found"), "image a.png not found"),
        (DistributedError("the worker died 3 times"), "the worker died 3 times"),
        (FileNotFoundError(2, "No such file or directory", "feats.csv"),
         "No such file or directory: feats.csv"),
    ]


@pytest.mark.parametrize(("exc", "shown"), _user_errors(), ids=lambda v: type(v).__name__)
def test_a_user_error_is_one_red_line_and_exit_code_2(exc, shown, capsys):
    from oof_common.cli import run_main

    assert run_main(*_runner(exc)) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {shown}"


@pytest.mark.parametrize("exc", [
    ValueError("operands could not be broadcast together with shapes (3,) (4,)"),
    KeyError("stacker"), RuntimeError("boom"), ImportError("cannot import name 'x'"),
    TypeError("unsupported operand"), IndexError("index 5 is out of bounds"),
    OSError(28, "No space left on device"),
], ids=lambda v: type(v).__name__)
def test_any_other_exception_is_an_internal_error_with_its_traceback_in_a_log(exc, capsys):
    """A bug is never shown as a user error: one line, the type, where the traceback is, exit 1."""
    from oof_common.cli import run_main

    assert run_main(*_runner(exc)) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("internal error")
    assert f"{type(exc).__name__}: " in lines[0]
    assert "--debug" in lines[0]
    log = Path(lines[0].split("traceback in ")[1].split(" (or rerun")[0])
    try:
        text = log.read_text()
        assert "Traceback (most recent call last)" in text
        assert "in fail" in text
        assert type(exc).__name__ in text
    finally:
        log.unlink()


@pytest.mark.parametrize("exc", [ValueError("a bug"), _user_errors()[0][0]], ids=["bug", "user"])
def test_debug_shows_the_traceback_of_any_error(exc):
    from oof_common.cli import run_main

    with pytest.raises(type(exc), match=str(exc)):
        run_main(*_runner(exc, debug=True))


def test_a_bug_inside_a_command_exits_1_end_to_end(tmp_path, monkeypatch, capsys):
    """`blend report` whose core fails with a numpy error: an internal error, not a user error."""
    import blend.workflows.report as workflow_report
    from blend.cli import main

    synthetic.make_store(tmp_path / "s", n_models=2, n_rows=60, n_classes=3, seed=0)

    def broken(*a, **k):
        return np.ones(3) + np.ones(4)

    monkeypatch.setattr(workflow_report, "build_report", broken)
    assert main(["report", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("internal error")
    assert "ValueError: operands could not be broadcast" in err
    Path(err.split("traceback in ")[1].split(" (or rerun")[0]).unlink()
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_a_report_keeps_bracketed_class_and_group_names():
    import numpy as np
    from rich.console import Console

    from blend.cli.report import _print
    from blend.report import build_report

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 30)
    P = rng.dirichlet([1, 1], size=(2, 60))
    P[:, np.arange(60), y] += 1.0
    P /= P.sum(-1, keepdims=True)
    rep = build_report(P, y, np.tile([0, 1, 2], 20), task="binary", metric="accuracy",
                       class_names=["[cat]", "[nan, 1.0]"],
                       by={"src": np.array(["[red]", "[vision]"] * 30)})
    con = Console(record=True, width=200)
    _print(rep, con, noise_top=3)
    text = con.export_text()
    for shown in ("[cat]", "[nan, 1.0]", "[red]", "[vision]"):
        assert shown in text, shown


def _run(argv, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    env.pop("FORCE_COLOR", None)
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_commands_piped_to_a_file_print_no_escape_codes(tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=3, n_rows=150, n_classes=3, n_folds=3,
                                 n_test=10, seed=2)
    proc = _run([sys.executable, "-m", "blend.cli", "search", str(store.uri), "--top", "3"])
    assert proc.returncode == 0, proc.stderr
    assert "top 3 subsets" in proc.stdout
    assert "\x1b" not in proc.stdout + proc.stderr
    bad = _run([sys.executable, "-m", "blend.cli", "search", str(tmp_path / "nope")])
    assert bad.returncode == 2
    assert "error:" in bad.stderr
    assert "\x1b" not in bad.stderr


def test_no_color_keeps_colour_off_even_on_a_forced_terminal(tmp_path):
    code = ("from oof_common.cli import console; console.print('[red]x[/red]')")
    forced = _run([sys.executable, "-c", code], env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "0"})
    nocolor = _run([sys.executable, "-c", code],
                   env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "0", "NO_COLOR": "1"})
    assert "\x1b[31m" in forced.stdout  # the check can see colour when there is some
    assert "\x1b[31m" not in nocolor.stdout
    assert "x" in nocolor.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_demo_script_piped_to_a_file_prints_no_escape_codes(tmp_path):
    # stub commands: `base-models` stops the script after its first step line is printed
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "base-models"
    stub.write_text("#!/bin/sh\nexit 3\n")
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    proc = _run(["bash", str(ROOT / "examples" / "demo.sh"), str(tmp_path / "store")], env=env)
    assert proc.returncode == 3
    assert "==> base-models demo" in proc.stdout
    assert "\x1b" not in proc.stdout

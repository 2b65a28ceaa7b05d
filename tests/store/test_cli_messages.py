"""What the command lines print: `%` in help, bracketed text kept, no ANSI codes off a terminal."""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

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

    def fail(args):
        raise ValueError("install the [vision] extra; values must lie in [nan, 1.0] not [bold]")

    parser = argparse.ArgumentParser()
    parser.set_defaults(func=fail)
    assert run_main(parser, []) == 2
    err = capsys.readouterr().err
    assert "install the [vision] extra; values must lie in [nan, 1.0] not [bold]" in err


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

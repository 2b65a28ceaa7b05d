"""The command lines start without their heavy dependencies (issue 22: `--help` < 0.3 s).

Not a timing test: it runs each command's ``--help`` in a fresh interpreter under
``python -X importtime`` and asserts which modules were imported. pandas, scipy,
scikit-learn, LightGBM, Optuna, torch, rich and pyarrow are imported only inside the
functions that use them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("pandas", "scipy", "sklearn", "lightgbm", "optuna", "torch", "rich", "pyarrow")
ROOT = Path(__file__).resolve().parents[2]

COMMANDS = {
    "blend --help": ("blend.cli", "main", ["--help"]),
    "blend search --help": ("blend.cli", "main", ["search", "--help"]),
    "oof --help": ("oof_store.cli", "main", ["--help"]),
    "stack --help": ("blend.cli.stack", "main", ["--help"]),
}


def imported_modules(module: str, func: str, argv: list[str]) -> tuple[set[str], str]:
    """Top-level names of every module imported while running ``module.func(argv)``."""
    code = (f"import sys\nfrom {module} import {func}\n"
            f"try:\n    {func}({argv!r})\nexcept SystemExit:\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    names = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
             if line.startswith("import time:")}
    return {n.split(".")[0] for n in names}, r.stdout


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_imports_no_heavy_module(command):
    top, out = imported_modules(*COMMANDS[command])
    assert "usage:" in out
    assert sorted(top & set(HEAVY)) == []


def test_the_check_sees_a_heavy_import():
    # the same probe on a call that does import pandas (to show the check can fail): the
    # store's lazy names load the store module, with pandas and pyarrow, on first use
    top, _ = imported_modules("oof_store", "softmax", [[1.0, 2.0]])
    assert {"pandas", "pyarrow"} <= top

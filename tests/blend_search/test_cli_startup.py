"""The command lines start without their heavy dependencies (issue 22: `--help` < 0.3 s).

Not a timing test: it runs each command's ``--help`` (and the parse of a full command line,
the step before any work) in a fresh interpreter under ``python -X importtime`` and asserts
which modules were imported. numpy, pandas, scipy, scikit-learn, LightGBM, Optuna, torch,
timm, rich and pyarrow are imported only inside the functions that use them: the registries
that ``--help`` lists (metrics, rules, search methods, optimisers, cut-point methods,
stackers, tabular models, compare budgets) import none of them. The wall times are in
``docs/benchmarks/search.md``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "pandas", "scipy", "sklearn", "lightgbm", "optuna", "torch", "timm", "rich",
         "pyarrow")
ROOT = Path(__file__).resolve().parents[2]

COMMANDS = {
    "blend --help": ("blend.cli", "main", ["--help"]),
    "blend search --help": ("blend.cli", "main", ["search", "--help"]),
    "blend report --help": ("blend.cli", "main", ["report", "--help"]),
    "blend optimize --help": ("blend.cli", "main", ["optimize", "--help"]),
    "blend apply --help": ("blend.cli", "main", ["apply", "--help"]),
    "blend compare --help": ("blend.cli", "main", ["compare", "--help"]),
    "oof --help": ("oof_store.cli", "main", ["--help"]),
    "stack --help": ("blend.cli.stack", "main", ["--help"]),
    "stack lgbm --help": ("blend.cli.stack", "main", ["lgbm", "--help"]),
    "base-models --help": ("base_models.cli", "main", ["--help"]),
    "base-models tabular --help": ("base_models.cli", "main", ["tabular", "--help"]),
    "base-models image --help": ("base_models.cli", "main", ["image", "--help"]),
}

# every sub-command's help of each command line, in one interpreter per command line
EVERY_HELP = """
import argparse
from {module} import build_parser
parser = build_parser()
def walk(p):
    print(p.format_help())
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction):
            for sub in a.choices.values():
                walk(sub)
walk(parser)
"""

# the parse of a full command line, the step before the command's work starts
PARSES = {
    "blend search": ("blend.cli", ["search", "STORE", "--top", "50", "--metric", "ACC",
                                   "--rule", "logit", "--method", "exact", "--jobs", "2",
                                   "--json", "out.json"]),
    "blend optimize": ("blend.cli", ["optimize", "STORE", "--method", "lbfgs", "--metric",
                                     "log_loss", "--cuts", "coordinate", "--param", "a=1"]),
    "blend compare": ("blend.cli", ["compare", "STORE", "--budget", "full", "--metric", "auc"]),
    "blend report": ("blend.cli", ["report", "STORE", "--metric", "f1"]),
    "blend apply": ("blend.cli", ["apply", "RECIPE", "--store", "STORE", "--out", "s.csv"]),
    "oof ls": ("oof_store.cli", ["ls", "STORE", "--json"]),
    "stack": ("blend.cli.stack", ["linear", "STORE", "--features", "logits", "--metric", "qwk"]),
    "base-models": ("base_models.cli", ["tabular", "STORE", "--data", "x.csv", "--model", "lgbm"]),
}


def _imported(code: str) -> tuple[set[str], str]:
    """Top-level names of every module imported while running ``code``, and its stdout."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                       text=True, env=env, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    names = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
             if line.startswith("import time:")}
    return {n.split(".")[0] for n in names}, r.stdout


def imported_modules(module: str, func: str, argv: list[str]) -> tuple[set[str], str]:
    """Top-level names of every module imported while running ``module.func(argv)``."""
    return _imported(f"import sys\nfrom {module} import {func}\n"
                     f"try:\n    {func}({argv!r})\nexcept SystemExit:\n    pass\n")


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_imports_no_heavy_module(command):
    top, out = imported_modules(*COMMANDS[command])
    assert "usage:" in out
    assert sorted(top & set(HEAVY)) == []


@pytest.mark.parametrize("module", ["blend.cli", "blend.cli.stack", "oof_store.cli",
                                    "base_models.cli"])
def test_every_sub_command_help_imports_no_heavy_module(module):
    top, out = _imported(EVERY_HELP.format(module=module))
    assert out.count("usage:") >= 3
    assert sorted(top & set(HEAVY)) == []


@pytest.mark.parametrize("command", list(PARSES))
def test_parsing_a_command_line_imports_no_heavy_module(command):
    module, argv = PARSES[command]
    build = "build_parser(argv)" if module == "blend.cli" else "build_parser()"
    top, out = _imported(f"from {module} import build_parser\nargv = {argv!r}\n"
                         f"args = {build}.parse_args(argv)\nprint(args.func.__name__)\n")
    assert out.strip().endswith("_cli")
    assert sorted(top & set(HEAVY)) == []


def test_the_public_api_still_reaches_the_lazy_names():
    # `import blend` is light too, and the names the packages export lazily still resolve
    top, out = _imported(
        "import blend, blend.search, blend.optimize, blend.stack, blend.compare, blend.ordinal\n"
        "import base_models\n"
        "print(blend.__version__, sorted(blend.search.METHODS), 'lgbm' in blend.stack.available_stackers())\n"
    )
    assert "True" in out
    assert sorted(top & set(HEAVY)) == []
    top, _ = _imported("from blend.search import search_subsets\n"
                       "from blend.optimize import optimize, OptimizeResult\n"
                       "from blend.stack import fit_stacker, StackResult\n"
                       "from blend.compare import compare, BUDGETS\n"
                       "from blend.ordinal import fit_ordinal, qwk_grades\n"
                       "from base_models import train_tabular\n")
    assert "numpy" in top


def test_the_check_sees_a_heavy_import():
    # the same probe on a call that does import pandas (to show the check can fail): the
    # store's lazy names load the store module, with pandas and pyarrow, on first use
    top, _ = imported_modules("oof_store", "softmax", [[1.0, 2.0]])
    assert {"pandas", "pyarrow"} <= top

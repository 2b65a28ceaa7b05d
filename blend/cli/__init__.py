"""The ``blend`` command: ``blend report|search|optimize|apply|compare ...``.

Each sub-command lives in its own module under ``blend.cli`` and exposes
``register(subparsers)``, which adds its parser (with
``oof_common.cli.add_debug_flag``) and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from oof_common.cli import add_version_flag, run_main

# Sub-command modules, in the order ``blend --help`` lists them, with their one-line help:
# ``blend --help`` lists them without importing any (start-up < 0.3 s).
SUBCOMMANDS: dict[str, str] = {
    "report": "per-model, per-fold, TTA, correlation, breakdown and label-noise report of the OOF",
    "search": "find the best subsets of models (exact when it fits the time budget)",
    "optimize": "fit blend weights (de, optuna, nelder-mead, lbfgs, hill-climb) with nested CV",
    "apply": "write a submission (and/or a store model) from a recipe",
    "compare": "compare every blend and stacker under the same folds and say what to submit",
}


def _command(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """Build the ``blend`` parser with the sub-commands listed in ``SUBCOMMANDS``.

    With ``argv``, only the sub-command it names is imported (its module and its parser);
    the others are listed by name and help only. Without, every sub-command is imported.
    """
    parser = argparse.ArgumentParser(
        prog="blend",
        description="Report on, search, weight and apply blends of the models in an OOF store.",
    )
    add_version_flag(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    wanted = None if argv is None else _command(argv)
    for name, text in SUBCOMMANDS.items():
        if argv is None or name == wanted:
            importlib.import_module(f"blend.cli.{name}").register(sub)
        else:
            sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``blend`` command on ``argv`` and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_main(build_parser(argv), argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

"""The ``blend`` command: ``blend report|search|optimize|apply|compare ...``.

Each sub-command lives in its own module under ``blend.cli`` and exposes
``register(subparsers)``, which adds its parser (with
``oof_common.cli.add_debug_flag``) and sets ``func``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from oof_common.cli import add_version_flag, run_main

# Sub-command modules, in the order ``blend --help`` lists them.
SUBCOMMANDS: list[str] = ["report", "search", "optimize", "apply", "compare"]


def build_parser() -> argparse.ArgumentParser:
    """Build the ``blend`` parser with the sub-commands listed in ``SUBCOMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="blend",
        description="Report on, search, weight and apply blends of the models in an OOF store.",
    )
    add_version_flag(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"blend.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``blend`` command on ``argv`` and return its exit code."""
    return run_main(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

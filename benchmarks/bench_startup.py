"""Benchmark: the wall time of every command line's ``--help`` (issue 22: < 0.3 s).

Runs each command's ``--help`` in a fresh interpreter (``sys.executable -c "from blend.cli
import main; main(['search', '--help'])"`` and the like) from one or more checkouts,
interleaved round by round, with ``python -c pass`` timed in the same rounds, and prints a
Markdown table of min-max (median) seconds. Usage::

    python3 benchmarks/bench_startup.py --runs 5 /path/to/old/checkout /path/to/new/checkout

Each checkout is put first on ``PYTHONPATH`` (the packages are also installed editable from
another checkout: this times the code in the checkouts given). Which modules are imported
is tested in ``tests/blend_search/test_cli_startup.py``; this measures the seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "python3 -c pass": "pass",
    "blend --help": "from blend.cli import main; main(['--help'])",
    "blend search --help": "from blend.cli import main; main(['search', '--help'])",
    "blend report --help": "from blend.cli import main; main(['report', '--help'])",
    "blend optimize --help": "from blend.cli import main; main(['optimize', '--help'])",
    "blend apply --help": "from blend.cli import main; main(['apply', '--help'])",
    "blend compare --help": "from blend.cli import main; main(['compare', '--help'])",
    "oof --help": "from oof_store.cli import main; main(['--help'])",
    "stack --help": "from blend.cli.stack import main; main(['--help'])",
    "base-models --help": "from base_models.cli import main; main(['--help'])",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", help="checkouts to time (each first on PYTHONPATH)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    times: dict[tuple[str, str], list[float]] = {}
    print(f"load average before {os.getloadavg()[0]:.2f}", flush=True)
    for _ in range(args.runs):
        for label, code in COMMANDS.items():
            for root in args.roots:
                env = {**os.environ, "PYTHONPATH": root}
                t = time.perf_counter()
                subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                times.setdefault((label, root), []).append(time.perf_counter() - t)
    print(f"load average after {os.getloadavg()[0]:.2f}")
    print("| command | " + " | ".join(args.roots) + " |")
    print("|---|" + "---|" * len(args.roots))
    for label in COMMANDS:
        cells = [times[(label, r)] for r in args.roots]
        print(f"| `{label}` | " + " | ".join(
            f"{min(c):.2f}-{max(c):.2f} (median {statistics.median(c):.2f})" for c in cells) + " |")


if __name__ == "__main__":
    main()

"""Time ``blend report`` on a store shaped like the issue's: 28 models x 21,490 rows x 6 classes.

Goal (issue 7): <= 10 s for the terminal report, <= 30 s with the HTML.

Prints the time of each stage (store load, pure core, terminal tables, HTML) measured in
process, then the wall time of the real command (``blend report ...`` in a fresh
process, imports included) without and with ``--html``.

Usage::

    python3 benchmarks/bench_report.py [--models 28] [--rows 21490] [--classes 6] [--tta 1]
                                       [--store DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_bench_store(uri: Path, n_models: int, n_rows: int, n_classes: int, n_tta: int):
    """A synthetic store (``oof_store.synthetic.make_oof``) with an extra ``source`` column."""
    from oof_store import Store, synthetic

    data = synthetic.make_oof(n_models=n_models, n_rows=n_rows, n_classes=n_classes, n_folds=5,
                              n_tta=n_tta, accuracy=(0.86, 0.90), correlation=0.8, seed=0)
    ids = np.array([f"img_{i:06d}" for i in range(n_rows)])
    rng = np.random.default_rng(0)
    names = [f"c{k}" for k in range(n_classes)]
    targets = pd.DataFrame({"image_id": ids, "label": np.array(names)[data.y], "fold": data.folds,
                            "source": rng.choice(["2019", "2020"], n_rows, p=[0.25, 0.75])})
    store = Store.create(uri, targets, id_col="image_id", target_cols=["label"], fold_col="fold",
                         class_names=names)
    views = ["none"] + [f"view{v}" for v in range(1, n_tta)]
    for m in range(n_models):
        for t in range(n_tta):
            for f in store.fold_ids:
                rows = data.folds == f
                store.write_block("oof", f"model_{m:02d}", f, t, ids[rows], data.logits[m, t, rows])
        store.finish_model(f"model_{m:02d}", kind="logits", tta_views=views)
    return store


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", type=int, default=28)
    ap.add_argument("--rows", type=int, default=21490)
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--tta", type=int, default=1)
    ap.add_argument("--store", type=Path, help="reuse/create the store here (default: a temp dir)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    from rich.console import Console

    from blend.cli import report as cli_report
    from blend.report_html import render_html
    from oof_store import Store

    tmp = tempfile.TemporaryDirectory(prefix="bench-report-")
    uri = args.store or Path(tmp.name) / "store"
    t0 = time.perf_counter()
    store = Store(uri) if (uri / "store.json").exists() else make_bench_store(
        uri, args.models, args.rows, args.classes, args.tta)
    print(f"store: {len(store.models())} models x {len(store.ids)} rows x {store.n_classes} classes, "
          f"{args.tta} TTA view(s), {store.n_folds} folds ({time.perf_counter() - t0:.1f} s to build/open)")

    models = store.models()
    t_load, (views, names) = _best(lambda: cli_report._load_views(Store(uri), models), args.repeat)
    kw = dict(task=store.task, models=models, tta_views=names, class_names=store.class_names,
              ids=store.ids, by={"source": store.targets["source"].astype(str).to_numpy()})
    from blend.report import build_report

    t_core, rep = _best(lambda: build_report(views, store.y, store.folds, **kw), args.repeat)
    sink = Console(file=io.StringIO(), width=160)
    t_term, _ = _best(lambda: cli_report._print(rep, sink, 10), args.repeat)
    t_html, page = _best(lambda: render_html(rep), args.repeat)
    print(f"in process (best of {args.repeat}): load OOF {t_load:.2f} s | core {t_core:.2f} s | "
          f"terminal tables {t_term:.2f} s | HTML {t_html:.2f} s ({len(page) / 1e6:.2f} MB)")

    def cli(*extra: str) -> tuple[float, float]:
        """(wall, CPU user+sys) seconds of one run of the command in a fresh process."""
        cmd = [sys.executable, "-c", "import sys; from blend.cli import main; sys.exit(main())",
               "report", str(uri), "--by", "source", *extra]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    out = Path(tmp.name)
    t_cli = min(cli() for _ in range(args.repeat))
    t_cli_html = min(cli("--html", str(out / "r.html"), "--json", str(out / "r.json"),
                         "--noise-csv", str(out / "n.csv")) for _ in range(args.repeat))
    print(f"command, fresh process (best of {args.repeat}; wall / CPU): terminal {t_cli[0]:.2f} s / "
          f"{t_cli[1]:.2f} s (goal <= 10 s) | with --html --json --noise-csv {t_cli_html[0]:.2f} s / "
          f"{t_cli_html[1]:.2f} s (goal <= 30 s)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

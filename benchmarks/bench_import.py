"""Import time of one whole-file OOF import, 10k / 100k / 1M rows x 10 classes x 5 folds.

For each size: a store with that many rows, one Parquet file of probabilities with the
rows shuffled (an id column and one column per class), then

- ``pd.read_parquet`` of that file (the baseline: the least any import must do);
- opening the store and reading its ids and folds (paid once per ``oof import`` command,
  shared by every file of a template; not part of the import times below);
- ``import_predictions`` of that file: read, check every row (ids, duplicates, missing
  rows, folds, finite values, probabilities), write the 5 blocks, finish the model (which
  reads the blocks back and checks them again). The check phase (nothing written) is
  timed on its own.

Prints each time, its ratio to ``read_parquet``, the growth ratio from one size to the
next (10 means linear), and the load average before and after (the machine is shared).

    python benchmarks/bench_import.py [--sizes 10000,100000,1000000] [--classes 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

import numpy as np
import pandas as pd
from bench_store import best_of  # the same best-of-N timer as the store benchmark

from oof_store import Store
from oof_store.importing import import_files, import_predictions


def _setup(root: str, n: int, n_classes: int, seed: int = 0) -> tuple[Store, str]:
    rng = np.random.default_rng(seed)
    ids = np.array([f"row{i:08d}" for i in range(n)], dtype=object)
    targets = pd.DataFrame(
        {"id": ids, "target": rng.integers(0, n_classes, n), "fold": rng.integers(0, 5, n)}
    )
    store = Store.create(os.path.join(root, f"store-{n}"), targets,
                         class_names=[str(c) for c in range(n_classes)])
    p = rng.dirichlet(np.ones(n_classes), n)
    df = pd.DataFrame(p, columns=store.class_names)
    df.insert(0, "id", ids)
    path = os.path.join(root, f"oof-{n}.parquet")
    df.iloc[rng.permutation(n)].to_parquet(path, index=False)
    return store, path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3, help="best of N")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
          f"({os.cpu_count()} CPUs)")
    root = tempfile.mkdtemp(prefix="bench-import-")
    rows = []
    try:
        for n in sizes:
            store, path = _setup(root, n, args.classes)
            repeat = args.repeat

            def open_store(uri=store.uri):
                s = Store(uri)
                return s.ids, s.folds  # what every import reads once: ids and folds

            open_s = best_of(open_store, repeat)
            store = Store(store.uri)
            open_store_warm = store.ids, store.folds  # noqa: F841 (the timed runs share these)
            read_s = best_of(lambda path=path: pd.read_parquet(path), repeat)

            class _Abort(Exception):
                pass

            def check_only(store=store, path=path):
                def stop(phase, done, total):
                    if phase == "check" and done == total:
                        raise _Abort

                try:
                    import_files(store, "oof", [_spec(path)], progress=stop)
                except _Abort:
                    pass

            check_s = best_of(check_only, repeat)
            assert store.models(include_incomplete=True) == [], "the check phase must write nothing"

            def full(store=store, path=path):
                store.remove_model("m") if "m" in store.models(include_incomplete=True) else None
                import_predictions(store, "m", "oof", path)

            import_s = best_of(full, repeat)
            got = store.load_oof(["m"]).preds[0, 0]
            want = pd.read_parquet(path).set_index("id").loc[store.ids, store.class_names]
            assert np.array_equal(got, want.to_numpy(np.float32)), "import must keep every value"
            rows.append((n, read_s, check_s, import_s))
            print(f"{n:>9,} rows: read_parquet {read_s:7.3f} s | open store {open_s:6.3f} s | "
                  f"checks {check_s:7.3f} s | import {import_s:7.3f} s = "
                  f"{import_s / read_s:5.1f}x read_parquet", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for (n0, _, c0, i0), (n1, _, c1, i1) in zip(rows, rows[1:], strict=False):
        print(f"growth {n0:,} -> {n1:,} rows ({n1 / n0:.0f}x): import {i1 / i0:.1f}x, checks "
              f"{c1 / c0:.1f}x")
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _spec(path: str):
    from oof_store.importing import FileSpec

    return FileSpec(path, "m")


if __name__ == "__main__":
    main()

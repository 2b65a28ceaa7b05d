"""Write and reload 28 models x 5 folds x 1 TTA of 21,490 rows x 6 classes.

Prints seconds for the write (140 Parquet blocks + manifests), for ``load_oof`` without the
cache (every block read and checked: the first read in a process also computes each
block's SHA-256, later ones skip it), with the cache from a new ``Store`` object (the
targets are read too) and from an open one (both hash the cached array), and for
``np.load`` of the same (28, 1, 21490, 6) float32 array from one ``.npy`` file, with the
ratios and the load average.

    python benchmarks/bench_store.py [--models 28] [--rows 21490] [--classes 6] [--folds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from oof_store import Store, synthetic

try:  # block hashes (format version 2); absent in older versions, for before/after runs
    from oof_store import _cache, _reading
except ImportError:  # pragma: no cover
    _cache = _reading = None


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=28)
    ap.add_argument("--rows", type=int, default=21490)
    ap.add_argument("--classes", type=int, default=6)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-store-")
    try:
        data = synthetic.make_oof(n_models=args.models, n_rows=args.rows, n_classes=args.classes,
                                  n_folds=args.folds, seed=0)
        t = time.perf_counter()
        synthetic.make_store(os.path.join(tmp, "store"), n_models=args.models, n_rows=args.rows,
                             n_classes=args.classes, n_folds=args.folds, seed=0)
        write_s = time.perf_counter() - t
        uri = os.path.join(tmp, "store")
        n_files = sum(len(f) for _, _, f in os.walk(os.path.join(uri, "preds")))

        def uncached_first():
            if _reading is not None:
                _reading._VERIFIED.clear()  # as in a fresh process: every block is hashed
            return uncached()

        def uncached():
            os.environ["OOF_STORE_CACHE"] = "0"
            try:
                return Store(uri).load_oof()
            finally:
                del os.environ["OOF_STORE_CACHE"]

        def cold():
            return Store(uri).load_oof()

        def cold_first():
            if _cache is not None:
                _cache._VERIFIED.clear()  # as in a fresh process: the cache checksum is checked
            return cold()

        store = Store(uri)
        store.load_oof()  # fills the cache

        def warm():
            return store.load_oof()

        assert np.array_equal(uncached().preds, data.logits), "the store must return what was written"
        assert np.array_equal(cold().preds, data.logits)
        first_s = best_of(uncached_first, args.repeat)
        uncached_s = best_of(uncached, args.repeat)
        cold_first_s = best_of(cold_first, args.repeat)
        cold_s = best_of(cold, args.repeat)
        warm_s = best_of(warm, args.repeat)
        npy = os.path.join(tmp, "oof.npy")
        np.save(npy, data.logits)
        npy_s = best_of(lambda: np.load(npy), args.repeat)
        mb = data.logits.nbytes / 2**20
        print(f"shape {data.logits.shape} float32 = {mb:.1f} MiB in {n_files} Parquet files")
        print(f"write (generate + {n_files} blocks + manifests):        {write_s:.2f} s")
        if _reading is not None:
            print(f"load_oof, no cache, first read (hashes each block): {first_s * 1000:6.1f} ms")
        print(f"load_oof, every block read and checked (no cache):  {uncached_s * 1000:6.1f} ms")
        if _cache is not None:
            print(f"load_oof, cached, first in process (CRC-32 check): {cold_first_s * 1000:6.1f} ms")
        print(f"load_oof, cached, new Store object (reads targets): {cold_s * 1000:6.1f} ms")
        print(f"load_oof, cached, open Store:                       {warm_s * 1000:6.1f} ms")
        print(f"np.load of the same array from one .npy:            {npy_s * 1000:6.1f} ms")
        print(f"ratios to np.load: no cache {uncached_s / npy_s:.0f}x, cached new Store "
              f"{cold_s / npy_s:.1f}x, cached open Store {warm_s / npy_s:.1f}x")
        print(f"load average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

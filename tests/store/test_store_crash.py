"""Crash testing as SQLite does it: SIGKILL a real writer at every write point, then check.

A *zygote* subprocess imports the store once; for each (operation, N) it forks a child that
sets ``OOF_STORE_CRASH_AT=N`` and runs the operation, so the N-th write point of that child
(before, half-way through and after each temporary file, before and after each rename,
before each delete: ``oof_store._fs.crash_point``) kills it with SIGKILL. N runs 1, 2, ...
until a child finishes without being killed: every write point of import (new model),
overwrite, rm and finish is hit once. After each kill, on a fresh copy of the same store:

- the model is wholly old or wholly new (its arrays equal one or the other exactly), or
  absent where that is a state of the operation (a new model not yet committed, a removed
  model), and every other model is untouched;
- ``validate`` reports nothing new, or each new problem names the model being written;
- running the operation again succeeds (no stale lock), and then ``validate`` passes
  (apart from the template's own incomplete model 'half', until 'finish' finishes it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from oof_store import ModelNotFoundError, Store, StoreError, synthetic
from oof_store.importing import import_predictions

ZYGOTE = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    from oof_store import Store
    from oof_store.importing import import_predictions

    def run(op, uri, new_file):
        store = Store(uri)
        if op == "import":
            import_predictions(store, "new", "oof", new_file, kind="logits")
        elif op == "overwrite":
            import_predictions(store, "m00", "oof", new_file, kind="logits", overwrite=True)
        elif op == "rm":
            store.remove_model("m01")
        elif op == "finish":
            store.finish_model("half", kind="logits")

    for line in sys.stdin:
        op, n, uri, new_file = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.environ["OOF_STORE_CRASH_AT"] = str(n)
            try:
                run(op, uri, new_file)
            except BaseException as exc:
                sys.stderr.write(f"{op} {n}: {exc!r}\\n")
                os._exit(3)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9
        code = None if killed else os.WEXITSTATUS(status)
        print(json.dumps({"killed": killed, "code": code}), flush=True)
    """
)

OPS = ("import", "overwrite", "rm", "finish")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A tiny store: m00-m02 finished, 'half' with every OOF block pending, and a new file."""
    root = tmp_path_factory.mktemp("crash")
    store = synthetic.make_store(root / "template", n_models=3, n_rows=60, n_classes=3,
                                 n_folds=3, n_test=10, seed=7)
    rng = np.random.default_rng(0)
    for f in store.fold_ids:
        rows = np.flatnonzero(store.folds == f)
        store.write_block("oof", "half", f, 0, store.ids[rows], rng.normal(size=(len(rows), 3)))
    new = pd.DataFrame(rng.normal(size=(60, 3)).astype(np.float32), columns=store.class_names)
    new.insert(0, "id", store.ids)
    new.to_parquet(root / "new.parquet", index=False)
    old = {m: store.load_oof([m]).preds for m in store.models()}
    return root, store.uri, str(root / "new.parquet"), old, new[store.class_names].to_numpy()


def _state(uri: str, model: str) -> np.ndarray | None:
    """The model's OOF array, or None when the store does not hold it as a finished model."""
    try:
        return Store(uri).load_oof([model]).preds
    except (ModelNotFoundError, StoreError) as exc:
        if model in Store(uri).models():
            raise AssertionError(f"finished model {model!r} does not load: {exc}") from exc
        return None


def _recover(op: str, uri: str, new_file: str) -> None:
    store = Store(uri)
    if op == "import":
        import_predictions(store, "new", "oof", new_file, kind="logits", overwrite=True)
    elif op == "overwrite":
        import_predictions(store, "m00", "oof", new_file, kind="logits", overwrite=True)
    elif op == "rm":
        if "m01" in store.models(include_incomplete=True):
            store.remove_model("m01")
    elif op == "finish":
        store.finish_model("half", kind="logits", overwrite=True)


def test_a_writer_killed_at_any_write_point_leaves_each_model_whole(template, tmp_path):
    root, tpl, new_file, old, new_values = template
    half_truth = Store(tpl)
    baseline = set(half_truth.validate())  # 'half' is incomplete in the template
    assert len(baseline) == 1
    expected_new = {"import": new_values, "overwrite": new_values}
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
    )
    start = time.perf_counter()
    points: dict[str, int] = {}
    try:
        for op in OPS:
            model = {"import": "new", "overwrite": "m00", "rm": "m01", "finish": "half"}[op]
            n = 0
            while True:
                n += 1
                uri = str(tmp_path / f"{op}-{n}")
                shutil.copytree(tpl, uri)
                zygote.stdin.write(json.dumps([op, n, uri, new_file]) + "\n")
                zygote.stdin.flush()
                result = json.loads(zygote.stdout.readline())
                where = f"{op}, killed at write point {n}"
                if not result["killed"]:
                    assert result["code"] == 0, f"{op} failed without a crash at point {n}"
                    points[op] = n - 1
                    break
                # every other model is untouched
                for m, arr in old.items():
                    if m != model:
                        np.testing.assert_array_equal(_state(uri, m), arr, err_msg=where)
                got = _state(uri, model)
                if op == "import":
                    assert got is None or np.array_equal(got[0, 0], expected_new[op]), where
                elif op == "overwrite":
                    assert got is not None, where
                    assert np.array_equal(got, old["m00"]) or np.array_equal(
                        got[0, 0], expected_new[op]
                    ), where
                elif op == "rm":
                    assert got is None or np.array_equal(got, old["m01"]), where
                else:  # finish: still incomplete, or finished with exactly the pending blocks
                    if got is not None:
                        want = np.empty_like(got)
                        for f in half_truth.fold_ids:
                            rows = half_truth._fold_rows[f]
                            want[0, 0, rows] = half_truth._read_values(
                                "oof", "half", f, 0,
                                half_truth._pending("half")["blocks"][f"oof/{f}/0"],
                            )
                        np.testing.assert_array_equal(got, want, err_msg=where)
                problems = set(Store(uri).validate()) - baseline
                for p in problems:
                    assert repr(model) in p or f"model={model}" in p, f"{where}: {p}"
                _recover(op, uri, new_file)
                left = set(Store(uri).validate())
                assert left == (set() if op == "finish" else baseline), f"{where}: {left}"
                shutil.rmtree(uri)
    finally:
        zygote.stdin.close()
        zygote.wait(timeout=60)
    elapsed = time.perf_counter() - start
    # each operation has write points before, during and after its temporary files
    assert points["import"] >= 3 * 4 + 4  # three blocks and the manifest
    assert points["overwrite"] >= 3 * 4 + 4 + 3  # ... and the old generation deleted
    assert points["rm"] >= 1
    assert points["finish"] >= 4 + 1  # the manifest, then the pending record deleted
    print(f"write points killed: {points}; {elapsed:.1f} s")
    assert elapsed < 60

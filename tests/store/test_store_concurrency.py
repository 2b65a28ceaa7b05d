"""Writes are atomic and many processes can fill one store at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np

from oof_store import Store, synthetic

WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from oof_store import Store
    store = Store(sys.argv[1]); name = sys.argv[2]; seed = int(sys.argv[3])
    rng = np.random.default_rng(seed)
    for f in store.fold_ids:
        rows = np.flatnonzero(store.folds == f)
        store.write_block("oof", name, f, 0, store.ids[rows], rng.normal(size=(len(rows), store.n_classes)))
        store.write_block("test", name, f, 0, store.test_ids, rng.normal(size=(len(store.test_ids), store.n_classes)))
    store.finish_model(name, kind="logits", source="test-writer")
    """
)

HANGING_WRITER = textwrap.dedent(
    """
    import os, sys, time, numpy as np
    from oof_store import Store

    real_rename = os.rename

    def hang_on_rename(src, dst, **kw):  # local stores rename in the directory's descriptor
        if str(src).startswith(".tmp-"):
            print("temp file written", flush=True)
            time.sleep(600)
        return real_rename(src, dst, **kw)

    store = Store(sys.argv[1])
    store.ids, store.folds, store.test_ids  # read the targets before rename is wrapped
    os.rename = hang_on_rename
    rows = np.flatnonzero(store.folds == 0)
    store.write_block("oof", "crashy", 0, 0, store.ids[rows], np.zeros((len(rows), store.n_classes)))
    """
)


def test_eight_concurrent_writers_leave_every_block(tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=1, n_rows=2000, n_classes=4,
                                 n_folds=5, n_test=300)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, store.uri, f"w{i}", str(i)])
        for i in range(8)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    again = Store(store.uri)
    assert again.models() == ["m00"] + [f"w{i}" for i in range(8)]
    assert again.validate() == []
    oof = again.load_oof([f"w{i}" for i in range(8)])
    assert oof.preds.shape == (8, 1, 2000, 4)
    # each writer's numbers, in targets order, exactly
    rng = np.random.default_rng(5)
    expected = np.empty((2000, 4), np.float32)
    for f in again.fold_ids:
        rows = np.flatnonzero(again.folds == f)
        expected[rows] = rng.normal(size=(len(rows), 4))
        rng.normal(size=(300, 4))
    np.testing.assert_allclose(oof.preds[5, 0], expected, rtol=1e-6)


def test_writer_killed_mid_write_leaves_no_half_file(tmp_path):
    store = synthetic.make_store(tmp_path / "s", n_models=2, n_rows=500, n_classes=3, n_folds=5)
    proc = subprocess.Popen(
        [sys.executable, "-c", HANGING_WRITER, store.uri], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "temp file written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    folder = os.path.join(store.uri, "preds/split=oof/model=crashy/fold=0/tta=0")
    assert [n for n in os.listdir(folder) if not n.startswith(".tmp-")] == []
    assert store.stray_files(), "the temporary file should still be there"
    problems = store.validate()
    assert any("leftover temporary file" in p for p in problems)
    assert Store(store.uri).models() == ["m00", "m01"]
    Store(store.uri).load_oof()  # the finished models load untouched

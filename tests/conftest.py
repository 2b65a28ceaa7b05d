"""Shared fixtures: a seeded generator and small synthetic stores whose answer is known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

from oof_store import synthetic

# Timing deadlines make property tests flaky on a shared 2-core CI machine: the properties
# are about answers, not speed (benchmarks measure speed).
settings.register_profile("default-no-deadline", deadline=None)
settings.load_profile("default-no-deadline")

# A copy of the real OOF set (MIT, see tests/data/assembled_metatasks/LICENSE.assembled) ships with
# the repository, so these tests run on a fresh clone.
ASSEMBLED = Path(__file__).resolve().parent / "data" / "assembled_metatasks"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def small_store(tmp_path):
    """4 models x 2 TTA views, 600 rows, 3 classes, 5 folds, 100 test rows, logits."""
    return synthetic.make_store(
        tmp_path / "store", n_models=4, n_rows=600, n_classes=3, n_folds=5, n_test=100,
        n_tta=2, accuracy=(0.7, 0.9), seed=1,
    )


@pytest.fixture
def assembled_dir() -> Path:
    if not (ASSEMBLED / "metatask_-2.csv").exists():
        raise FileNotFoundError(f"real OOF data missing from the repository: {ASSEMBLED}")
    return ASSEMBLED


@pytest.fixture
def misaligned_folder(tmp_path):
    """An id-less folder (issue 21) imported with `oof`: 4 models, 'vit''s test rows shuffled.

    ``train.csv`` (target only), ``test.csv`` (no ids), ``oofs/<MODEL>_oof.csv`` and
    ``oofs/<MODEL>.csv``; folds made with ``--make-folds stratified:5:42``. Returns the store path.
    """
    import pandas as pd

    from oof_store.cli import main as oof

    rng = np.random.default_rng(5)
    n, nt = 400, 200
    y = (rng.random(n) < 0.35).astype(int)
    pd.DataFrame({"target": y}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"f": rng.normal(size=nt)}).to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "oofs").mkdir()
    shared, shared_t = rng.normal(size=n), rng.normal(size=nt)
    latent_t = rng.random(nt) < 0.35
    for m in ["effnet", "resnet", "vit", "lgbm"]:
        p = 1 / (1 + np.exp(-(3 * (y - 0.5) + shared + rng.normal(size=n))))
        pt = 1 / (1 + np.exp(-(3 * (latent_t - 0.5) + shared_t + rng.normal(size=nt))))
        if m == "vit":
            pt = pt[rng.permutation(nt)]  # the bug: test rows in another order
        pd.DataFrame({m: p}).to_csv(tmp_path / "oofs" / f"{m}_oof.csv", index=False)
        pd.DataFrame({m: pt}).to_csv(tmp_path / "oofs" / f"{m}.csv", index=False)
    store = str(tmp_path / "store")
    assert oof(["init", store, "--targets", str(tmp_path / "train.csv"), "--target", "target",
                "--make-folds", "stratified:5:42", "--test", str(tmp_path / "test.csv")]) == 0
    assert oof(["import", store, "--split", "oof", "--file", str(tmp_path / "oofs" / "{model}_oof.csv")]) == 0
    assert oof(["import", store, "--split", "test", "--file", str(tmp_path / "oofs" / "{model}.csv")]) == 0
    return store

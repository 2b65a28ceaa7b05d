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

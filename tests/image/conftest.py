"""A tiny image set and store: 24 rows in 2 folds, 3 classes, 6 test rows, 16x16 PNGs.

Each class is a coloured square at its own place, so even one epoch learns something.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oof_store import Store


@dataclass
class TinyImages:
    store_uri: Path
    images: Path
    labels: Path
    ids: list[str]
    test_ids: list[str]


def _draw(cls: int, rng: np.random.Generator, size: int = 16) -> np.ndarray:
    img = rng.integers(0, 40, (size, size, 3)).astype(np.uint8)
    q = size // 2
    y0, x0 = [(0, 0), (0, q), (q, 0)][cls]
    img[y0 : y0 + q, x0 : x0 + q, cls] = 255
    return img


def make_tiny(
    root: Path, n: int = 24, n_test: int = 6, n_folds: int = 2, seed: int = 0
) -> TinyImages:
    from PIL import Image

    rng = np.random.default_rng(seed)
    images = root / "images"
    images.mkdir(parents=True)
    y = np.arange(n) % 3
    ids = [f"img{i:03d}" for i in range(n)]
    test_ids = [f"test{i:03d}" for i in range(n_test)]
    for i, c in zip(ids, y, strict=True):
        Image.fromarray(_draw(int(c), rng)).save(images / f"{i}.png")
    for j, i in enumerate(test_ids):  # test images as .jpg: any known extension is found
        Image.fromarray(_draw(j % 3, rng)).save(images / f"{i}.jpg")
    labels = root / "labels.csv"
    names = np.array(["cat", "dog", "owl"])
    pd.DataFrame({"image_id": ids, "label": names[y]}).to_csv(labels, index=False)
    folds = np.arange(n) % n_folds
    uri = root / "store"
    Store.create(
        uri,
        pd.DataFrame({"id": ids, "label": names[y], "fold": folds}),
        id_col="id",
        target_cols="label",
        fold_col="fold",
        task="multiclass",
        class_names=list(names),
        test_ids=test_ids,
    )
    return TinyImages(uri, images, labels, ids, test_ids)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread: the tests share 2 cores with other work, and oversubscribed
    OpenMP threads make small convolutions many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny(tmp_path) -> TinyImages:
    return make_tiny(tmp_path)


@pytest.fixture
def make_tiny_images(tmp_path):
    """A factory: ``make_tiny_images(name, **kw)`` builds another tiny set under tmp_path."""
    return lambda name, **kw: make_tiny(tmp_path / name, **kw)


@pytest.fixture
def fast() -> dict:
    """The fastest trainer settings that still exercise every step."""
    return dict(
        arch="test_resnet",
        img_size=16,
        epochs=1,
        batch_size=8,
        id_col="image_id",
        label_col="label",
        device="cpu",
        progress=False,
    )

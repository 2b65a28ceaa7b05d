"""The built-in example: scikit-learn's 8x8 digits written as an image folder.

``write_digits_images(out_dir)`` writes

- ``out_dir/images/<id>.png``: every digit, upscaled (grey levels 0-16 stretched to 0-255);
- ``out_dir/train.csv``: columns ``id`` and ``label`` of the training part;
- ``out_dir/test.csv``: column ``id`` of the test part (labels kept apart in
  ``out_dir/test_labels.csv`` for scoring).

Ids are ``digit_0000`` ... (the row of ``sklearn.datasets.load_digits``), so a tabular store
over the same digits can share them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from base_models.demo import holdout_split, stratified_folds

__all__ = ["DigitsExample", "write_digits_images", "digits_ids", "make_digits_store"]


def digits_ids(n: int) -> list[str]:
    """The ids given to the first ``n`` digits: ``digit_0000`` ..."""
    return [f"digit_{i:04d}" for i in range(n)]


@dataclass(frozen=True)
class DigitsExample:
    """Where :func:`write_digits_images` put things, and the split it made."""

    root: Path
    images_dir: Path
    train_csv: Path
    test_csv: Path
    test_labels_csv: Path
    train_ids: list[str]
    train_labels: list[int]
    test_ids: list[str]
    test_labels: list[int]

    def to_dict(self) -> dict:
        """A JSON-ready dict of the paths and the number of training and test images."""
        return {
            "root": str(self.root),
            "images_dir": str(self.images_dir),
            "train_csv": str(self.train_csv),
            "test_csv": str(self.test_csv),
            "n_train": len(self.train_ids),
            "n_test": len(self.test_ids),
        }

    def summary(self) -> str:
        """One line: how many images were written where, and the two CSVs."""
        return (
            f"wrote {len(self.train_ids) + len(self.test_ids)} digit images to "
            f"{self.images_dir} ({len(self.train_ids)} train in {self.train_csv.name}, "
            f"{len(self.test_ids)} test in {self.test_csv.name})"
        )


def write_digits_images(
    out_dir: str | os.PathLike,
    *,
    size: int = 32,
    test_size: float = 0.2,
    n: int | None = None,
    seed: int = 0,
) -> DigitsExample:
    """Write scikit-learn's digits as PNG files plus labels CSVs.

    Parameters
    ----------
    size : int
        Side of the written images in pixels (the 8x8 digits are upscaled bilinearly).
    test_size : float
        Fraction of the digits held out as the test part (stratified), 0 for none.
    n : int, optional
        Use only the first ``n`` digits (small examples for tests).
    """
    import pandas as pd
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images
    y = digits.target.astype(int)
    if n is not None:
        images, y = images[:n], y[:n]
    ids = np.array(digits_ids(len(y)))
    root = Path(out_dir)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    for i, im in zip(ids, images, strict=True):
        arr = np.clip(im * (255.0 / 16.0), 0, 255).astype(np.uint8)
        Image.fromarray(arr, mode="L").resize((size, size), Image.BILINEAR).save(
            img_dir / f"{i}.png"
        )
    tr, te = holdout_split(y, test_size, seed)
    train_csv, test_csv = root / "train.csv", root / "test.csv"
    test_labels_csv = root / "test_labels.csv"
    pd.DataFrame({"id": ids[tr], "label": y[tr]}).to_csv(train_csv, index=False)
    pd.DataFrame({"id": ids[te]}).to_csv(test_csv, index=False)
    pd.DataFrame({"id": ids[te], "label": y[te]}).to_csv(test_labels_csv, index=False)
    return DigitsExample(
        root=root,
        images_dir=img_dir,
        train_csv=train_csv,
        test_csv=test_csv,
        test_labels_csv=test_labels_csv,
        train_ids=list(ids[tr]),
        train_labels=y[tr].tolist(),
        test_ids=list(ids[te]),
        test_labels=y[te].tolist(),
    )


def make_digits_store(
    example: DigitsExample, uri: str, *, n_folds: int = 5, seed: int = 0, overwrite: bool = False
):
    """Create a store over the training part of ``example``.

    The store gets stratified ``n_folds`` folds, classes ``"0"`` ... ``"9"``, and the test
    part's ids as test ids.
    """
    import pandas as pd

    from oof_store import Store

    y = np.asarray(example.train_labels)
    fold = stratified_folds(y, n_folds, seed)
    df = pd.DataFrame({"id": example.train_ids, "label": y.astype(str), "fold": fold})
    return Store.create(
        uri,
        df,
        id_col="id",
        target_cols=["label"],
        fold_col="fold",
        task="multiclass",
        class_names=[str(c) for c in range(10)],
        test_ids=list(example.test_ids),
        overwrite=overwrite,
    )

"""Finding, checking and loading the images of the store's rows.

Image files are named after the ids: the image of id ``x`` is ``DIR/x`` when that file
exists, otherwise ``DIR/x.<ext>`` for one of :data:`IMAGE_EXTENSIONS` (case-insensitive).
Every check runs before any training and names the files or ids at fault.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._errors import ImageTrainerError

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_labels",
    "check_labels",
    "resolve_image_paths",
    "check_readable",
    "ImageSource",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _first(items: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(f"'{s}'" for s in list(items)[:k])
    more = f" and {len(items) - k} more" if len(items) > k else ""
    return shown + more


def read_labels(path: str | os.PathLike, id_col: str, label_col: str | None):
    """Read a labels file (CSV, TSV or Parquet) and check its columns.

    Returns
    -------
    pandas.DataFrame
        Columns ``id`` (str) and, when ``label_col`` is given, ``label`` (str).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ImageTrainerError(f"labels file '{path}' does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(
                path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False
            )
    except Exception as exc:  # noqa: BLE001 - any parser error becomes one clear message
        raise ImageTrainerError(f"cannot read labels file '{path}': {exc}") from exc
    for what, col in (("--id", id_col), ("--label", label_col)):
        if col is not None and col not in df.columns:
            raise ImageTrainerError(
                f"labels file '{path}' has no column '{col}' (given as {what}); "
                f"its columns are: {', '.join(map(str, df.columns))}"
            )
    out = pd.DataFrame({"id": df[id_col].astype(str).to_numpy()})
    if label_col is not None:
        out["label"] = df[label_col].astype(str).to_numpy()
        empty = out["id"][(out["label"] == "") | (out["label"].str.lower() == "nan")]
        if len(empty):
            raise ImageTrainerError(
                f"labels file '{path}' has {len(empty)} row(s) with no label in column "
                f"'{label_col}': ids {_first(list(empty))}"
            )
    dup = out["id"][out["id"].duplicated()].unique()
    if len(dup):
        raise ImageTrainerError(
            f"labels file '{path}' lists {len(dup)} id(s) more than once: {_first(list(dup))}"
        )
    return out


def _label_index(labels: np.ndarray, class_names: Sequence[str]) -> np.ndarray:
    """Map label strings to class indices, accepting '3' for class '3' and '3.0' for '3'."""
    lookup = {str(c): i for i, c in enumerate(class_names)}
    out = np.full(len(labels), -1, dtype=np.int64)
    for j, lab in enumerate(labels):
        i = lookup.get(lab)
        if i is None:
            try:  # '3.0' written by a float column for the class named '3'
                f = float(lab)
                i = lookup.get(str(int(f))) if f.is_integer() else None
            except ValueError:
                i = None
        out[j] = -1 if i is None else i
    return out


def check_labels(
    labels_df,
    store_ids: np.ndarray,
    class_names: Sequence[str],
    y_hard: np.ndarray | None,
    *,
    source: str = "labels file",
) -> None:
    """Check a labels table against the store.

    Every id of the labels file must be a store row, every store row must be in the labels
    file, every label must be one of the store's classes and (classification stores) agree
    with the store's target.

    Parameters
    ----------
    labels_df : DataFrame with columns ``id`` and optionally ``label``
    store_ids : ndarray of shape (N,)
    class_names : list of str
    y_hard : ndarray of shape (N,) or None
        The store's class index per row; ``None`` skips the agreement check.
    """
    ids = labels_df["id"].to_numpy().astype(str)
    store_ids = np.asarray(store_ids).astype(str)
    unknown = ids[~np.isin(ids, store_ids)]
    if len(unknown):
        raise ImageTrainerError(
            f"{len(unknown)} id(s) in {source} are not rows of the store: "
            f"{_first(list(unknown))}; use a labels file for the store's rows"
        )
    absent = store_ids[~np.isin(store_ids, ids)]
    if len(absent):
        raise ImageTrainerError(
            f"{len(absent)} store row(s) have no row in {source}: {_first(list(absent))}; "
            "every store row needs an image for complete out-of-fold predictions"
        )
    if "label" not in labels_df.columns:
        return
    labels = labels_df["label"].to_numpy().astype(str)
    idx = _label_index(labels, class_names)
    bad = np.flatnonzero(idx < 0)
    if len(bad):
        vals = sorted(set(labels[bad]))
        raise ImageTrainerError(
            f"{len(bad)} label(s) in {source} are not classes of the store "
            f"({', '.join(map(str, class_names))}): values {_first(vals)} "
            f"(first ids {_first(list(ids[bad]))})"
        )
    if y_hard is not None:
        pos = {s: i for i, s in enumerate(store_ids)}
        rows = np.array([pos[s] for s in ids], dtype=np.int64)
        differ = np.flatnonzero(np.asarray(y_hard)[rows] != idx)
        if len(differ):
            raise ImageTrainerError(
                f"{len(differ)} label(s) in {source} disagree with the store's targets, "
                f"e.g. id '{ids[differ[0]]}' is '{labels[differ[0]]}' in the file and "
                f"'{class_names[int(np.asarray(y_hard)[rows[differ[0]]])]}' in the store "
                f"(ids {_first(list(ids[differ]))})"
            )


def resolve_image_paths(images_dir: str | os.PathLike, ids: Sequence[str]) -> list[Path]:
    """The image file of each id: ``DIR/<id>`` or ``DIR/<id>.<ext>``.

    Raises
    ------
    ImageTrainerError
        Naming the missing images (count and the first few) when any is absent.
    """
    root = Path(images_dir)
    if not root.is_dir():
        raise ImageTrainerError(f"image folder '{root}' does not exist or is not a folder")
    exact: dict[str, Path] = {}
    by_stem: dict[str, Path] = {}
    with os.scandir(root) as it:
        for entry in it:
            if not entry.is_file():
                continue
            exact[entry.name] = Path(entry.path)
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() in IMAGE_EXTENSIONS:
                prev = by_stem.get(stem)
                # prefer the first extension in IMAGE_EXTENSIONS order when several exist
                if prev is None or IMAGE_EXTENSIONS.index(ext.lower()) < IMAGE_EXTENSIONS.index(
                    prev.suffix.lower()
                ):
                    by_stem[stem] = Path(entry.path)
    paths: list[Path] = []
    missing: list[str] = []
    for i in ids:
        p = exact.get(i) or by_stem.get(i)
        if p is None:
            missing.append(i)
        else:
            paths.append(p)
    if missing:
        exts = "|".join(e[1:] for e in IMAGE_EXTENSIONS)
        raise ImageTrainerError(
            f"{len(missing)} of {len(ids)} image(s) are missing in '{root}' (looked for "
            f"<id> and <id>.<{exts}>): ids {_first(missing)}"
        )
    return paths


def check_readable(paths: Sequence[Path]) -> None:
    """Open every image's header; name each file that Pillow cannot read."""
    from PIL import Image

    bad: list[str] = []
    reason = ""
    for p in paths:
        try:
            with Image.open(p) as im:
                im.size  # noqa: B018 - reading the header is the check
        except Exception as exc:  # noqa: BLE001
            if not bad:
                reason = f"{type(exc).__name__}: {exc}"
            bad.append(str(p))
    if bad:
        raise ImageTrainerError(
            f"{len(bad)} image file(s) cannot be read: {_first(bad)} (first error: {reason}); "
            "replace or remove them"
        )


def _load_image(path: Path, size: int) -> np.ndarray:
    """Decode one image as RGB, resized to ``size x size``: uint8 (3, size, size)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001
        raise ImageTrainerError(f"cannot decode image '{path}': {exc}") from exc
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


@dataclass
class ImageSource:
    """The images of a list of files, decoded at one size, optionally cached in memory.

    ``cache=True`` decodes every image once into one uint8 array of shape
    ``(n, 3, size, size)``; the folds and epochs then reuse it.
    """

    paths: list[Path]
    size: int
    cache: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    def get(self, i: int) -> np.ndarray:
        """Image ``i``, from the cache when filled, else decoded from its file.

        Parameters
        ----------
        i : int
            Position in ``paths``.

        Returns
        -------
        ndarray of shape (3, size, size), uint8
        """
        if self.cache is not None:
            return self.cache[i]
        return _load_image(self.paths[i], self.size)

    def nbytes(self) -> int:
        """Bytes the cache takes (or would take): ``n * 3 * size * size`` uint8 values."""
        return len(self.paths) * 3 * self.size * self.size

    def fill_cache(self, num_workers: int = 0) -> None:
        """Decode every image into memory (in ``num_workers`` processes when > 0)."""
        if self.cache is not None:
            return
        out = np.empty((len(self.paths), 3, self.size, self.size), dtype=np.uint8)
        if num_workers > 0 and len(self.paths) > 256:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(num_workers) as ex:
                for i, arr in enumerate(
                    ex.map(_load_image, self.paths, [self.size] * len(self.paths), chunksize=64)
                ):
                    out[i] = arr
        else:
            for i, p in enumerate(self.paths):
                out[i] = _load_image(p, self.size)
        self.cache = out


class TorchImages:
    """A ``torch.utils.data.Dataset`` view of some rows of an :class:`ImageSource`.

    Items are ``(uint8 tensor (3, S, S), target)``; normalisation and augmentation run on
    whole batches on the training device.
    """

    def __init__(self, source: ImageSource, index: np.ndarray, targets: np.ndarray | None):
        self.source = source
        self.index = np.asarray(index, dtype=np.int64)
        self.targets = targets

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, k: int):
        import torch

        x = torch.from_numpy(self.source.get(int(self.index[k])))
        if self.targets is None:
            return x, 0
        return x, torch.as_tensor(self.targets[k])

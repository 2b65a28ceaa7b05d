"""Reading one prediction or targets file: CSV, Parquet or ``.npy``."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from oof_store._errors import StoreError


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame | np.ndarray:
    """Read a CSV, Parquet or ``.npy`` file (``.npy`` comes back as an array)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise StoreError(f"file not found: {path}")
    low = path.lower()
    try:
        if low.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        if low.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if low.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            return pd.read_csv(path, sep="\t" if low.endswith(".tsv") else ",")
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    raise StoreError(f"{path}: unknown file type; use .csv, .parquet or .npy")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")

"""Reading one prediction or targets file: CSV, Parquet or ``.npy``."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from oof_store._errors import StoreError


def read_table(
    path: str | os.PathLike[str], text_columns: Iterable[str] = ()
) -> pd.DataFrame | np.ndarray:
    """Read a CSV, Parquet or ``.npy`` file (``.npy`` comes back as an array).

    Parameters
    ----------
    path : str or path
    text_columns : iterable of str
        Columns read as text from a CSV (ids: ``00501`` stays ``00501``); a name the file
        does not have is ignored.

    Raises
    ------
    StoreError
        For a missing or unreadable file, an unknown type, or a CSV header that repeats a
        column name (pandas would silently rename the second ``1`` to ``1.1``).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise StoreError(f"file not found: {path}")
    low = path.lower()
    try:
        if low.endswith(".npy"):
            return np.load(path, allow_pickle=False)
        if low.endswith((".parquet", ".pq")):
            df = pd.read_parquet(path)
            _refuse_repeated(path, [str(c) for c in df.columns])
            return df
        if low.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            sep = "\t" if low.endswith(".tsv") else ","
            if not low.endswith(".gz"):
                with open(path, newline="", encoding="utf-8", errors="replace") as fh:
                    header = next(csv.reader(fh, delimiter=sep), [])
                _refuse_repeated(path, header)
            return pd.read_csv(path, sep=sep, dtype={c: str for c in text_columns})
    except StoreError:
        raise
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from exc
    raise StoreError(f"{path}: unknown file type; use .csv, .parquet or .npy")


def _refuse_repeated(path: str, header: list[str]) -> None:
    seen: set[str] = set()
    repeated = [c for c in header if c in seen or seen.add(c)]
    if repeated:
        raise StoreError(
            f"{path}: the header repeats column(s) {sorted(set(repeated))}; each column must "
            "have its own name (which one holds which class?). Rename or remove the repeats"
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")

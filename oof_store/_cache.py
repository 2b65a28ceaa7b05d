"""The load cache: assembled arrays in ``<store>/.cache``, keyed by the block files' identity."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from oof_store import _schema as S

CACHE_KEEP = 16


def _read_cache(path: str | None) -> np.ndarray | None:
    if path is None or not os.path.exists(path):
        return None
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None  # unreadable cache: rebuild it


def _write_cache(path: str | None, arr: np.ndarray) -> None:
    """Save atomically; keep the cache folder to its newest ``CACHE_KEEP`` files."""
    if path is None:
        return
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, path)
        files = sorted(
            (os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".npy")),
            key=os.path.getmtime,
        )
        for old in files[:-CACHE_KEEP]:
            os.remove(old)
    except OSError:
        pass  # a read-only store still loads, only without the cache


def cache_file(store, jobs, mans, options) -> str | None:
    """Where an assembled array of these exact block files is cached (local stores).

    The key hashes the options, the manifests and each block file's inode, size and
    modification time: blocks are replaced by rename, so any rewrite changes the key.
    ``OOF_STORE_CACHE=0`` turns the cache off.
    """
    if not store._fs.local or os.environ.get("OOF_STORE_CACHE", "1") == "0":
        return None
    h = hashlib.sha1(repr((options, store.fingerprint, [m["created"] for m in mans])).encode())
    try:
        for split, m, f, t in jobs:
            st = os.stat(store._fs.path(S.block_path(split, m, f, t)))
            h.update(f"{m}/{f}/{t}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns};".encode())
    except OSError:
        return None  # a missing block: let the normal path name it
    return store._fs.path(f"{S.CACHE_DIR}/{h.hexdigest()}.npy")

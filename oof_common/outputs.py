"""Where a command may write the files it is asked to write: never inside an OOF store.

A store's files (``store.json``, ``targets.parquet``, the manifests and blocks) are written
only by the store's own code, atomically and under a lock. A report, recipe, submission or
search result written into a store (``blend apply --out STORE/store.json``, ``blend search
--json STORE/models/m00.json``) would overwrite them, so every command that writes a file a
user names checks the path with :func:`check_output_path` first.
"""

from __future__ import annotations

import os

from oof_common.errors import UserError

__all__ = ["OutputInStoreError", "OutputPath", "check_output_args", "check_output_path", "output_file", "store_containing"]

#: The files that make a directory an OOF store (``oof_store._schema``).
_STORE_MARKERS = ("store.json", "targets.parquet")


def _is_store(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, m)) for m in _STORE_MARKERS)


def store_containing(path: str | os.PathLike[str]) -> str | None:
    """The OOF store directory that ``path`` lies in (links resolved), or None.

    ``path`` itself need not exist; the folder it would be written in, and every folder
    above it, are looked at. URIs (``s3://...``) are never inside a local store.
    """
    text = os.fspath(path)
    if "://" in text and not text.startswith("file://"):
        return None
    real = os.path.realpath(text.removeprefix("file://"))
    here = real if os.path.isdir(real) else os.path.dirname(real)
    while True:
        if _is_store(here):
            return here
        up = os.path.dirname(here)
        if up == here:
            return None
        here = up


def check_output_path(path: str | os.PathLike[str], what: str = "") -> str:
    """Return ``path`` if a command may write it; raise :class:`OutputInStoreError` if it is in a store.

    Parameters
    ----------
    path : str or path-like
        The file a command was asked to write (``--out``, ``--json``, ``--recipe`` ...).
    what : str
        How the message names it, e.g. ``"--out"``.
    """
    store = store_containing(path)
    if store is not None:
        raise OutputInStoreError(
            f"{what + ' ' if what else ''}{os.fspath(path)} is inside the OOF store {store}: "
            "a command never writes "
            "its outputs into a store, where they could overwrite the store's own files "
            "(store.json, targets, manifests, blocks). Write it outside the store"
        )
    return os.fspath(path)



class OutputInStoreError(UserError, ValueError):
    """An output file a command was asked to write inside an OOF store (a user error)."""


class OutputPath(str):
    """A path an option names for a command to write (see :func:`output_file`)."""


def output_file(text: str) -> OutputPath:
    """The ``argparse`` ``type`` of every option naming a file a command writes.

    ``add_argument("--json", type=output_file)`` marks the value; ``oof_common.cli.run_main``
    checks every marked value with :func:`check_output_path` before the command runs, so a
    path inside a store fails at once with one ``error:`` line (exit code 2).
    """
    return OutputPath(text)


def check_output_args(args: object) -> None:
    """Check every :class:`OutputPath` among the parsed ``args`` (raises :class:`OutputInStoreError`)."""
    for name, value in sorted(vars(args).items()):
        if isinstance(value, OutputPath):
            check_output_path(value, "--" + name.replace("_", "-"))

"""The store's exception hierarchy.

Every error raised for bad input is a :class:`StoreError` (a ``ValueError``), and its
message names the file, model, fold, TTA view or row ids involved and says what to do.
"""

from __future__ import annotations

from oof_common.core import CommandWarning
from oof_common.errors import UserError

__all__ = [
    "StoreError",
    "StoreNotFoundError",
    "StoreExistsError",
    "ModelNotFoundError",
    "IncompleteModelError",
    "CorruptFileError",
    "FoldMismatchError",
    "ValidationError",
    "ConcurrentWriteError",
    "SymlinkError",
    "StoreWarning",
    "SkippedModelWarning",
]


class StoreError(UserError, ValueError):
    """Base class of every error the store raises for bad input or a bad store."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The path holds no store (no ``store.json``)."""


class StoreExistsError(StoreError, FileExistsError):
    """Something would be overwritten and ``overwrite=True`` was not given."""


class ModelNotFoundError(StoreError, KeyError):
    """A model name that the store does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class IncompleteModelError(StoreError):
    """A model whose blocks are missing or that has no manifest yet."""


class CorruptFileError(StoreError):
    """A file that cannot be read or does not have the expected schema."""


class FoldMismatchError(StoreError):
    """Predictions made with another fold assignment or other rows than the store's."""


class ConcurrentWriteError(StoreError):
    """Another writer holds the model, or committed it while this write ran."""


class SymlinkError(StoreError):
    """A write, rename or delete would go through a symbolic link (and could leave the store)."""


class StoreWarning(CommandWarning):
    """Something a store command went on without, and says so (one ``warning:`` line)."""


class SkippedModelWarning(StoreWarning):
    """A model left out of "every model" (no manifest, or a manifest that fails its checks)."""


class ValidationError(StoreError):
    """One or more problems found by a check; ``problems`` lists each message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        head = f"{len(self.problems)} problem(s) found:\n- " if len(self.problems) > 1 else ""
        super().__init__(head + "\n- ".join(self.problems))

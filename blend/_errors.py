"""The blend package's exception hierarchy."""

from __future__ import annotations

from oof_common.core import CommandWarning
from oof_common.errors import UserError

__all__ = ["BlendError", "RecipeStoreWarning"]


class BlendError(UserError, ValueError):
    """Bad input to a blending, search, optimisation or stacking procedure.

    The message names the model, fold, metric or option at fault and says what to do.
    """


class RecipeStoreWarning(CommandWarning):
    """A recipe applied to another store than the one it was fitted on (other rows or folds)."""

"""The blend package's exception hierarchy."""

from __future__ import annotations

__all__ = ["BlendError"]


class BlendError(ValueError):
    """Bad input to a blending, search, optimisation or stacking procedure.

    The message names the model, fold, metric or option at fault and says what to do.
    """

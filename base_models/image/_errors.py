"""Errors raised by the image trainer for bad input."""

from __future__ import annotations

from oof_common.errors import UserError

__all__ = ["ImageTrainerError"]


class ImageTrainerError(UserError, ValueError):
    """Bad input to the image trainer.

    A missing or unreadable image, a label that the store does not know, an unknown
    architecture or TTA view. The message names the file, id or value and says what to do.
    """

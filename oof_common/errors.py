"""The one family of user errors shared by the project's packages.

A :class:`UserError` is bad input or a bad environment the user can fix (a store, a model
name, an option, a missing optional dependency); its message names what is at fault and
says what to do. ``oof_store.StoreError``, ``blend.BlendError``, the image trainer's
``ImageTrainerError`` and ``oof_store.distributed.DistributedError`` derive from it. The
command-line runner (:func:`oof_common.cli.run_main`) prints such an error as one red line
and exits 2; any other exception is a bug and is reported as an internal error (exit 1).
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """Base of every error raised for input or an environment the user can fix."""

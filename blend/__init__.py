"""Blending and stacking over out-of-fold predictions.

Algorithms here are pure numpy functions over aligned arrays; ``blend.workflows`` connects
them to the store, and ``blend.cli`` (the commands) only parses arguments, calls a workflow
and prints.
"""

from blend._errors import BlendError

__all__ = ["BlendError"]

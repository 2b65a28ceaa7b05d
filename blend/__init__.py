"""Blending and stacking over out-of-fold predictions.

Algorithms here are pure numpy functions over aligned arrays; only ``blend.cli`` connects
them to the store.
"""

from blend._errors import BlendError

__all__ = ["BlendError"]

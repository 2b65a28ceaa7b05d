"""What a stacker fit returns (:class:`StackResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StackResult:
    """What :func:`fit_stacker` returns.

    Attributes
    ----------
    stacker, metric : str
    nested_score : float
        The outer (nested-CV) score: the metric computed once on the pooled outer-fold
        predictions of every row, as ``blend.nested.nested_cv`` computes it.
    fold_scores : tuple of float
        The metric on each outer fold's rows, in ``fold_ids`` order.
    best_base : dict or None
        ``{"model": name, "score": x}``, the best single base model on the same rows.
    mean_blend_score : float or None
        The plain probability mean of the base models on the same rows.
    params : dict
        The settings (features, seeds, hpo, ...) and ``per_fold`` hyper-parameters used.
    seconds : float
    oof : ndarray of shape (N, C), or (N,) for regression
    test : ndarray of shape (Nt, C) or (Nt,), or None -- mean over the outer-fold stackers
    fold_test : ndarray of shape (K, Nt, C) or (K, Nt), or None -- each outer fold's stacker
    fold_ids : tuple of int
    greater_is_better : bool
    """

    stacker: str
    metric: str
    nested_score: float
    fold_scores: tuple[float, ...]
    best_base: dict[str, Any] | None
    mean_blend_score: float | None
    params: dict[str, Any]
    seconds: float
    oof: np.ndarray = field(repr=False)
    test: np.ndarray | None = field(default=None, repr=False)
    fold_test: np.ndarray | None = field(default=None, repr=False)
    fold_ids: tuple[int, ...] = ()
    greater_is_better: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``stack --json`` writes (exactly the schema of issue 6)."""
        return {
            "stacker": self.stacker,
            "metric": self.metric,
            "nested_score": float(self.nested_score),
            "fold_scores": [float(s) for s in self.fold_scores],
            "best_base": None if self.best_base is None else dict(self.best_base),
            "mean_blend_score": None if self.mean_blend_score is None else float(self.mean_blend_score),
            "params": self.params,
            "seconds": float(self.seconds),
        }

    def gain(self, other: float | None) -> float | None:
        """Signed improvement of the stacker over ``other`` (positive = the stacker is better)."""
        if other is None:
            return None
        d = self.nested_score - other
        return d if self.greater_is_better else -d

    def summary(self) -> str:
        """A few lines for humans: the outer score beside the baselines."""
        lines = [
            f"stack {self.stacker}: nested {self.metric} = {self.nested_score:.5f} "
            f"(folds: {', '.join(f'{s:.4f}' for s in self.fold_scores)})"
        ]
        if self.best_base is not None:
            g = self.gain(self.best_base["score"])
            lines.append(
                f"best base model {self.best_base['model']!r}: {self.best_base['score']:.5f} (gain {g:+.5f})"
            )
        if self.mean_blend_score is not None:
            g = self.gain(self.mean_blend_score)
            lines.append(f"plain mean of the base models: {self.mean_blend_score:.5f} (gain {g:+.5f})")
            if g is not None and g <= 0:
                lines.append("the stacker does NOT beat the plain mean on these rows")
        lines.append(f"{self.seconds:.1f} s")
        return "\n".join(lines)

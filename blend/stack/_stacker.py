"""The base class of every stacker (:class:`Stacker`) and the helpers stackers share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    import numpy as np


_EPS = 1e-7


class Stacker(ABC):
    """A level-2 model fitted on the base models' predictions.

    Subclasses implement :meth:`fit_one` and :meth:`predict_one` for one training set with
    one validation set (used for early stopping), :meth:`default_params` and
    :meth:`suggest_params` (the Optuna search space). The nested CV, seeding, bagging and
    scoring live in :func:`fit_stacker`, shared by all.

    Inputs seen by ``fit_one``/``predict_one``:

    - ``X`` : ndarray of shape (n, M, C), float32 -- features per model (or TTA view) and class;
    - ``E`` : ndarray of shape (n, E) or None -- extra per-row features;
    - ``y`` : as the store holds it: (n,) int class index, (n, C) soft targets (softclass),
      or (n,) float (regression).

    ``predict_one`` returns (n, C) probabilities (rows sum to 1) or (n,) values for
    regression. Implementations must be deterministic for a given ``seed``.
    """

    name: ClassVar[str] = "?"
    #: whether the stacker needs torch (imported lazily, only inside the methods).
    uses_torch: ClassVar[bool] = False
    #: whether ``fit_one`` early-stops on its validation set. When False the outer-fold
    #: stacker is one model refitted on all outer training rows (the inner CV then only
    #: scores the hyper-parameter search) and ``fit_one`` gets an empty validation set.
    early_stops: ClassVar[bool] = True
    #: whether several ``fit_one`` calls may run at once in threads (the fit releases the GIL).
    parallel_fits: ClassVar[bool] = False
    #: the features it fits best on for classification ("probs" or "logits"; regression: raw).
    preferred_features: ClassVar[str] = "probs"

    @abstractmethod
    def default_params(self, task: str, n_classes: int) -> dict[str, Any]:
        """Sensible hyper-parameters used when no search is run."""

    @abstractmethod
    def suggest_params(self, trial: Any, task: str, n_classes: int) -> dict[str, Any]:
        """Hyper-parameters sampled from an Optuna ``trial`` (merged over the defaults)."""

    @abstractmethod
    def fit_one(
        self,
        X: np.ndarray,
        E: np.ndarray | None,
        y: np.ndarray,
        X_val: np.ndarray,
        E_val: np.ndarray | None,
        y_val: np.ndarray,
        *,
        task: str,
        n_classes: int,
        params: dict[str, Any],
        seed: int,
    ) -> Any:
        """Fit on ``(X, E, y)``, early-stopping on the validation set; return the fitted model."""

    @abstractmethod
    def predict_one(self, fitted: Any, X: np.ndarray, E: np.ndarray | None) -> np.ndarray:
        """Predict (n, C) probabilities, or (n,) values for regression."""


def flatten(X: np.ndarray, E: np.ndarray | None, task: str) -> np.ndarray:
    """(n, M, C) features (+ (n, E) extra) as one (n, F) table for tree/linear stackers.

    For binary tasks only the positive-class column is kept (the other is redundant).
    """
    import numpy as np

    if task == "binary" and X.shape[-1] == 2:
        X = X[:, :, 1:]
    F = X.reshape(X.shape[0], -1)
    if E is not None:
        F = np.concatenate([F, E.astype(F.dtype, copy=False)], axis=1)
    return F


def expand_soft(F: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand rows per class for soft targets.

    Parameters
    ----------
    F : ndarray of shape (n, F)
    Y : ndarray of shape (n, C), soft targets (rows sum to 1)

    Returns
    -------
    F_rep : ndarray of shape (n', F)
        Each row repeated once per class with a non-zero target.
    labels : ndarray of shape (n',), int
    weights : ndarray of shape (n',), the soft target of that class
        So that a weighted hard-label loss equals the soft-target cross-entropy.
    """
    import numpy as np

    n, C = Y.shape
    rows, cls = np.nonzero(Y > 0)
    return F[rows], cls.astype(np.int64), Y[rows, cls].astype(np.float64)


def normalize_probs(P: np.ndarray) -> np.ndarray:
    """Clip to [1e-7, 1] and renormalise rows."""
    import numpy as np

    P = np.clip(np.asarray(P, dtype=np.float64), _EPS, 1.0)
    return P / P.sum(axis=1, keepdims=True)

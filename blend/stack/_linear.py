"""Linear stacker: (multinomial) logistic regression, or ridge for regression."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from blend.stack._registry import register_stacker
from blend.stack._stacker import Stacker, expand_soft, flatten, normalize_probs

if TYPE_CHECKING:  # numpy is imported where used (start-up < 0.3 s, issue 22)
    pass

__all__ = ["LinearStacker"]


@register_stacker("linear")
class LinearStacker(Stacker):
    """Logistic regression (ridge for regression) on standardised features.

    Standardised features, then L2-regularised logistic regression (ridge for regression).

    ``C`` is the inverse regularisation strength (ridge: ``alpha = 1 / C``). There is
    nothing to early-stop; the inner CV serves the search of ``C``. Soft targets expand
    rows per class with the soft target as sample weight.
    """

    parallel_fits = True
    preferred_features = "logits"

    early_stops = False

    def default_params(self, task: str, n_classes: int) -> dict[str, Any]:
        return {"C": 1.0, "max_iter": 300}

    def suggest_params(self, trial: Any, task: str, n_classes: int) -> dict[str, Any]:
        return {"C": trial.suggest_float("C", 1e-3, 1e2, log=True)}

    def fit_one(self, X, E, y, X_val, E_val, y_val, *, task, n_classes, params, seed):
        import numpy as np
        from sklearn.linear_model import LogisticRegression, Ridge

        F = flatten(X, E, task).astype(np.float64)
        mu, sd = F.mean(axis=0), F.std(axis=0)
        sd[sd < 1e-12] = 1.0
        Z = (F - mu) / sd
        if task == "regression":
            model = Ridge(alpha=1.0 / float(params["C"]), random_state=seed).fit(Z, y)
            return (model, mu, sd, task, None)
        w = None
        labels = y
        if task == "softclass":
            Z, labels, w = expand_soft(Z, y)
        model = LogisticRegression(
            C=float(params["C"]), max_iter=int(params["max_iter"]), random_state=seed
        )
        model.fit(Z, labels, sample_weight=w)
        return (model, mu, sd, task, n_classes)

    def predict_one(self, fitted, X, E):
        import numpy as np

        model, mu, sd, task, n_classes = fitted
        Z = (flatten(X, E, task).astype(np.float64) - mu) / sd
        if task == "regression":
            return model.predict(Z).astype(np.float64)
        proba = model.predict_proba(Z)
        # classes absent from a training split get probability ~0
        full = np.zeros((Z.shape[0], n_classes))
        full[:, model.classes_.astype(int)] = proba
        return normalize_probs(full)

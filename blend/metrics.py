"""Metrics with their direction, looked up by name.

Every metric is called as ``metric(y, P)``:

- ``y`` is what ``Store.y`` holds: ``(N,)`` int class indices (binary, multiclass),
  ``(N, C)`` soft targets (softclass) or ``(N,)`` floats (regression);
- ``P`` is ``(N, C)`` probabilities (classification) or ``(N,)`` / ``(N, 1)`` predictions
  (regression).

``get_metric(name, task)`` returns a :class:`Metric`; an unknown name lists the choices, a
metric that does not fit the task raises :class:`~blend.BlendError`. A user metric is named
``"module:function"``; the function takes ``(y, P)`` and returns a float, and its direction
is read from an attribute ``greater_is_better`` on the function (``True`` when absent).

Names are matched case-insensitively, and the names users type elsewhere are aliases
(:data:`ALIASES`: ``roc_auc`` and ``AUC`` are ``auc``; ``log_loss`` and scikit-learn's
``neg_log_loss`` are ``logloss``, reported as the loss itself).

Regression metrics: ``rmse``, ``mse``, ``mae`` (lower is better), ``r2``, ``pearson``, ``spearman``
and ``qwk`` (higher is better). ``qwk`` on a regression store needs integer grades as
targets and rounds the score to the nearest grade (clipped to the targets' range); cut
points fitted inside the nested CV replace that rounding in :mod:`blend.ordinal`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from blend._errors import BlendError
from oof_common.core import TASKS

if TYPE_CHECKING:
    import numpy as np

# numpy is imported inside the functions that use it: the commands' --help and argument
# parsing (metric names, aliases) run without it (start-up < 0.3 s, issue 22)

__all__ = [
    "ALIASES", "Metric", "METRICS", "TASKS", "about_positive", "canonical_metric", "default_metric",
    "get_metric", "list_metrics", "metric_from_file", "metric_help",
]

_EPS = 1e-15


def _labels(y: np.ndarray) -> np.ndarray:
    import numpy as np

    y = np.asarray(y)
    return y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)


def _as_probs(P: np.ndarray) -> np.ndarray:
    import numpy as np

    P = np.asarray(P, dtype=np.float64)
    if P.ndim != 2:
        raise BlendError(f"expected predictions of shape (N, C), got shape {P.shape}")
    return P


def _accuracy(y, P) -> float:
    import numpy as np

    return float(np.mean(_as_probs(P).argmax(axis=1) == _labels(y)))


def _logloss(y, P) -> float:
    import numpy as np

    P = np.clip(_as_probs(P), _EPS, 1.0)
    P = P / P.sum(axis=1, keepdims=True)
    y = np.asarray(y)
    if y.ndim == 2:  # soft targets: cross-entropy
        return float(-np.mean(np.sum(y * np.log(P), axis=1)))
    return float(-np.mean(np.log(P[np.arange(len(y)), y.astype(np.int64)])))


def _kl(y, P) -> float:
    import numpy as np

    P = np.clip(_as_probs(P), _EPS, 1.0)
    P = P / P.sum(axis=1, keepdims=True)
    t = np.asarray(y, dtype=np.float64)
    if t.ndim != 2:
        raise BlendError("metric 'kl' needs soft targets of shape (N, C)")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(t > 0, t * (np.log(np.where(t > 0, t, 1.0)) - np.log(P)), 0.0)
    return float(np.mean(terms.sum(axis=1)))


def _binary_auc(pos: np.ndarray, score: np.ndarray) -> float:
    n_pos = int(pos.sum())
    n_neg = len(pos) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    from scipy.stats import rankdata  # imported here: scipy.stats costs ~0.6 s at start-up

    ranks = rankdata(score)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _auc(y, P) -> float:
    import numpy as np

    P = _as_probs(P)
    labels = _labels(y)
    if P.shape[1] == 2:
        return _binary_auc(labels == 1, P[:, 1])
    aucs = [_binary_auc(labels == c, P[:, c]) for c in range(P.shape[1])]
    aucs = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(aucs)) if aucs else float("nan")


def _confusion(labels: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    return np.bincount(labels * n + pred, minlength=n * n).reshape(n, n).astype(np.float64)


def _f1_macro(y, P) -> float:
    import numpy as np

    P = _as_probs(P)
    labels, pred = _labels(y), P.argmax(axis=1)
    n = P.shape[1]
    cm = _confusion(labels, pred, n)
    tp = np.diag(cm)
    support = cm.sum(axis=1) + cm.sum(axis=0)  # 2tp + fp + fn
    present = support > 0  # as sklearn: classes seen in y or in the predictions
    return float(np.mean(2 * tp[present] / support[present]))


def _qwk_from_confusion(cm: np.ndarray) -> float:
    import numpy as np

    n = cm.shape[0]
    w = (np.arange(n)[:, None] - np.arange(n)[None, :]) ** 2.0
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / cm.sum()
    denom = (w * expected).sum()
    return float(1.0 - (w * cm).sum() / denom) if denom > 0 else 1.0


def _integer_grades(y: np.ndarray, name: str = "qwk") -> np.ndarray:
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or not np.all(np.isfinite(y)) or np.any(y != np.rint(y)):
        raise BlendError(
            f"metric {name!r} on a regression store needs integer grades as targets; "
            "bin the target into grades first"
        )
    return np.rint(y).astype(np.int64)


def _qwk(y, P) -> float:
    import numpy as np

    P = np.asarray(P, dtype=np.float64)
    if P.ndim == 1 or (P.ndim == 2 and P.shape[1] == 1):
        # regression: the score rounded to the nearest grade, clipped to the targets' range
        g = _integer_grades(y)
        lo, hi = int(g.min()), int(g.max())
        pred = np.clip(np.rint(P.reshape(-1)), lo, hi).astype(np.int64)
        return _qwk_from_confusion(_confusion(g - lo, pred - lo, hi - lo + 1))
    P = _as_probs(P)
    labels, pred = _labels(y), P.argmax(axis=1)
    return _qwk_from_confusion(_confusion(labels, pred, P.shape[1]))


def _regression_pair(y, P, name: str) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    P = np.asarray(P, dtype=np.float64)
    if P.ndim == 2:
        if P.shape[1] != 1:
            raise BlendError(f"metric {name!r} needs one prediction column, got {P.shape[1]}")
        P = P[:, 0]
    return np.asarray(y, dtype=np.float64), P


def _mae(y, P) -> float:
    import numpy as np

    y, p = _regression_pair(y, P, "mae")
    return float(np.mean(np.abs(y - p)))


def _r2(y, P) -> float:
    import numpy as np

    y, p = _regression_pair(y, P, "r2")
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / ss if ss > 0 else float("nan")


def _pearson(y, P) -> float:
    import numpy as np

    y, p = _regression_pair(y, P, "pearson")
    y, p = y - y.mean(), p - p.mean()
    d = float(np.sqrt(np.sum(y * y) * np.sum(p * p)))
    return float(np.sum(y * p)) / d if d > 0 else float("nan")


def _spearman(y, P) -> float:
    from scipy.stats import rankdata  # imported here: scipy.stats costs ~0.6 s at start-up

    y, p = _regression_pair(y, P, "spearman")
    return _pearson(rankdata(y), rankdata(p))


def _mse(y, P) -> float:
    import numpy as np

    y_, p_ = _regression_pair(y, P, "mse")
    return float(np.mean((y_ - p_) ** 2))


def _rmse(y, P) -> float:
    import numpy as np

    P = np.asarray(P, dtype=np.float64)
    if P.ndim == 2:
        if P.shape[1] != 1:
            raise BlendError(f"metric 'rmse' needs one prediction column, got {P.shape[1]}")
        P = P[:, 0]
    return float(np.sqrt(np.mean((np.asarray(y, dtype=np.float64) - P) ** 2)))


@dataclass(frozen=True)
class Metric:
    """A scoring function with its direction and the tasks it fits.

    Parameters
    ----------
    name : str
        Registry name (or ``module:function`` for a user metric).
    greater_is_better : bool
        Direction: ``True`` for accuracy or AUC, ``False`` for losses.
    tasks : tuple of str
        Store tasks the metric fits.
    needs : str
        ``"labels"`` when only the argmax of the blend matters (accuracy, F1, QWK; search
        can then work on margins), ``"probs"`` when the values matter.
    func : callable
        ``func(y, P) -> float``.
    """

    name: str
    greater_is_better: bool
    tasks: tuple[str, ...]
    needs: str
    func: Callable[[np.ndarray, np.ndarray], float] = field(repr=False, compare=False)

    def __call__(self, y: np.ndarray, P: np.ndarray) -> float:
        """Score predictions ``P`` against targets ``y`` with ``func``.

        Parameters
        ----------
        y : ndarray of shape (n_rows,) or (n_rows, n_classes)
            Class indices, regression targets, or soft targets (softclass).
        P : ndarray of shape (n_rows, n_classes), (n_rows,) or (n_rows, 1)
            Probabilities (classification) or predictions (regression).

        Returns
        -------
        float
        """
        return float(self.func(y, P))

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` is strictly better than score ``b``."""
        return a > b if self.greater_is_better else a < b

    @property
    def worst(self) -> float:
        """The worst possible score: ``-inf`` when greater is better, else ``inf``."""
        import numpy as np

        return -np.inf if self.greater_is_better else np.inf

    def gain(self, score):
        """Score turned so that larger is always better (``-score`` for losses)."""
        return score if self.greater_is_better else -score


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", True, ("binary", "multiclass", "softclass"), "labels", _accuracy),
        Metric("logloss", False, ("binary", "multiclass", "softclass"), "probs", _logloss),
        Metric("kl", False, ("softclass",), "probs", _kl),
        Metric("auc", True, ("binary", "multiclass"), "probs", _auc),
        Metric("f1_macro", True, ("binary", "multiclass", "softclass"), "labels", _f1_macro),
        Metric("qwk", True, ("binary", "multiclass", "regression"), "labels", _qwk),
        Metric("rmse", False, ("regression",), "probs", _rmse),
        Metric("mse", False, ("regression",), "probs", _mse),
        Metric("mae", False, ("regression",), "probs", _mae),
        Metric("r2", True, ("regression",), "probs", _r2),
        Metric("pearson", True, ("regression",), "probs", _pearson),
        Metric("spearman", True, ("regression",), "probs", _spearman),
    ]
}

#: Names as users type them (scikit-learn's scorer names, Kaggle's), matched case-insensitively
#: with ``-`` and spaces read as ``_``. scikit-learn's ``neg_*`` scorers are the same losses
#: negated: here the loss itself is reported, lower is better.
ALIASES: dict[str, str] = {
    "roc_auc": "auc", "rocauc": "auc", "auroc": "auc", "roc": "auc", "auc_roc": "auc",
    "log_loss": "logloss", "neg_log_loss": "logloss", "cross_entropy": "logloss",
    "crossentropy": "logloss", "bce": "logloss", "nll": "logloss",
    "acc": "accuracy", "accuracy_score": "accuracy",
    "f1": "f1_macro", "macro_f1": "f1_macro", "f1_score": "f1_macro",
    "kappa": "qwk", "quadratic_kappa": "qwk", "cohen_kappa": "qwk", "quadratic_weighted_kappa": "qwk",
    "neg_root_mean_squared_error": "rmse", "root_mean_squared_error": "rmse",
    "neg_mean_squared_error": "mse", "mean_squared_error": "mse",
    "neg_mean_absolute_error": "mae", "mean_absolute_error": "mae",
    "r2_score": "r2", "kl_divergence": "kl",
}


def canonical_metric(name: str) -> str:
    """The registry name of ``name``: itself, or what an alias stands for (``"ROC_AUC"`` -> ``"auc"``).

    A ``module:function`` or an unknown name comes back unchanged (:func:`get_metric`
    then says what is wrong). Usable as an argparse ``type=``.
    """
    if not isinstance(name, str) or ":" in name:
        return name
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key in METRICS:
        return key
    return ALIASES.get(key, name)


def about_positive(metric: str | None, task: str, class_names: Sequence[str]) -> str | None:
    """For a binary store, the line naming the class a score is about; None otherwise.

    AUC, log loss and every probability a binary blend writes are the positive class's
    (the second class, set with ``oof init --positive``).
    """
    if task != "binary" or len(class_names) != 2:
        return None
    name = canonical_metric(str(metric)) if metric else "auc"
    what = f"{name} is" if name in ("auc", "logloss") else "the probabilities are"
    return (
        f"positive class {str(class_names[1])!r} (negative {str(class_names[0])!r}): {what} about "
        f"{str(class_names[1])!r} (oof init --positive)"
    )


def metric_help() -> str:
    """The metric names and their aliases, for ``--help``."""
    by_target: dict[str, list[str]] = {}
    for alias, target in ALIASES.items():
        by_target.setdefault(target, []).append(alias)
    shown = [
        f"{n} ({', '.join(by_target[n][:3])})" if n in by_target else n for n in METRICS
    ]
    return (
        "metric: " + ", ".join(shown)
        + "; any case; or a function as module:function (default: the task's)"
    )


_DEFAULTS = {"binary": "auc", "multiclass": "accuracy", "softclass": "kl", "regression": "rmse"}


def list_metrics() -> list[str]:
    """Names of the built-in metrics."""
    return list(METRICS)


def default_metric(task: str) -> str:
    """The metric used when none is named.

    Binary ``auc``, multiclass ``accuracy``, softclass ``kl``, regression ``rmse``.
    """
    if task not in _DEFAULTS:
        raise BlendError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return _DEFAULTS[task]


def _user_metric(spec: str) -> Metric:
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise BlendError(f"a user metric is named 'module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BlendError(f"cannot import module {module_name!r} for metric {spec!r}: {exc}") from exc
    func = getattr(module, func_name, None)
    if not callable(func):
        raise BlendError(f"module {module_name!r} has no function {func_name!r} (metric {spec!r})")
    return _from_callable(func, spec)


def _from_callable(func: Callable, name: str | None = None) -> Metric:
    return Metric(
        name or getattr(func, "__name__", "metric"),
        bool(getattr(func, "greater_is_better", True)),
        TASKS,
        "probs",
        func,
    )


def metric_from_file(spec: object, source: str, given: str | Metric | Callable | None = None) -> str:
    """A metric name read from a file (a search result, a recipe), checked before any use.

    A file holds data, never code (``docs/design/trust-model.md``): it may name a built-in
    metric, but a custom ``module:function`` in it is imported only when the user names
    the same metric (``given``: ``--metric`` or the Python API). Raises :class:`BlendError`
    otherwise, before anything is imported.
    """
    if not isinstance(spec, str) or not spec:
        raise BlendError(f"{source}: the metric is {spec!r}, not a metric name")
    if spec in METRICS:
        return spec
    if given is not None and not isinstance(given, str):
        given = getattr(given, "name", None)
    if ":" in spec and given == spec:
        return spec
    if ":" in spec:
        raise BlendError(
            f"{source} names the custom metric {spec!r}. A metric function is imported only "
            f"when you name it yourself (--metric {spec}, or the Python API), never from a "
            f"file the tool reads. If you trust it, pass --metric {spec}"
        )
    raise BlendError(
        f"{source}: unknown metric {spec!r}; a file may name one of {', '.join(METRICS)}"
    )


def get_metric(metric: str | Metric | Callable, task: str | None = None) -> Metric:
    """Look a metric up by name and check that it fits ``task``.

    Parameters
    ----------
    metric : str, Metric or callable
        A registry name, ``"module:function"``, a :class:`Metric`, or a function
        ``(y, P) -> float`` (direction from its ``greater_is_better`` attribute).
    task : str, optional
        The store's task; when given, a metric that does not fit raises.

    Returns
    -------
    Metric
    """
    if isinstance(metric, Metric):
        m = metric
    elif callable(metric):
        m = _from_callable(metric)
    elif isinstance(metric, str) and canonical_metric(metric) in METRICS:
        m = METRICS[canonical_metric(metric)]
    elif isinstance(metric, str) and ":" in metric:
        m = _user_metric(metric)
    else:
        raise BlendError(
            f"unknown metric {metric!r}; choose one of {', '.join(METRICS)} (aliases such as "
            "roc_auc, log_loss, neg_log_loss, f1, kappa, mse are accepted, any case) or name a "
            "function as 'module:function'"
        )
    if task is not None:
        if task not in TASKS:
            raise BlendError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
        if task not in m.tasks:
            fits = [n for n, x in METRICS.items() if task in x.tasks]
            raise BlendError(
                f"metric {m.name!r} does not fit a {task} task (it fits {', '.join(m.tasks)}); "
                f"for {task} use one of {', '.join(fits)}"
            )
    return m

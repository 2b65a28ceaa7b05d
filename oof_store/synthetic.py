"""Synthetic OOF sets whose right answer is known, for tests, benchmarks and examples.

Each model's logits are ``signal_m * onehot(y) + shared + own`` noise: the shared part
makes models correlated (``correlation``), the signal strength sets each model's accuracy
(spread over ``accuracy=(low, high)``). ``noise`` is ``1 / signal``: the least noisy model
is the best one and should get the largest weight in a blend.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from oof_store._store import Store, softmax

__all__ = ["SyntheticOOF", "make_oof", "make_store"]


@dataclass(frozen=True)
class SyntheticOOF:
    """Arrays of a synthetic OOF set.

    Attributes
    ----------
    logits : ndarray of shape (n_models, n_tta, n_rows, n_classes), float32
    y : ndarray of shape (n_rows,) int64 (classification), float64 (regression)
        or (n_rows, n_classes) float64 soft targets (softclass).
    folds : ndarray of shape (n_rows,), int64
    test_logits : ndarray of shape (n_models, n_folds, n_tta, n_test, n_classes), float32
    noise : ndarray of shape (n_models,)
        Smaller is better.
    task : str
    """

    logits: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    test_logits: np.ndarray
    noise: np.ndarray
    task: str

    @property
    def y_hard(self) -> np.ndarray:
        """Hard targets: the argmax of soft targets, else ``y`` itself.

        Returns
        -------
        ndarray of shape (n_rows,)
        """
        return self.y.argmax(axis=1) if self.y.ndim == 2 else self.y


def _signal_for_accuracy(acc: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Signal strength ``a`` so that ``P(a + z_true > max z_other) = acc`` for unit noise."""
    z = rng.standard_normal((20000, n_classes))
    gap = z[:, 1:].max(axis=1) - z[:, 0]

    def accuracy(a: float) -> float:
        return float((gap < a).mean())

    out = []
    for target in np.atleast_1d(acc):
        lo, hi = 0.0, 20.0
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if accuracy(mid) < target else (lo, mid)
        out.append((lo + hi) / 2)
    return np.array(out)


def make_oof(
    n_models: int = 9,
    n_rows: int = 21397,
    n_classes: int = 5,
    n_folds: int = 5,
    n_test: int = 0,
    accuracy: tuple[float, float] = (0.88, 0.90),
    correlation: float = 0.8,
    n_tta: int = 1,
    task: str = "multiclass",
    seed: int = 0,
    accuracies: Sequence[float] | None = None,
) -> SyntheticOOF:
    """Make a synthetic OOF set shaped like a K-fold competition's.

    Parameters
    ----------
    accuracy : (low, high)
        Accuracy of the worst and the best model (classification), spread evenly.
    correlation : float in [0, 1)
        Share of each model's noise that all models have in common.
    task : {"multiclass", "binary", "softclass", "regression"}
    accuracies : sequence of float, optional
        One accuracy per model (overrides ``accuracy``'s even spread; ``n_models`` must
        match), e.g. a few strong models among many weak ones.
    """
    if task not in ("multiclass", "binary", "softclass", "regression"):
        raise ValueError(f"unknown task {task!r}")
    rng = np.random.default_rng(seed)
    if task == "binary":
        n_classes = 2
    c = 1 if task == "regression" else n_classes
    folds = np.resize(np.arange(n_folds), n_rows)
    rng.shuffle(folds)
    if accuracies is not None:
        accs = np.asarray(accuracies, dtype=np.float64)
        if accs.shape != (n_models,):
            raise ValueError(f"accuracies has {accs.size} values for {n_models} models")
    else:
        accs = np.linspace(accuracy[0], accuracy[1], n_models)
    order = rng.permutation(n_models)  # best model not always last
    accs = accs[order]
    signal = _signal_for_accuracy(accs, max(c, 2), rng) if task != "regression" else 1 / (1 - accs)

    def draw(n: int, labels: np.ndarray, views: int, extra: int = 1) -> np.ndarray:
        shared = rng.standard_normal((n, c)).astype(np.float32)
        out = np.empty((n_models, extra, views, n, c), np.float32)
        base = np.zeros((n, c), np.float32)
        if task == "regression":
            base[:, 0] = labels
        else:
            base[np.arange(n), labels] = 1.0
        r, s = np.sqrt(correlation), np.sqrt(1 - correlation)
        for m in range(n_models):
            own = rng.standard_normal((n, c)).astype(np.float32)
            if task == "regression":
                core = base + (r * shared + s * own) / signal[m]
            else:
                core = signal[m] * base + r * shared + s * own
            for e in range(extra):
                fold_noise = 0.0 if extra == 1 else 0.15 * rng.standard_normal((n, c))
                for v in range(views):
                    view_noise = 0.0 if v == 0 else 0.3 * rng.standard_normal((n, c))
                    out[m, e, v] = core + fold_noise + view_noise
        return out

    if task == "regression":
        y = rng.standard_normal(n_rows)
        labels, test_labels = y, rng.standard_normal(n_test)
    else:
        labels = rng.integers(0, c, n_rows)
        test_labels = rng.integers(0, c, n_test)
        y = labels.astype(np.int64)
    logits = draw(n_rows, labels, n_tta)[:, 0]
    test_logits = draw(n_test, test_labels, n_tta, extra=n_folds)
    if task == "softclass":
        # Soft targets: a noisy vote around the true class.
        votes = softmax((3.0 * np.eye(c)[labels] + rng.standard_normal((n_rows, c))).astype(np.float32))
        y = votes.astype(np.float64)
        y /= y.sum(axis=1, keepdims=True)
    return SyntheticOOF(
        logits=logits,
        y=y,
        folds=folds.astype(np.int64),
        test_logits=test_logits,
        noise=1.0 / signal,
        task=task,
    )


def make_store(
    uri: str | os.PathLike[str],
    *,
    kind: str = "logits",
    model_prefix: str = "m",
    overwrite: bool = False,
    **kwargs,
) -> Store:
    """Write a complete store from :func:`make_oof` (same keyword arguments).

    Models are named ``m00, m01, ...``; row ids ``r000000...``; test ids ``t000000...``;
    classes ``c0, c1, ...``. With ``kind="probs"`` the logits are turned into probabilities.
    ``store.meta["source"]`` records the generator's arguments; the ``noise`` of each model
    is in its manifest's ``params``.
    """
    data = make_oof(**kwargs)
    n_models, n_tta, n_rows, c = data.logits.shape
    n_test = data.test_logits.shape[3]
    ids = np.array([f"r{i:06d}" for i in range(n_rows)])
    test_ids = np.array([f"t{i:06d}" for i in range(n_test)])
    targets = pd.DataFrame({"id": ids, "fold": data.folds})
    if data.task == "softclass":
        target_cols = [f"c{k}" for k in range(c)]
        for k, col in enumerate(target_cols):
            targets[col] = data.y[:, k]
    elif data.task == "regression":
        target_cols = ["target"]
        targets["target"] = data.y
    else:
        target_cols = ["target"]
        targets["target"] = np.array([f"c{k}" for k in range(c)])[data.y]
    store = Store.create(
        uri,
        targets,
        id_col="id",
        target_cols=target_cols,
        fold_col="fold",
        task=data.task,
        class_names=[f"c{k}" for k in range(c)] if data.task != "regression" else None,
        test_ids=test_ids if n_test else None,
        overwrite=overwrite,
        source=f"oof_store.synthetic.make_oof({kwargs})",
    )
    if kind == "probs" and data.task != "regression":
        logits = softmax(data.logits.copy())
        test = softmax(data.test_logits.copy())
    else:
        logits, test = data.logits, data.test_logits
    fold_ids = store.fold_ids
    views = ["none"] if n_tta == 1 else ["none"] + [f"view{v}" for v in range(1, n_tta)]
    for m in range(n_models):
        name = f"{model_prefix}{m:02d}"
        with store.transaction(name, "synthetic") as tx:  # one commit per model
            for t in range(n_tta):
                for f in fold_ids:
                    rows = data.folds == f
                    tx.write_block("oof", f, t, ids[rows], logits[m, t, rows])
                    if n_test:
                        tx.write_block("test", f, t, test_ids, test[m, f, t])
            tx.finish_model(
                kind=kind if data.task != "regression" else "raw",
                tta_views=views,
                params={"noise": float(data.noise[m])},
                source="synthetic",
            )
    return store

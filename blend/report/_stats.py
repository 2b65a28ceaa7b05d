"""The report's statistics: group scores, correlations, error agreement, reliability, label noise."""

from __future__ import annotations

import numpy as np

from blend.report._results import (
    NoiseCandidates,
    Pair,
    Reliability,
)


def _safe(metric, y, p) -> float:
    """The metric, or NaN where it is undefined (e.g. AUC on a fold with one class)."""
    try:
        return float(metric(y, p))
    except ValueError:
        return float("nan")


def _as_pred(task: str, p: np.ndarray) -> np.ndarray:
    """What a Metric takes: (N, C) probabilities, or (N,) predictions for regression."""
    return p[:, 0] if task == "regression" else p


def _group_scores(metric, task, y, preds, codes, n_groups) -> np.ndarray:
    """Scores (len(preds), G) of each prediction on each group of rows."""
    out = np.full((len(preds), n_groups), np.nan)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))
    for g in range(n_groups):
        idx = order[bounds[g]:bounds[g + 1]]
        if idx.size == 0:
            continue
        yg = y[idx]
        for i, p in enumerate(preds):
            out[i, g] = _safe(metric, yg, _as_pred(task, p[idx]))
    return out


def _recall(pred_label: np.ndarray, y_hard: np.ndarray, c: int) -> np.ndarray:
    """Per-class recall; pred_label (K, N) -> (K, C), NaN for absent classes."""
    counts = np.bincount(y_hard, minlength=c).astype(float)
    hits = np.zeros((pred_label.shape[0], c))
    correct = pred_label == y_hard[None, :]
    for k in range(pred_label.shape[0]):
        hits[k] = np.bincount(y_hard, weights=correct[k], minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / counts, np.nan)


def _corr(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of the rows of x (K, N); 0 off the diagonal for constant rows."""
    x = x - x.mean(axis=1, keepdims=True)
    sd = np.sqrt((x * x).sum(axis=1))
    cov = x @ x.T
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.outer(sd, sd)
    r = np.where(np.isfinite(r), r, 0.0)
    np.fill_diagonal(r, 1.0)
    return np.clip(r, -1.0, 1.0)


def _jaccard(errors: np.ndarray) -> np.ndarray:
    """|both wrong| / |either wrong| for boolean errors (K, N); 1 where neither errs."""
    e = errors.astype(np.float32)
    both = e @ e.T
    n = e.sum(axis=1)
    either = n[:, None] + n[None, :] - both
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where(either > 0, both / either, 1.0)
    return j.astype(float)


def _pairs(names, corr, agree, n_pairs) -> tuple[list[Pair], list[Pair]]:
    m = len(names)
    if m < 2:
        return [], []
    iu, ju = np.triu_indices(m, k=1)
    vals = corr[iu, ju]
    order = np.lexsort((ju, iu, -vals))  # highest first, ties by position

    def mk(k):
        a, b = int(iu[k]), int(ju[k])
        return Pair(names[a], names[b], float(corr[a, b]),
                    None if agree is None else float(agree[a, b]))

    k = min(n_pairs, max(1, vals.size // 2))  # the two lists do not overlap (from 3 models)
    most = [mk(i) for i in order[:k]]
    least = [mk(i) for i in order[::-1][:k]]
    return most, least


def _reliability(p: np.ndarray, y_hard: np.ndarray, n_bins: int) -> Reliability:
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y_hard).astype(float)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, n_bins - 1)
    counts = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mc = np.bincount(b, weights=conf, minlength=n_bins) / counts
        acc = np.bincount(b, weights=correct, minlength=n_bins) / counts
    gap = np.where(counts > 0, np.abs(acc - mc), 0.0)
    ece = float((counts * gap).sum() / max(conf.size, 1))
    return Reliability(edges, mc, acc, counts, ece)


def _noise(p: np.ndarray, y_hard: np.ndarray, ids: np.ndarray) -> NoiseCandidates:
    """Rows whose label the blend contradicts, each class measured against its prior.

    A class's probability is read against how common the class is (``lift = p_k /
    prior_k``): under a plain argmax, every minority-class row the blend is unsure about
    (p = 0.3 for a class of 10%) is "predicted" as the majority and fills the list. The
    predicted class is the one with the largest lift; a row is a candidate when that class
    is not its label and its probability reaches the class's confident-learning threshold
    (mean p_k over rows labelled k). The score, ``log(prior_given / p_given)``, ranks them:
    how many times less likely the blend finds the label than the label's base rate (a
    10% class given p = 0.05 scores log 2; a 90% class given p = 0.05, log 18).
    """
    n, c = p.shape
    rows = np.arange(n)
    # threshold of class k: mean p_k over rows labelled k (inf when no row has label k)
    counts = np.bincount(y_hard, minlength=c)
    sums = np.bincount(y_hard, weights=p[rows, y_hard], minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
        prior = counts / max(n, 1)
        lift = np.where(prior > 0, p / np.where(prior > 0, prior, 1.0), -np.inf)
    pred = lift.argmax(axis=1)
    p_pred = p[rows, pred]
    p_given = p[rows, y_hard]
    cand = (pred != y_hard) & (p_pred >= thresholds[pred])
    idx = np.flatnonzero(cand)
    tiny = 1e-12
    score = np.log(prior[y_hard[idx]]) - np.log(np.maximum(p_given[idx], tiny))
    order = np.lexsort((idx, -score))  # most suspicious first, ties by row
    idx, score = idx[order], score[order]
    return NoiseCandidates(
        rows=idx, ids=ids[idx], given=y_hard[idx], predicted=pred[idx], score=score,
        p_given=p_given[idx], p_predicted=p_pred[idx], thresholds=thresholds,
    )

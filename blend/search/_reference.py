"""The plain reference twin of the subset search: every subset, one at a time.

It blends each subset with :func:`blend.combine.combine` and scores it with the metric,
then sorts with the search's tie order. Slow (use it on a handful of models); the
property tests hold the fast kernels equal to it.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from blend.combine import combine
from blend.metrics import get_metric

__all__ = ["brute_force_search"]


def brute_force_search(
    P,
    y,
    *,
    metric="accuracy",
    rule="prob",
    kind="probs",
    tta_weights=None,
    top=50,
    min_size=1,
    max_size=None,
    must_include=(),
    exclude=(),
) -> list[tuple[tuple[int, ...], float]]:
    """Best ``top`` subsets as ``[(model_indices, score), ...]``, best first.

    Order: better score, then smaller subset, then lexicographically smaller indices.
    """
    m = get_metric(metric)
    n_models = np.asarray(P).shape[0]
    forced = sorted(set(must_include))
    cand = [i for i in range(n_models) if i not in set(exclude) and i not in forced]
    max_size = n_models if max_size is None else max_size
    rows = []
    for k in range(0, len(cand) + 1):
        for chosen in combinations(cand, k):
            subset = tuple(sorted(forced + list(chosen)))
            if not subset or not (min_size <= len(subset) <= max_size):
                continue
            pred = combine(np.asarray(P)[list(subset)], rule=rule, kind=kind, tta_weights=tta_weights)
            if pred.shape[-1] == 1:
                pred = pred[:, 0]
            rows.append((subset, m(y, pred)))
    rows.sort(key=lambda r: (-m.gain(r[1]), len(r[0]), r[0]))
    return rows[:top]

"""The defaults the commands and the library share, defined once.

``blend optimize``'s ``--method`` default, ``blend compare``'s ``--budget``, every command's
``--seed`` ... are the defaults of the workflow functions too, so ``blend.optimize(store)``
in a notebook runs what ``blend optimize STORE`` runs. The metric per task is
:func:`blend.metrics.default_metric` (binary ``auc``, multiclass ``accuracy``, softclass
``kl``, regression ``rmse``); :func:`metric_for` applies it.
"""

from __future__ import annotations

__all__ = ["SEED", "OPTIMIZE_METHOD", "RULE", "COMPARE_BUDGET", "COMPARE_PREFIX", "SEARCH_TOP",
           "SEARCH_JOBS", "SEARCH_TIME_BUDGET", "STACK_FEATURES", "TTA", "CUT_METHOD",
           "metric_for"]

#: Every command's ``--seed``.
SEED = 0
#: ``blend optimize --method``.
OPTIMIZE_METHOD = "de"
#: ``--rule`` of ``blend search`` and ``blend optimize``: the probability mean.
RULE = "prob"
#: ``blend compare --budget``.
COMPARE_BUDGET = "fast"
#: ``blend compare --prefix``: the name prefix of the stackers a recipe needs written.
COMPARE_PREFIX = "compare_"
#: ``blend search --top``.
SEARCH_TOP = 50
#: ``blend search --jobs``.
SEARCH_JOBS = 2
#: ``blend search --time-budget`` (seconds).
SEARCH_TIME_BUDGET = 120.0
#: ``stack --features``: None = the stacker's own (``Stacker.preferred_features``: logits
#: for ``linear``, probs for the others), the features compare's ``stack:NAME`` uses.
STACK_FEATURES = None
#: ``--tta`` of ``blend search`` and ``stack``: the TTA views averaged.
TTA = "mean"
#: ``--cuts``: the cut-point method of the ordinal paths.
CUT_METHOD = "coordinate"


def metric_for(task: str, metric: str | None = None) -> str:
    """``metric``, or the task's default metric when it is None (checked for the task)."""
    from blend.metrics import default_metric, get_metric

    name = metric if metric is not None else default_metric(task)
    get_metric(name, task)  # a metric that does not fit the task fails here, early
    return name

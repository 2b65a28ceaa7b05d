"""The ``blend compare --budget`` presets: what each budget runs.

Plain data without numpy, so ``blend compare --help`` lists the budgets without importing the
comparison (start-up < 0.3 s, issue 22); :func:`blend.compare.build_candidates` reads them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUDGETS"]

#: What each budget runs. ``weights``: (method, rule) pairs; ``stackers``: stacker names.
#: Every candidate runs at full strength: the optimisers with ``blend optimize``'s defaults,
#: the stackers with their class defaults (``Stacker.default_params``), features
#: (``preferred_features``) and bagging over the inner folds, as ``stack NAME`` runs them:
#: with ``--budget fast`` compare's ``stack:NAME`` fits, for each outer fold, the very
#: models ``stack NAME --seed S`` fits (the same seeds). ``full`` adds optimisers, the
#: neural stackers, 10 HPO trials per stacker fit and 2 seeds.
BUDGETS: dict[str, dict[str, Any]] = {
    "fast": {
        "weights": [("lbfgs", "prob"), ("lbfgs", "logit"), ("hill-climb", "prob")],
        "stackers": ["lgbm", "linear"],
        "tempered": ["lbfgs/logit+T"],
        "level3": True,
        "level3_specs": ["level3", "level3/logit", "level3/geo+T"],
        "bag": True,
        "seeds": 1,
        "hpo": 0,
        "params": {},
        "stacker_params": {},
    },
    "full": {
        "weights": [(m, r) for m in ("lbfgs", "hill-climb", "de", "nelder-mead")
                    for r in ("prob", "logit")],
        "tempered": ["lbfgs/logit+T", "lbfgs/geo+T"],
        "stackers": ["lgbm", "linear", "mlp", "cnn1d", "cnn2d"],
        "level3": True,
        "level3_specs": ["level3", "level3/logit", "level3/geo", "level3/logit+T",
                         "level3/geo+T"],
        "bag": True,
        "seeds": 2,
        "hpo": 10,
        "params": {},
        "stacker_params": {},
    },
}

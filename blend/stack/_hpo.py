"""The hyper-parameter search of a stacker (Optuna), scored by the inner CV."""

from __future__ import annotations

from typing import Any


def _search(st, fit_bag, rows, base, n_trials, seed, met, task, n_classes):
    """Optuna search of the stacker's hyper-parameters, scored by the inner CV."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    best: dict[str, Any] = {}

    def objective(trial):
        p = {**base, **st.suggest_params(trial, task, n_classes)}
        bag, score = fit_bag(rows, p, seed)
        if not best or met.better(score, best["score"]):
            best.update(score=score, params=p, bag=bag)
        return score

    study = optuna.create_study(
        direction="maximize" if met.greater_is_better else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed % (2**31)),
    )
    study.optimize(objective, n_trials=int(n_trials))
    return best["params"], best["bag"], best["score"]

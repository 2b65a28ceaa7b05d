"""``blend report`` at the store level: load every model's OOF views, build the report.

``report(store, ...)`` loads the store's OOF predictions and calls the pure core
:func:`blend.report.build_report`; :func:`write_noise_csv` writes the label-noise
candidates. See ``docs/commands/report.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from blend._errors import BlendError
from blend.report import Report, build_report
from blend.workflows._models import honesty_facts, in_sample_models, resolve_models
from oof_common.outputs import check_output_path

__all__ = ["report", "write_noise_csv"]


def _by_columns(store, by: Sequence[str]) -> dict[str, np.ndarray]:
    targets = store.targets
    reserved = {store.id_col}
    usable = [c for c in targets.columns if c not in reserved]
    out = {}
    for col in by:
        if col not in usable:
            extra = [c for c in usable if c not in set(store.target_cols) | {"fold"}]
            raise BlendError(
                f"unknown --by column {col!r}; the targets have the columns "
                f"{', '.join(usable)} (extra columns: {', '.join(extra) or 'none'})"
            )
        values = targets[col]
        out[col] = values.astype(str).where(values.notna(), "<missing>").to_numpy()
    return out


def _load_views(store, models: list[str]) -> tuple[list[np.ndarray], list[list[str]]]:
    """Each model's OOF probabilities (T_m, N, C), loading models with equal view counts together."""
    n_views = {m: len(store.manifest(m).get("tta_views") or [None]) for m in models}
    views: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    for t in sorted(set(n_views.values())):
        group = [m for m in models if n_views[m] == t]
        oof = store.load_oof(group, tta="all", output="probs")
        for i, m in enumerate(group):
            views[m] = oof.preds[i]
            vn = store.manifest(m).get("tta_views") or oof.tta_views
            names[m] = [str(v) for v in vn]
    return [views[m] for m in models], [names[m] for m in models]


def report(
    store,
    *,
    models: Sequence[str] | None = None,
    metric: str | None = None,
    by: Sequence[str] = (),
    n_pairs: int = 3,
    n_bins: int = 15,
    allow_in_sample: bool = False,
) -> Report:
    """The OOF report of a store's models (library function; never exits).

    Parameters
    ----------
    store : oof_store.Store
    models : list of str, optional
        Default: every finished model but the in-sample blends (``blend apply
        --write-model``); ``allow_in_sample`` includes them. Each flagged model (in-sample,
        epoch selected on the OOF fold) gets a note saying why its scores are optimistic.
    metric : str, optional
        Primary metric (``blend.metrics``); default: the task's.
    by : list of str
        Columns of ``store.targets`` to break the score down by.

    Raises
    ------
    BlendError
        Unknown model or ``--by`` column, metric unfit for the task, ...
    """
    from blend.metrics import default_metric, get_metric
    from oof_store.flags import FLAG_TEXT

    left_out = [] if (models or allow_in_sample) else in_sample_models(store, store.models())
    models = resolve_models(store, models, need=1, what="the report", level2=True,
                            allow_in_sample=allow_in_sample)
    by_values = _by_columns(store, by)
    get_metric(metric if metric is not None else default_metric(store.task), store.task)  # fail early
    views, tta_names = _load_views(store, models)
    r = build_report(
        views, store.y, store.folds, task=store.task, metric=metric, models=models,
        tta_views=tta_names, class_names=store.class_names, ids=store.ids, by=by_values,
        n_pairs=n_pairs, n_bins=n_bins,
    )
    for m, flags in honesty_facts(store, models)["flagged_models"].items():
        r.notes.extend(f"NOT HONEST: {m} ({f}): {FLAG_TEXT[f]}" for f in flags)
    if left_out:
        r.notes.append(f"left out the in-sample blend(s) {', '.join(left_out)} (blend apply "
                       "--write-model); --allow-in-sample shows them, labelled")
    return r


def write_noise_csv(report: Report, path: str | Path, *, id_col: str = "id",
                    folds: np.ndarray | None = None) -> int:
    """Write every label-noise candidate to ``path``; return how many rows were written."""
    import pandas as pd

    nz = report.noise
    if nz is None:
        raise BlendError(f"label-noise candidates do not apply to a {report.task} task; drop --noise-csv")
    names = np.asarray(report.class_names, dtype=object)
    df = pd.DataFrame({
        id_col: nz.ids,
        "given_label": names[nz.given] if len(nz) else [],
        "predicted_label": names[nz.predicted] if len(nz) else [],
        "score": nz.score,
        "p_given": nz.p_given,
        "p_predicted": nz.p_predicted,
    })
    if folds is not None:
        df["fold"] = np.asarray(folds)[nz.rows]
    check_output_path(path, "the noise CSV")
    df.to_csv(path, index=False, float_format="%.6f")
    return len(df)

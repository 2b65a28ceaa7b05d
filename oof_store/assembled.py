"""Import an Assembled "metatask" (CSV + JSON of 10-fold OOF confidences) as a store.

The Assembled project (ISG Siegen) publishes OOF confidences of several scikit-learn models
with the fold ids in the JSON's ``"folds"``. This turns one such pair into a complete store,
one model per predictor (kind ``probs``). It is how the real-data tests get real OOF.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from oof_store._errors import StoreError
from oof_store._store import Store
from oof_store.importing import import_predictions

__all__ = ["import_metatask"]


def import_metatask(
    csv_path: str | os.PathLike[str],
    json_path: str | os.PathLike[str],
    store_uri: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> Store:
    """Create a store at ``store_uri`` from an Assembled metatask and import its predictors.

    Row ids are ``row<i>`` in CSV order; the target column and the class labels come from
    the JSON; rows whose confidences do not sum to 1 are renormalised (Assembled stores
    rounded confidences).
    """
    with open(json_path) as f:
        meta = json.load(f)
    df = pd.read_csv(csv_path)
    folds = np.asarray(meta["folds"], dtype=np.float64)
    if len(folds) != len(df):
        raise StoreError(f"{json_path}: {len(folds)} fold ids for {len(df)} rows in {csv_path}")
    target = meta["target_name"]
    classes = [str(c) for c in meta["class_labels"]]
    ids = np.array([f"row{i}" for i in range(len(df))])
    targets = pd.DataFrame({"id": ids, "target": df[target].astype(str), "fold": folds.astype(int)})
    store = Store.create(
        store_uri,
        targets,
        id_col="id",
        target_cols="target",
        fold_col="fold",
        class_names=classes,
        overwrite=overwrite,
        source=f"assembled metatask {os.path.basename(os.fspath(csv_path))}",
    )
    prefix = meta.get("confidence_prefix", "confidence")
    for model in meta["predictors"]:
        cols = [f"{prefix}.{c}.{model}" for c in classes]
        p = df[cols].to_numpy(dtype=np.float64)
        p = np.clip(p, 0, None)
        p /= p.sum(axis=1, keepdims=True)
        import_predictions(
            store,
            model,
            "oof",
            p,
            kind="probs",
            params={"description": meta.get("predictor_descriptions", {}).get(model, "")},
        )
    return store

"""The built-in example: a complete store from scikit-learn's digits, made offline.

1,797 digit images (8x8 pixels, 10 classes) ship inside scikit-learn. The demo holds out a
stratified 20 % as the test set, splits the rest into 5 stratified folds and trains several
diverse tabular models on the 64 pixels, each writing real OOF and test predictions. An
extra column ``ink`` (light / medium / heavy strokes) is kept in the targets for
breakdowns (``blend report --by ink``). The test labels are written beside the store
(``<store>/example/test_labels.csv``) so a submission can be scored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oof_store import Store, StoreError

__all__ = [
    "DEMO_MODELS",
    "DemoResult",
    "digits_features",
    "digits_split",
    "holdout_split",
    "make_demo_store",
    "stratified_folds",
]

#: (store name, registered tabular model, params): deliberately diverse
DEMO_MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("lgbm", "lgbm", {"learning_rate": 0.1, "num_leaves": 15}),
    ("logreg", "logreg", {"C": 0.1}),
    ("rf", "rf", {"n_estimators": 200}),
    ("extratrees", "extratrees", {"n_estimators": 200}),
    ("knn", "knn", {"n_neighbors": 10}),
    ("mlp", "mlp", {"hidden_layer_sizes": [64]}),
    ("nb", "nb", {}),
]


def holdout_split(y: np.ndarray, test_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train_rows, test_rows)`` of a stratified ``test_size`` hold-out (none at 0)."""
    rows = np.arange(len(y))
    if test_size <= 0:
        return rows, rows[:0]
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(rows, test_size=test_size, random_state=seed, stratify=y)
    return np.sort(tr), np.sort(te)


def stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """The fold id ``(len(y),)`` of each row under shuffled stratified K-fold."""
    from sklearn.model_selection import StratifiedKFold

    fold = np.empty(len(y), dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, va) in enumerate(skf.split(np.zeros(len(y)), y)):
        fold[va] = k
    return fold


def digits_split(
    seed: int = 0, test_size: float = 0.2, n_folds: int = 5, n: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The demo's split of the digits: ``(train_rows, test_rows, fold_of_train_rows, y)``.

    Rows index ``sklearn.datasets.load_digits()``; ids are ``digit_0000`` ... by row.
    The test part is a stratified ``test_size`` share; the folds are stratified too. The
    image example (``base_models.image.digits``) uses the same split, so its models fit
    the demo store.
    """
    from sklearn.datasets import load_digits

    y = load_digits().target.astype(int)
    if n is not None:
        y = y[:n]
    tr, te = holdout_split(y, test_size, seed)
    return tr, te, stratified_folds(y[tr], n_folds, seed), y


def digits_features() -> pd.DataFrame:
    """All 1,797 digits: ``id``, ``label``, ``ink`` and the 64 pixel columns ``px00``..``px63``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    X = pd.DataFrame(d.data, columns=[f"px{i:02d}" for i in range(d.data.shape[1])])
    ink_total = d.data.sum(axis=1)
    ink = pd.cut(ink_total, np.quantile(ink_total, [0, 1 / 3, 2 / 3, 1]),
                 labels=["light", "medium", "heavy"], include_lowest=True).astype(str)
    X.insert(0, "ink", ink)
    X.insert(0, "label", d.target.astype(int))
    X.insert(0, "id", [f"digit_{i:04d}" for i in range(len(d.target))])
    return X


@dataclass(frozen=True)
class DemoResult:
    """What :func:`make_demo_store` built.

    Attributes
    ----------
    store : Store
        The demo store.
    features_csv : Path
        ``<store>/example/features.csv``: id, ink group and pixel features of every training
        and test row (no label).
    test_labels_csv : Path
        ``<store>/example/test_labels.csv``: id and label of the test rows.
    results : list of TabularResult
        One per model trained by this call (models already in the store are skipped unless
        ``overwrite``).
    sample_submission_csv : Path or None
        ``<store>/example/sample_submission.csv``: a Kaggle-style sample (``id,label``, label
        0, ids shuffled: another order than the store's test rows) for ``blend apply
        --sample-submission``.
    """

    store: Store
    features_csv: Path
    test_labels_csv: Path
    results: list[Any] = field(default_factory=list)
    sample_submission_csv: Path | None = None

    def summary(self) -> str:
        """Rows, folds and test rows of the store, then one line per trained model."""
        lines = [f"demo store at {self.store.uri}: {len(self.store.ids)} training rows, "
                 f"{self.store.n_folds} folds, {len(self.store.test_ids)} test rows"]
        lines += [f"  {r.summary()}" for r in self.results]
        return "\n".join(lines)


def make_demo_store(
    uri: str | os.PathLike[str],
    *,
    models: list[str] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    show_progress: bool = True,
) -> DemoResult:
    """Build the digits demo store at ``uri`` and train the demo models into it.

    Re-running it resumes: models already in the store are kept unless ``overwrite``.
    """
    from base_models.tabular import train_tabular

    chosen = [m for m in DEMO_MODELS if models is None or m[0] in models]
    unknown = sorted(set(models or []) - {m[0] for m in DEMO_MODELS})
    if unknown:
        raise StoreError(
            f"unknown demo model(s) {unknown}; available: {', '.join(m[0] for m in DEMO_MODELS)}"
        )
    feats = digits_features()
    tr, te, fold, _ = digits_split(seed)
    train = feats.iloc[tr].reset_index(drop=True)
    targets = pd.DataFrame({"id": train["id"], "label": train["label"].astype(str),
                            "fold": fold, "ink": train["ink"]})
    if os.path.exists(os.path.join(os.fspath(uri), "store.json")) and not overwrite:
        store = Store(uri)
        same = np.array_equal(store.ids, targets["id"].to_numpy(dtype=str)) and np.array_equal(
            store.folds, fold
        )
        if not same:
            raise StoreError(
                f"{uri} holds another store; pass --overwrite or choose another directory"
            )
    else:
        store = Store.create(
            uri, targets, id_col="id", target_cols="label", fold_col="fold", task="multiclass",
            class_names=[str(c) for c in range(10)], test_ids=feats["id"].iloc[te].tolist(),
            overwrite=overwrite, source="base-models demo (scikit-learn digits)",
        )
    example = Path(os.fspath(uri)) / "example"
    example.mkdir(parents=True, exist_ok=True)
    features_csv = example / "features.csv"
    feats.drop(columns=["label"]).to_csv(features_csv, index=False)
    test_labels_csv = example / "test_labels.csv"
    feats.iloc[te][["id", "label"]].to_csv(test_labels_csv, index=False)
    sample_submission_csv = example / "sample_submission.csv"
    shuffled = np.random.default_rng(seed).permutation(feats["id"].iloc[te].astype(str).to_numpy())
    pd.DataFrame({"id": shuffled, "label": 0}).to_csv(sample_submission_csv, index=False)
    data = feats.drop(columns=["label", "ink"])
    results = []
    have = set(store.models())
    for name, model, params in chosen:
        if name in have and not overwrite:
            continue
        results.append(train_tabular(store, data, model=model, name=name, params=params,
                                     seed=seed, overwrite=True, show_progress=show_progress))
    return DemoResult(store, features_csv, test_labels_csv, results, sample_submission_csv)

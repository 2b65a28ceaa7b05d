"""Recipes: a blend described in a JSON file, applied to a store's test predictions.

A recipe names the models, how TTA views are handled, the combination rule, the weights,
the metric it was chosen by, the store fingerprint it was fitted on and the versions. It is
written by ``blend search --save-recipe`` (and by optimize and stack), and read by
``blend apply RECIPE --store STORE --out submission.csv``.

The store is used only through its public methods (``load_oof``, ``load_test``,
``write_block``, ``finish_model``); this module does not import ``oof_store``.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import RULES, combine

__all__ = ["Recipe", "RECIPE_VERSION", "load_output_for"]

RECIPE_VERSION = 1


def load_output_for(rule: str, task: str) -> str:
    """What to ask the store for (``output=``) so that ``combine`` gets one consistent kind."""
    if task == "regression":
        return "raw"
    return "logits" if rule in ("logit", "geo") else "probs"


def _kind_for(output: str) -> str:
    return "raw" if output == "raw" else output


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "numpy": np.__version__}
    try:
        from importlib.metadata import version

        out["oof-blend"] = version("oof-blend")
    except Exception:  # pragma: no cover - not installed
        out["oof-blend"] = "unknown"
    return out


@dataclass(frozen=True)
class Recipe:
    """A blend: models, TTA handling, rule and weights, and where they came from.

    Attributes
    ----------
    models : tuple of str
    rule : str
        One of ``blend.combine.RULES``.
    weights : tuple of float or None
        One per model (``None``: equal weights).
    tta : str or int
        ``"mean"`` (average the views), ``"all"`` (weight them with ``tta_weights``) or a
        view index.
    tta_weights : tuple of float or None
    metric : str
    task : str
    class_names : tuple of str
    store_fingerprint : str
        Fingerprint of the store the blend was chosen on (ids and folds).
    score, nested_score : float or None
        OOF score in-sample, and held-out (nested CV) when known.
    source : str
        What made it (``"search"``, ``"optimize"``, ...).
    """

    models: tuple[str, ...]
    rule: str = "prob"
    weights: tuple[float, ...] | None = None
    tta: str | int = "mean"
    tta_weights: tuple[float, ...] | None = None
    metric: str = "accuracy"
    task: str = "multiclass"
    class_names: tuple[str, ...] = ()
    store_fingerprint: str = ""
    score: float | None = None
    nested_score: float | None = None
    source: str = "search"
    versions: dict[str, str] = field(default_factory=_versions)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    version: int = RECIPE_VERSION

    def __post_init__(self):
        if not self.models:
            raise BlendError("a recipe needs at least one model")
        if self.rule not in RULES:
            raise BlendError(f"recipe rule {self.rule!r} unknown; choose one of {', '.join(RULES)}")
        if self.weights is not None and len(self.weights) != len(self.models):
            raise BlendError(
                f"recipe has {len(self.weights)} weights for {len(self.models)} models"
            )
        if not (self.tta in ("mean", "all") or isinstance(self.tta, int)):
            raise BlendError(f"recipe tta must be 'mean', 'all' or a view index, got {self.tta!r}")

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("models", "weights", "tta_weights", "class_names"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        if not isinstance(d, dict) or "models" not in d:
            raise BlendError("not a blend recipe: no 'models' field")
        if d.get("version", RECIPE_VERSION) > RECIPE_VERSION:
            raise BlendError(
                f"recipe version {d['version']} is newer than this blend ({RECIPE_VERSION}); upgrade"
            )
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise BlendError(f"recipe has unknown fields {unknown}")
        d = dict(d)
        for k in ("models", "weights", "tta_weights", "class_names"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except json.JSONDecodeError as exc:
            raise BlendError(f"recipe {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(d)

    # -- applying ----------------------------------------------------------------------------
    def _check_store(self, store) -> None:
        missing = [m for m in self.models if m not in store.models()]
        if missing:
            raise BlendError(
                f"recipe models {missing} are not in the store {store.uri}; "
                f"it holds {', '.join(store.models()) or 'no finished model'}"
            )
        if self.task != store.task:
            raise BlendError(f"recipe is for a {self.task} task, the store is {store.task}")

    def _blend(self, preds: np.ndarray, output: str) -> np.ndarray:
        return combine(preds, self.weights, rule=self.rule, kind=_kind_for(output),
                       tta_weights=self.tta_weights if self.tta == "all" else None)

    def predict_test(self, store) -> np.ndarray:
        """Blend the test predictions: ``(Nt, C)`` probabilities (regression ``(Nt, 1)``)."""
        self._check_store(store)
        output = load_output_for(self.rule, store.task)
        ts = store.load_test(list(self.models), tta=self.tta, folds="mean", output=output)
        return self._blend(ts.preds, output)

    def predict_oof(self, store) -> np.ndarray:
        """Blend the OOF predictions: ``(N, C)``."""
        self._check_store(store)
        if self.store_fingerprint and store.fingerprint != self.store_fingerprint:
            raise BlendError(
                "the store's rows or folds differ from those the recipe was chosen on "
                f"(fingerprint {store.fingerprint[:12]} vs {self.store_fingerprint[:12]})"
            )
        output = load_output_for(self.rule, store.task)
        oof = store.load_oof(list(self.models), tta=self.tta, output=output)
        return self._blend(oof.preds, output)

    def submission(self, store, *, probabilities: bool = False):
        """A Kaggle-style submission DataFrame: the id column, then labels or probabilities."""
        import pandas as pd

        P = self.predict_test(store)
        out = pd.DataFrame({store.id_col: store.test_ids})
        if store.task == "regression":
            out[store.target_cols[0]] = P[:, 0]
        elif probabilities or store.task == "softclass":
            for k, name in enumerate(store.class_names):
                out[name] = P[:, k]
        else:
            out[store.target_cols[0]] = np.asarray(store.class_names, dtype=object)[P.argmax(axis=1)]
        return out

    def write_to_store(self, store, name: str, *, overwrite: bool = False) -> dict:
        """Write the blend back into the store as a model (OOF per fold and the test set)."""
        if name in store.models():
            if not overwrite:
                raise BlendError(f"model {name!r} already exists in the store; pick another name")
            store.remove_model(name)
        oof = self.predict_oof(store).astype(np.float32)
        kind = "raw" if store.task == "regression" else "probs"
        for k in store.fold_ids:
            rows = np.flatnonzero(store.folds == k)
            store.write_block("oof", name, int(k), 0, store.ids[rows], oof[rows])
        if len(store.test_ids):
            test = self.predict_test(store).astype(np.float32)
            store.write_block("test", name, -1, 0, store.test_ids, test)
        return store.finish_model(
            name,
            kind=kind,
            params={"recipe": self.to_dict()},
            source="blend",
            parents=list(self.models),
        )

"""Recipes: a blend described in a JSON file, applied to a store's test predictions.

A recipe names the models, how TTA views are handled, the combination rule, the weights
(one per model, or one per (model, TTA view), or one per (model, class)), optional per-model
temperatures, the metric it was chosen by, the store fingerprint it was fitted on and the
versions. It is written by ``blend search --save-recipe`` and ``blend optimize --recipe``,
and read by ``blend apply RECIPE --store STORE --out submission.csv``.

Blending goes through :func:`blend.combine.unit_scores` and :func:`blend.combine.blend_scores`,
the two functions :func:`blend.optimize.optimize` scores with, so a recipe applied to the OOF
rows reproduces the optimiser's in-sample score.

The store is used only through its public methods (``load_oof``, ``load_test``,
``write_block``, ``finish_model``); this module imports from ``oof_store`` only the reading
of the honesty marks (:mod:`oof_store.flags`).
"""

from __future__ import annotations

import json
import os
import platform
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.combine import RULES, blend_scores, rule_space, to_scores, unit_scores

__all__ = ["Recipe", "RECIPE_VERSION", "load_output_for"]

#: 2 added ``view_weights``, ``class_weights`` and ``temperatures`` (absent or None in 1);
#: 3 added ``cuts`` and ``grades`` (ordinal targets; absent or None before).
RECIPE_VERSION = 3

#: Fields that are omitted from the JSON when None (a recipe without them reads as before).
_OPTIONAL = ("view_weights", "class_weights", "temperatures", "cuts", "grades")


def load_output_for(rule: str, task: str) -> str:
    """What to ask the store for (``output=``) so that ``combine`` gets one consistent kind."""
    if task == "regression":
        return "raw"
    return rule_space(rule)


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
        One weight per TTA view, shared by every model (with ``tta="all"``).
    view_weights : tuple of tuple of float, or None
        Shape ``(n_models, n_views)``: one weight per (model, TTA view), the views in the
        store's order (``blend optimize --tta-weights``). Needs ``tta="all"``; replaces
        ``weights`` and ``tta_weights``.
    class_weights : tuple of tuple of float, or None
        Shape ``(n_models, n_classes)``: one weight per (model, class), each class's column
        normalised to sum 1 (``blend optimize --per-class``); replaces ``weights``. Rules
        prob, logit and geo.
    temperatures : tuple of float, tuple of tuple of float, or None
        Per-model temperatures (``blend optimize --temperature``): shape ``(n_models,)``, or
        ``(n_models, n_views)`` with ``view_weights``. Each model's logits (log-probabilities)
        are divided by its temperature before the logit or geo rule blends them.
    cuts : tuple of float, or None
        Ordinal targets: ``G - 1`` non-decreasing cut points that turn the blended score into
        grades (``blend optimize --metric qwk``). The score is the blend itself (regression)
        or the expected grade ``sum_c p_c * grades[c]`` of the blended probabilities
        (classification with ordered classes).
    grades : tuple of float, or None
        The ``G`` grade values, with ``cuts``.
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
    view_weights: tuple[tuple[float, ...], ...] | None = None
    class_weights: tuple[tuple[float, ...], ...] | None = None
    temperatures: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None
    cuts: tuple[float, ...] | None = None
    grades: tuple[float, ...] | None = None
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
        if not (self.tta in ("mean", "all") or isinstance(self.tta, int)):
            raise BlendError(f"recipe tta must be 'mean', 'all' or a view index, got {self.tta!r}")
        M = len(self.models)
        set_ = object.__setattr__  # frozen: canonicalise the arrays once, here
        set_(self, "models", tuple(str(m) for m in self.models))
        if self.weights is not None:
            set_(self, "weights", _vector("weights", self.weights, M, "models"))
            _check_weights("weights", np.asarray(self.weights))
        if self.tta_weights is not None:
            set_(self, "tta_weights", _vector("tta_weights", self.tta_weights))
            _check_weights("tta_weights", np.asarray(self.tta_weights))
        if self.view_weights is not None:
            clash = [k for k in ("weights", "tta_weights", "class_weights")
                     if getattr(self, k) is not None]
            if clash:
                raise BlendError(
                    f"recipe field 'view_weights' replaces {clash[0]!r}; give only one of them"
                )
            if self.tta != "all":
                raise BlendError(
                    f"recipe field 'view_weights' weights every TTA view, so tta must be "
                    f"'all'; got {self.tta!r}"
                )
            set_(self, "view_weights", _matrix("view_weights", self.view_weights, M))
            _check_weights("view_weights", np.asarray(self.view_weights))
        if self.class_weights is not None:
            if self.weights is not None:
                raise BlendError(
                    "recipe field 'class_weights' replaces 'weights'; give only one of them"
                )
            if self.rule == "rank" or self.task == "regression":
                raise BlendError(
                    f"recipe field 'class_weights' needs a classification task and the prob, "
                    f"logit or geo rule; got rule {self.rule!r} for a {self.task} task"
                )
            cw = _matrix("class_weights", self.class_weights, M)
            n_cls = len(cw[0])
            if self.class_names and n_cls != len(self.class_names):
                raise BlendError(
                    f"recipe field 'class_weights' has {n_cls} columns but the recipe names "
                    f"{len(self.class_names)} classes"
                )
            set_(self, "class_weights", cw)
            _check_weights("class_weights", np.asarray(cw), per_column=True)
        if self.temperatures is not None:
            if self.rule in RULES and RULES[self.rule].space != "logits":
                raise BlendError(
                    f"recipe field 'temperatures' scales logits: it needs rule 'logit' or "
                    f"'geo', got {self.rule!r}"
                )
            if self.view_weights is not None:
                t = _matrix("temperatures", self.temperatures, M)
                if np.shape(t) != np.shape(self.view_weights):
                    raise BlendError(
                        f"recipe field 'temperatures' must have one entry per (model, view) "
                        f"like 'view_weights', shape {np.shape(self.view_weights)}; got "
                        f"shape {np.shape(t)}"
                    )
            else:
                t = _vector("temperatures", self.temperatures, M, "models")
            a = np.asarray(t, dtype=np.float64)
            if not np.all(np.isfinite(a)) or np.any(a <= 0):
                raise BlendError(
                    f"recipe field 'temperatures' must be finite and positive; got {a.tolist()}"
                )
            set_(self, "temperatures", t)
        if (self.cuts is None) != (self.grades is None):
            raise BlendError("recipe fields 'cuts' and 'grades' go together; give both or neither")
        if self.cuts is not None:
            g = _vector("grades", self.grades, None, "grade")
            c = _vector("cuts", self.cuts, len(g) - 1, "gaps between the grades")
            if np.any(np.diff(g) <= 0) or np.any(np.diff(c) < 0) or not np.all(np.isfinite(c)):
                raise BlendError(
                    f"recipe fields 'grades' must increase and 'cuts' must be finite and "
                    f"non-decreasing; got grades {list(g)}, cuts {list(c)}"
                )
            if self.task != "regression" and self.class_names and len(g) != len(self.class_names):
                raise BlendError(
                    f"recipe field 'grades' has {len(g)} values for {len(self.class_names)} classes"
                )
            set_(self, "grades", g)
            set_(self, "cuts", c)

    @classmethod
    def for_store(cls, store, models, **fields: Any) -> Recipe:
        """A recipe of ``models`` chosen on ``store``.

        The task, class names and fingerprint come from the store; ``fields`` give the rest
        (rule, weights, scores, source ...).
        """
        return cls(
            models=tuple(models),
            task=store.task,
            class_names=tuple(store.class_names),
            store_fingerprint=store.fingerprint,
            **fields,
        )

    # -- JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields; unset optional weight fields are left out."""
        d = asdict(self)
        for k in _OPTIONAL:
            if d[k] is None:
                del d[k]
        return {k: _plain(v) for k, v in d.items()}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` to ``path`` as indented JSON."""
        from oof_common.outputs import check_output_path

        check_output_path(path, "the recipe")  # never into a store's own files
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        """A checked recipe from a dict such as :meth:`to_dict` returns.

        Raises :class:`BlendError` when ``d`` has no ``models`` field, a newer version, unknown
        fields or invalid values.
        """
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
        for k in ("models", "class_names"):
            if d.get(k) is not None:
                if not isinstance(d[k], list | tuple):
                    raise BlendError(f"recipe field {k!r} must be a list; got {d[k]!r}")
                d[k] = tuple(d[k])
        return cls(**d)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read a recipe JSON file; raises :class:`BlendError` when it is not a valid recipe."""
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
        if self.class_names and list(self.class_names) != list(store.class_names):
            raise BlendError(
                f"recipe is for the classes {list(self.class_names)}, the store's are "
                f"{list(store.class_names)}: its columns would be read as other classes. Apply "
                "it to the store it was made for, or make the recipe again on this store"
            )
        if self.store_fingerprint and self.store_fingerprint != store.fingerprint:
            from blend._errors import RecipeStoreWarning

            warnings.warn(
                f"the recipe was fitted on another store (fingerprint {self.store_fingerprint}, "
                f"this store's is {store.fingerprint}: other rows or folds). Its weights were "
                "chosen on other OOF predictions; make the recipe again on this store unless "
                "you mean to carry them over",
                RecipeStoreWarning, stacklevel=3,
            )
        if self.view_weights is not None:
            for m, row in zip(self.models, self.view_weights, strict=True):
                views = list(store.manifest(m).get("tta_views") or [])
                if len(views) != len(row):
                    raise BlendError(
                        f"recipe field 'view_weights' has {len(row)} weight(s) for model {m!r}, "
                        f"which has {len(views)} TTA view(s) in the store {views}"
                    )
        if self.class_weights is not None:
            n_cls = len(self.class_weights[0])
            if n_cls != store.n_classes:
                raise BlendError(
                    f"recipe field 'class_weights' has {n_cls} columns, but the store has "
                    f"{store.n_classes} classes {list(store.class_names)}"
                )
            if self.class_names and list(self.class_names) != list(store.class_names):
                raise BlendError(
                    f"recipe field 'class_weights' is for the classes {list(self.class_names)}, "
                    f"the store's are {list(store.class_names)}"
                )

    def _blend(self, preds: np.ndarray, output: str) -> np.ndarray:
        """``preds`` ``(M, T, N, C)`` as the store returned it -> the blend ``(N, C)``.

        The same two steps as :func:`blend.optimize.optimize`: units in the rule's additive
        space (:func:`unit_scores`, or :func:`to_scores` with a shared TTA weight vector),
        then :func:`blend_scores`.
        """
        kind = _kind_for(output)
        if self.view_weights is not None:
            X = unit_scores(preds, rule=self.rule, kind=kind, per_view=True)
            w = np.asarray(self.view_weights, dtype=np.float64).ravel()
        else:
            X = to_scores(preds, rule=self.rule, kind=kind,
                          tta_weights=self.tta_weights if self.tta == "all" else None)
            w = self.class_weights if self.class_weights is not None else self.weights
            w = None if w is None else np.asarray(w, dtype=np.float64)
        t = None if self.temperatures is None else np.asarray(self.temperatures, np.float64).ravel()
        return blend_scores(X, w, rule=self.rule, kind=kind, temperatures=t)

    def apply(self, store, *, output: str = "auto", sample: Any = None, raw: bool = False):
        """The blend applied to ``store``'s test rows, as a submission (``blend apply --out``).

        Returns a :class:`blend.workflows.apply.Submission`: ``.to_csv(path)`` writes the
        file, ``.frame`` is the DataFrame. ``output="auto"`` writes probabilities when the
        recipe's metric scores them (AUC, log loss), labels when it scores only the most
        likely class; ``"labels"`` / ``"probs"`` override it; ``sample`` (a DataFrame from
        :func:`blend.workflows.submission.read_sample`) gives the columns and id order.

        The one method of the recipe that reaches the store's test rows: it hands over to
        the workflow floor (:func:`blend.workflows.apply.apply`), which this module does
        not otherwise import.
        """
        from blend.workflows.apply import apply

        return apply(self, store, output=output, sample=sample, raw=raw)

    def describe(self) -> str:
        """One line: what the recipe blends and how."""
        if self.view_weights is not None:
            how = "a weight per model x TTA view"
        elif self.class_weights is not None:
            how = "a weight per model x class"
        elif self.weights is not None:
            how = "a weight per model"
        else:
            how = "equal weights"
        temp = ", per-model temperatures" if self.temperatures is not None else ""
        cuts = (f", {len(self.cuts)} cut points into grades {_fmt(self.grades)}"
                if self.cuts is not None else "")
        return f"{self.rule} rule over {', '.join(self.models)} with {how}{temp}{cuts}"

    def ordinal_score(self, blended: np.ndarray) -> np.ndarray:
        """The continuous score that the cut points grade, ``(N,)``, from the blend ``(N, C)``."""
        if self.grades is None:
            raise BlendError("this recipe has no cut points; it is not an ordinal recipe")
        B = np.asarray(blended, dtype=np.float64)
        if B.shape[1] == 1:
            return B[:, 0]
        return B @ np.asarray(self.grades, dtype=np.float64)

    def grade_index(self, blended: np.ndarray) -> np.ndarray:
        """Grade index ``(N,)`` of each row of the blend ``(N, C)``, by the recipe's cuts."""
        s = self.ordinal_score(blended)
        return np.searchsorted(np.asarray(self.cuts), s, side="right")

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


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _plain(v: Any) -> Any:
    """Tuples (nested) -> lists, for JSON."""
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _floats(name: str, values: Any, of: str = "entry") -> tuple[float, ...]:
    if isinstance(values, str | dict) or not hasattr(values, "__iter__"):
        raise BlendError(
            f"recipe field {name!r} must be a list of numbers (one per {of}); got {values!r}"
        )
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
            raise BlendError(
                f"recipe field {name!r} must be a list of numbers (one per {of}); got {v!r} in it"
            )
        out.append(float(v))
    return tuple(out)


def _vector(name: str, values: Any, n: int | None = None, of: str = "entry") -> tuple[float, ...]:
    out = _floats(name, values, of.rstrip("s"))
    if n is not None and len(out) != n:
        raise BlendError(f"recipe field {name!r} has {len(out)} entries for {n} {of}")
    if not out:
        raise BlendError(f"recipe field {name!r} is empty")
    return out


def _matrix(name: str, rows: Any, n_models: int) -> tuple[tuple[float, ...], ...]:
    if isinstance(rows, str | dict) or not hasattr(rows, "__iter__"):
        raise BlendError(f"recipe field {name!r} must be a list of lists (one per model); got {rows!r}")
    rows = list(rows)
    if len(rows) != n_models:
        raise BlendError(
            f"recipe field {name!r} has {len(rows)} rows for {n_models} models (one row per model)"
        )
    out = []
    for i, r in enumerate(rows):
        if isinstance(r, str | dict) or not hasattr(r, "__iter__"):
            raise BlendError(f"recipe field {name!r}: row {i} must be a list of numbers; got {r!r}")
        out.append(_floats(name, r, "column"))
    widths = sorted({len(r) for r in out})
    if len(widths) != 1 or widths[0] == 0:
        raise BlendError(
            f"recipe field {name!r} must be a rectangle with the same number of entries in "
            f"every row; got row lengths {[len(r) for r in out]}"
        )
    return tuple(out)


#: The largest weight a recipe may hold: weights are relative, and beyond this their sum
#: (1e308 + 1e308) overflows to inf and every normalised weight becomes 0.
MAX_WEIGHT = 1e100


def _check_weights(name: str, w: np.ndarray, *, per_column: bool = False) -> None:
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise BlendError(f"recipe field {name!r} must be finite and non-negative; got {w.tolist()}")
    if np.any(w > MAX_WEIGHT):
        raise BlendError(
            f"recipe field {name!r} holds weights above {MAX_WEIGHT:g} ({w.max():.3g}): their sum "
            "overflows, every normalised weight would be 0 and the blend all NaN. Weights are "
            "relative: scale them down (e.g. divide by the largest)"
        )
    if per_column:
        zero = np.flatnonzero(w.sum(axis=0) <= 0)
        if len(zero):
            raise BlendError(
                f"recipe field {name!r}: the weights of class column(s) {zero.tolist()} are all zero"
            )
    elif w.sum() <= 0:
        raise BlendError(f"recipe field {name!r} must not be all zero")

"""``blend apply`` at the store level: a recipe applied to a store.

A :class:`blend.recipe.Recipe` is a pure description of a blend; these functions apply one
to a store: :func:`submission` (the test predictions as a submission table),
:func:`write_to_store` (the blend written back as a model) and :func:`in_sample_in`
(whether that model would be in-sample).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blend._errors import BlendError
from blend.workflows._write_back import write_model

__all__ = ["apply", "Submission", "submission", "in_sample_in", "write_to_store"]


def submission(recipe, store, *, output: str = "auto", sample: Any = None, raw: bool = False):
    """A Kaggle-style submission DataFrame (see :func:`blend.workflows.submission.submission_frame`).

    ``output="auto"`` writes probabilities when the recipe's metric scores them (AUC, log
    loss) and labels when it scores only the most likely class (accuracy, F1, QWK);
    ``"labels"`` or ``"probs"`` overrides it. ``sample`` (a DataFrame from
    :func:`blend.workflows.submission.read_sample`) gives the columns and the id order.

    With cut points (an ordinal recipe) the label is the grade: an integer grade value
    (regression store) or the class name of the grade; ``raw=True`` writes the
    continuous score the cut points grade instead.
    """
    from blend.workflows.submission import output_for, submission_frame

    how = output_for(recipe.metric, store.task, output)
    P = recipe.predict_test(store)
    if recipe.cuts is not None and how != "probs":
        if raw:
            vals = recipe.ordinal_score(P)
        elif store.task == "regression":
            vals = np.asarray(recipe.grades)[recipe.grade_index(P)]
            if np.all(vals == np.rint(vals)):
                vals = vals.astype(np.int64)
        else:
            vals = np.asarray(store.class_names, dtype=object)[recipe.grade_index(P)]
        P, how = np.asarray(vals)[:, None], "values"
    return submission_frame(
        P, task=store.task, test_ids=store.test_ids,
        id_col=store.id_col,
        target_col="label" if store.task == "softclass" else store.target_cols[0],
        class_names=store.class_names, output=how, sample=sample,
        rows_in_order=bool(store.meta.get("test_ids_from_rows")),
    )


def in_sample_in(recipe, store) -> bool:
    """Whether the blend's OOF rows, written into ``store``, would be in-sample.

    They are when anything was chosen from the labels on all rows: weights or a subset
    of several models, temperatures, or a model that is itself in-sample. One model
    blended alone, untempered, is that model's own (honest) OOF.
    """
    from blend.workflows._write_back import in_sample_mark

    return in_sample_mark(store, list(recipe.models), fitted_on_all_rows(recipe))


def fitted_on_all_rows(recipe) -> bool:
    """Whether ``recipe`` holds a choice made on every OOF row: weights, a subset, temperatures."""
    return len(recipe.models) > 1 or recipe.temperatures is not None


def write_to_store(recipe, store, name: str, *, overwrite: bool = False) -> dict:
    """Write the blend back into the store as a model (OOF per fold and the test set).

    The manifest records the blended models (``parents``) and, in ``params``,
    ``in_sample``: true when the blend's weights, subset or temperatures were chosen on
    every OOF row (see :func:`in_sample_in`). Such a model is left out of search,
    optimize, stack and report unless they are run with ``--allow-in-sample``.
    """
    if name in store.models(include_incomplete=True) and not overwrite:
        raise BlendError(f"model {name!r} already exists in the store; pick another name")
    oof = recipe.predict_oof(store).astype(np.float32)
    test = recipe.predict_test(store).astype(np.float32) if len(store.test_ids) else None
    # one write: an existing model is replaced all at once, never removed first
    return write_model(
        store, name, "blend apply",
        oof={int(k): oof[store.folds == k] for k in store.fold_ids},
        test=test,
        replace=True,
        kind="raw" if store.task == "regression" else "probs",
        params={"recipe": recipe.to_dict()},
        source="blend",
        parents=list(recipe.models),
        overwrite=True,
        fitted_on_all_rows=fitted_on_all_rows(recipe),  # the mark: write_model's in_sample_mark
    )


class Submission:
    """A submission table: what ``blend apply --out`` writes, ready for ``to_csv``.

    Attributes
    ----------
    frame : pandas.DataFrame
        The store's id column (or the sample's columns), then the predictions; one row per
        test row. ``to_csv(path)`` writes it without the DataFrame's index, as Kaggle expects.
    output : str
        What the columns hold: ``"probs"``, ``"labels"`` or ``"values"``.
    """

    def __init__(self, frame: Any, output: str) -> None:
        self.frame = frame
        self.output = output

    def to_csv(self, path: Any, **kwargs: Any) -> None:
        """Write the table as CSV (no index column); ``kwargs`` go to ``DataFrame.to_csv``."""
        from oof_common.outputs import check_output_path

        check_output_path(path, "the submission")  # never into a store's own files
        self.frame.to_csv(path, index=False, **kwargs)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"<Submission: {len(self.frame)} rows, {self.output}, columns {list(self.frame.columns)}>"

    def _repr_html_(self) -> str:
        return self.frame.head(10).to_html(index=False)


def apply(recipe, store, *, output: str = "auto", sample: Any = None, raw: bool = False) -> Submission:
    """``recipe`` applied to ``store``'s test rows: a :class:`Submission` (``blend apply --out``).

    ``output``, ``sample`` and ``raw`` are :func:`submission`'s.
    """
    from blend.workflows.submission import output_for

    how = output_for(recipe.metric, store.task, output)
    held = "values" if recipe.cuts is not None and how != "probs" else how
    return Submission(submission(recipe, store, output=output, sample=sample, raw=raw), held)

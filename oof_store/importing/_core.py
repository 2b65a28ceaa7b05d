"""Importing: check every file, then commit each model's blocks in one transaction."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from oof_store import _schema as S
from oof_store._errors import StoreError
from oof_store._store import Store
from oof_store.importing._planning import _finish_state, _Index, _new_plan, _Plan, _plan_file
from oof_store.importing._templates import FileSpec, expand_template

Progress = Callable[[str, int, int], None]



@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_predictions` wrote for one model.

    Attributes
    ----------
    model : str
    split : str
        ``"oof"`` or ``"test"``.
    blocks : list of tuple of (int, int)
        The (fold, TTA view index) blocks written.
    tta_view : str
        Name of the TTA view written (the views joined by ``,`` when several were).
    complete : bool
        Whether every OOF (fold, view) block is now stored, so the model was finished.
    missing : list of str
        What is still missing: OOF blocks (the model is incomplete) or TTA views of a
        test fold (the manifest is updated when they arrive).
    files : list of str
        The files imported.
    notes : list of str
        What the user should know about how the files were read (rows matched by order,
        ids matched as numbers).
    """

    model: str
    split: str
    blocks: list[tuple[int, int]]  # (fold, tta) written
    tta_view: str
    complete: bool
    missing: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: blocks written, TTA view, and whether the model is complete."""
        if self.complete and not self.missing:
            state = "complete"
        elif self.complete:
            state = "complete; still missing " + ", ".join(self.missing)
        else:
            state = "incomplete: still missing " + ", ".join(self.missing)
        return (
            f"model {self.model!r}: wrote {len(self.blocks)} {self.split} block(s) "
            f"(TTA view {self.tta_view!r}); {state}"
        )


class ImportResults(list):
    """The :class:`ImportResult` of each model (a list), and the files left aside.

    Attributes
    ----------
    left_aside : list of str
        Files the template matched but that were not imported, with the reason
        (``--split test``: a file whose model the store does not have, such as
        ``oofs/b4_oof.csv`` matched by ``oofs/{model}.csv``).
    """

    left_aside: list[str]

    def __init__(self, results: Sequence[ImportResult] = (), left_aside: Sequence[str] = ()):
        super().__init__(results)
        self.left_aside = list(left_aside)

    def notes(self) -> list[str]:
        """The lines to show besides the per-model summaries: how rows were matched, what was left aside."""
        out: list[str] = []
        by_order = [r.model for r in self if any("matched by order" in n for n in r.notes)]
        if by_order:
            split = self[0].split
            rows = "training" if split == "oof" else "test"
            out.append(
                f"{len(by_order)} model(s) had no id column: their rows were matched by order to "
                f"the store's {rows} rows ({', '.join(by_order[:5])}"
                + (", ..." if len(by_order) > 5 else "") + ")"
            )
        for r in self:
            out += [n for n in r.notes if "matched by order" not in n]
        if self.left_aside:
            out.append(
                f"left aside {len(self.left_aside)} file(s) matched by the template whose model "
                f"the store does not have: {', '.join(self.left_aside[:5])}"
                + (", ..." if len(self.left_aside) > 5 else "")
            )
        return out


def _leave_aside(store: Store, split: str, specs: list[FileSpec]) -> tuple[list[FileSpec], list[str]]:
    """``--split test``: keep the files of models the store has when the template matches others too.

    A test template such as ``oofs/{model}.csv`` also matches ``oofs/b4_oof.csv`` (model
    ``b4_oof``). When some matched models are in the store and others are not, the others
    are left aside; when none is, every file is imported (test before OOF is allowed).
    """
    if split != "test":
        return specs, []
    have = set(store.models(include_incomplete=True))
    keep = [s for s in specs if s.model in have]
    if not keep or len(keep) == len(specs):
        return specs, []
    return keep, [s.path for s in specs if s.model not in have]


def _commit(store: Store, plan: _Plan, params: dict[str, Any] | None, overwrite: bool) -> ImportResult:
    """Write a checked plan's blocks in one store write, committed all at once.

    A complete model gets its manifest; an incomplete one its pending record. A failure (or
    a kill) before the commit point leaves the model as it was (:class:`Transaction`).
    """
    missing_oof, missing_test = _finish_state(store, plan)
    written: list[tuple[int, int]] = []
    with store.transaction(plan.model, "import") as tx:
        for (f, t), (bids, bvals, _) in sorted(plan.blocks.items()):
            tx.write_block(plan.split, f, t, bids, bvals, overwrite=overwrite)
            written.append((f, t))
        if not missing_oof and not missing_test:
            old = store.manifest(plan.model) if plan.model in store.models() else {}
            merged = {**old.get("params", {}), **(params or {})}
            merged["files"] = [*merged.get("files", []), *plan.files]
            tx.finish_model(
                kind=plan.kind, tta_views=plan.views, params=merged, source="import",
                overwrite=True,
            )
        else:
            tx.pending_extra.update(tta_views=plan.views, kind=plan.kind)
    ts = sorted({t for _, t in written})
    view = ",".join(plan.views[t] for t in ts)
    return ImportResult(
        plan.model, plan.split, written, view, not missing_oof, missing_oof or missing_test,
        list(plan.files), list(plan.notes),
    )


def import_files(
    store: Store,
    split: str,
    template: str | os.PathLike[str] | Sequence[FileSpec],
    *,
    model: str | None = None,
    id_col: str | None = None,
    fold: int | str | None = None,
    tta: int | str = 0,
    kind: str = "probs",
    columns: str | list[str] | None = None,
    overwrite: bool = False,
    allow_perfect: bool = False,
    params: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ImportResults:
    """Import every file matching ``template`` (see :func:`expand_template`).

    Every file is read and checked, and the blocks of every model are checked against
    what the store already holds, before the first block is written. The checked blocks
    are held in memory (float32) until then.

    Parameters
    ----------
    template : str or list of FileSpec
        ``preds/oof_{model}.csv``, ``vit_fold{fold}.parquet``, ``b4_{tta}.csv`` ...
    model : str, optional
        The model of every file, when the template has no ``{model}``.
    progress : callable, optional
        Called as ``progress(phase, done, total)`` with phase ``"check"`` or ``"write"``.

    Returns
    -------
    ImportResults
        A list of :class:`ImportResult`, one per model in name order, with the files left
        aside (``--split test`` with a template that also matches other models' files).
    """
    S.check_split(split)
    if kind not in S.KINDS:
        raise StoreError(f"kind must be one of {list(S.KINDS)}, got {kind!r}")
    if store.task == "regression":
        kind = "raw"
    aside: list[str] = []
    if isinstance(template, (str, os.PathLike)):
        specs = expand_template(template, model)
        if "{model}" in os.fspath(template):
            specs, aside = _leave_aside(store, split, specs)
    else:
        specs = list(template)
    index = _Index(store)
    plans: dict[str, _Plan] = {}
    for i, spec in enumerate(specs):
        name = spec.model or model
        if name is None:
            raise StoreError(f"{spec.path}: no model name; give --model")
        if name not in plans:
            plans[name] = _new_plan(store, name, split, kind)
        _plan_file(
            store, index, plans[name], spec, spec.data,
            id_col=id_col, fold=fold, tta=tta, columns=columns, overwrite=overwrite,
            allow_perfect=allow_perfect,
        )
        if progress:
            progress("check", i + 1, len(specs))
    results = ImportResults(left_aside=aside)
    for i, name in enumerate(sorted(plans)):
        results.append(_commit(store, plans[name], params, overwrite))
        if progress:
            progress("write", i + 1, len(plans))
    return results


def import_predictions(
    store: Store,
    model: str,
    split: str,
    file: str | os.PathLike[str] | pd.DataFrame | np.ndarray,
    *,
    id_col: str | None = None,
    fold: int | str | None = None,
    tta: int | str = 0,
    kind: str = "probs",
    columns: str | list[str] | None = None,
    overwrite: bool = False,
    params: dict[str, Any] | None = None,
    allow_perfect: bool = False,
) -> ImportResult:
    """Import one file of predictions of ``model`` into the store.

    Parameters
    ----------
    file : path, DataFrame or ndarray
        A ``.npy`` array must be in targets order (OOF) or test order, shape ``(n, C)``
        (``(n,)`` for a binary or regression task).
    fold : None, int or str
        ``None``: the file holds every fold (OOF; the store's folds split it) or one
        prediction of the whole test set (test). An int: the file holds that fold only
        (OOF rows of fold K; or the test predictions of fold K's model). A column name:
        the file's own fold ids, which must agree with the store's. Whatever ``fold`` is,
        a column named ``fold`` (or ``kfold``, ``fold_id``...) is checked against the
        store's folds and never read as a prediction.
    tta : int or str
        The TTA view index, or its name (a new name becomes the next view).
    kind : {"probs", "logits", "raw"}
        Must be the kind of the model's earlier imports.
    allow_perfect : bool
        Import OOF predictions that equal the targets (accuracy 1 and log loss ~0, or
        RMSE 0); refused by default, as they are almost always the targets themselves.

    Raises
    ------
    StoreError
        Before anything is written, for any problem in the file.
    """
    if isinstance(file, (str, os.PathLike)):
        spec = FileSpec(os.fspath(file), model)
    else:
        spec = FileSpec(f"<{type(file).__name__}>", model, data=file)
    return import_files(
        store, split, [spec], model=model, id_col=id_col, fold=fold, tta=tta, kind=kind,
        columns=columns, overwrite=overwrite, allow_perfect=allow_perfect, params=params,
    )[0]

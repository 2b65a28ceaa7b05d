"""File-name templates: ``preds/oof_{model}.csv`` -> the files it matches."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from oof_store import _schema as S
from oof_store._errors import StoreError

PLACEHOLDERS = ("model", "fold", "tta")


@dataclass(frozen=True)
class FileSpec:
    """One file matched by a template, with the values of its placeholders.

    ``data`` holds the table or array itself when it is already in memory.
    """

    path: str
    model: str | None = None
    fold: int | None = None
    tta: str | None = None
    data: pd.DataFrame | np.ndarray | None = field(default=None, repr=False, compare=False)


def expand_template(template: str | os.PathLike[str], model: str | None = None) -> list[FileSpec]:
    """The files matching ``template``, with the values of its placeholders.

    Parameters
    ----------
    template : str
        A path with ``{model}``, ``{fold}`` and ``{tta}`` placeholders (each may appear
        more than once; ``{fold}`` matches an integer). A path without placeholders is
        returned as is (it need not exist yet: reading it says so).
    model : str, optional
        The model of every file; not allowed together with a ``{model}`` placeholder.

    Returns
    -------
    list of FileSpec
        Sorted by model, TTA view, fold, path.
    """
    template = os.fspath(template)
    names = re.findall(r"\{([^{}]*)\}", template)
    unknown = sorted({n for n in names if n not in PLACEHOLDERS})
    if unknown:
        raise StoreError(
            f"--file {template!r}: unknown placeholder(s) {['{' + n + '}' for n in unknown]}; "
            "use {model}, {fold} and {tta}"
        )
    if "model" in names and model is not None:
        raise StoreError(
            f"--file {template!r} names the model with {{model}}; do not give --model as well"
        )
    if not names:
        if model is None:
            raise StoreError(
                f"--file {template!r}: give --model, or a {{model}} placeholder in the file name"
            )
        return [FileSpec(template, model)]
    if "model" not in names and model is None:
        raise StoreError(
            f"--file {template!r}: give --model, or a {{model}} placeholder in the file name"
        )
    pieces = re.split(r"(\{(?:model|fold|tta)\})", template)
    pattern, wildcard, seen = "", "", set()
    for piece in pieces:
        m = re.fullmatch(r"\{(model|fold|tta)\}", piece)
        if not m:
            pattern += re.escape(piece)
            wildcard += glob.escape(piece)
            continue
        name = m.group(1)
        wildcard += "*"
        if name in seen:
            pattern += f"(?P={name})"
        else:
            pattern += rf"(?P<{name}>-?\d+)" if name == "fold" else rf"(?P<{name}>[^/\\]+?)"
            seen.add(name)
    regex = re.compile(pattern + r"\Z")
    specs = []
    for path in glob.glob(wildcard):
        m = regex.match(path)
        if not m or not os.path.isfile(path):
            continue
        groups = m.groupdict()
        specs.append(
            FileSpec(
                path,
                groups.get("model") or model,
                int(groups["fold"]) if groups.get("fold") is not None else None,
                groups.get("tta"),
            )
        )
    if not specs:
        raise StoreError(f"--file {template!r}: no file matches (looked for {wildcard!r})")
    for s in specs:
        S.check_model_name(str(s.model))
    return sorted(specs, key=lambda s: (s.model, _view_order(s.tta), s.fold or 0, s.path))


def _view_order(tta: str | None) -> tuple[int, int, str]:
    """Order of TTA view values: indices by number, then 'none' (the plain view), then names."""
    if tta is None:
        return (0, 0, "")
    if tta.isdigit():
        return (0, int(tta), "")
    return (1, 0 if tta == "none" else 1, tta)

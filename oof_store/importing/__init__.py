"""Import predictions in the shapes people really have, and export them again.

Accepted files: a Kaggle-style CSV (an id column and one column per class), a Parquet
file, or a ``.npy`` array in targets (or test) order. One file may hold all folds (the
store's folds are used, and a fold column, when the file has one, is checked against
them) or a single fold (``fold=K``). :func:`import_files` imports every file matching a
template such as ``preds/oof_{model}.csv``.

Every file is read and checked before the first block is written, so a bad file leaves
the store exactly as it was. The checks are linear in the number of rows (hash lookups
of the ids, no sorting of strings against each other).

One job per module: ``_readers`` (CSV/Parquet/``.npy``), ``_templates`` (file-name
templates), ``_columns`` (which columns hold what), ``_plausibility`` (values that cannot
be predictions), ``_planning`` (read and check a file into blocks), ``_core`` (commit the
checked blocks; the public import functions) and ``_export``.
"""

from oof_store.importing._core import ImportResult, ImportResults, import_files, import_predictions
from oof_store.importing._export import export_predictions
from oof_store.importing._readers import read_table
from oof_store.importing._templates import FileSpec, expand_template

__all__ = [
    "ImportResult",
    "ImportResults",
    "FileSpec",
    "import_predictions",
    "import_files",
    "expand_template",
    "read_table",
    "export_predictions",
]

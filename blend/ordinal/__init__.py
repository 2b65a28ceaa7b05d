"""Ordinal targets: grades, cut points fitted inside the nested CV, and QWK.

- :mod:`blend.ordinal._qwk`: grades, :func:`apply_cuts`, QWK from a confusion matrix, and
  :class:`SortedScores` (QWK of any cut points from cumulative counts; one-cut scans);
- :mod:`blend.ordinal._cuts`: the registry of cut-point methods (``round``, ``distribution``,
  ``nelder-mead``, ``coordinate``, ``bagged``);
- :func:`fit_ordinal`: blend weights and cut points fitted per fold, pooled held-out QWK;
  :func:`procedure_ordinal`: the choice between such candidates scored doubly nested;
- :func:`search_ordinal`: subsets graded by their own cut points;
- :func:`stack_cuts`: cut points for a stacker's out-of-fold score without the graded fold;
- :func:`ordinal_report`: QWK per model and fold, rounded against fitted cut points.
"""

from blend.ordinal._cuts import (
    available_cut_methods,
    fit_cuts,
    get_cut_method,
    register_cut_method,
)
from blend.ordinal._fit import (
    OrdinalResult,
    ProcedureResult,
    fit_ordinal,
    ordinal_scores,
    procedure_ordinal,
)
from blend.ordinal._qwk import (
    Grades,
    SortedScores,
    apply_cuts,
    infer_grades,
    parse_grades,
    qwk_from_confusion,
    qwk_grades,
)
from blend.ordinal._report import OrdinalReport, ordinal_report
from blend.ordinal._search import OrdinalSearchResult, search_ordinal
from blend.ordinal._stack import StackCutsResult, stack_cuts

__all__ = [
    "Grades",
    "SortedScores",
    "apply_cuts",
    "infer_grades",
    "parse_grades",
    "qwk_from_confusion",
    "qwk_grades",
    "available_cut_methods",
    "fit_cuts",
    "get_cut_method",
    "register_cut_method",
    "OrdinalResult",
    "fit_ordinal",
    "ordinal_scores",
    "ProcedureResult",
    "procedure_ordinal",
    "OrdinalReport",
    "ordinal_report",
    "OrdinalSearchResult",
    "search_ordinal",
    "StackCutsResult",
    "stack_cuts",
]
